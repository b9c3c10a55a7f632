import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after } from 'node:test';
import type { ResolveOptions } from '../../src/core/config/sshConfig';
import { ConfigError } from '../../src/core/config/types';

const tempDirs: string[] = [];
after(() => {
  for (const dir of tempDirs) fs.rmSync(dir, { recursive: true, force: true });
});

/**
 * A fake home with ~/.ssh/config = `config` and extra files relative to the home (removed
 * after the file's tests). The system's ssh directory is `<home>/etc/ssh` (a fake root, empty
 * unless `files` put something there): the machine's /etc/ssh never leaks into a test.
 */
export function home(config: string, files: Record<string, string> = {}): { dir: string; ssh: string; opts: ResolveOptions } {
  const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'sshcfg-')));
  tempDirs.push(dir);
  const ssh = path.join(dir, '.ssh');
  fs.mkdirSync(ssh, { mode: 0o700 });
  fs.writeFileSync(path.join(ssh, 'config'), config);
  for (const [name, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    fs.writeFileSync(path.join(dir, name), text);
  }
  return { dir, ssh, opts: { homeDir: dir, env: {}, localUser: 'me', systemDir: path.join(dir, 'etc', 'ssh') } };
}

/** For assert.throws: a ConfigError whose message matches `pattern`. */
export function configError(pattern: RegExp): (err: unknown) => boolean {
  return (err: unknown) => {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    assert.match(err.message, pattern);
    return true;
  };
}

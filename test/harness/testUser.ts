/**
 * An unprivileged local user with a home directory the test controls. `ssh` takes `~`,
 * %d and %u from the password database, not from $HOME, so a differential test against
 * ssh must run both programs as a user whose passwd entry points at that home. A real
 * user (rather than an LD_PRELOAD shim over getpwuid) needs no compiler and exercises the
 * same lookups users hit; it needs root to create, which CI has.
 */
import { execFileSync, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Availability } from './skip';

export const TEST_USER = 'ska-sshg';

export interface TestUser {
  name: string;
  uid: number;
  gid: number;
  home: string;
  env: NodeJS.ProcessEnv;
  run(command: string, args: string[], timeoutMs?: number): SpawnSyncReturns<string>;
  dispose(): void;
}

export function testUserAvailability(): Availability {
  if (process.platform !== 'linux') return { ok: false, reason: 'needs Linux (useradd) to create the test user' };
  if (process.getuid?.() !== 0) return { ok: false, reason: 'needs root to create the unprivileged test user that ssh and ssh-keepalive run as' };
  try {
    execFileSync('ssh', ['-V'], { stdio: 'ignore' });
  } catch {
    return { ok: false, reason: 'OpenSSH client (ssh) not installed: apt-get install openssh-client' };
  }
  return { ok: true };
}

function passwdEntry(name: string): { uid: number; gid: number; home: string } | undefined {
  const line = fs
    .readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${name}:`));
  if (!line) return undefined;
  const f = line.split(':');
  return { uid: Number(f[2]), gid: Number(f[3]), home: f[5] };
}

/** Creates (or re-homes) the test user with a fresh, empty home under the temp directory. */
export function createTestUser(): TestUser {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'ska-sshg-home-'));
  fs.chmodSync(home, 0o755);
  const existing = passwdEntry(TEST_USER);
  if (!existing) {
    execFileSync('useradd', ['--system', '--no-create-home', '--home-dir', home, '--shell', '/usr/sbin/nologin', TEST_USER]);
  } else if (existing.home !== home) {
    execFileSync('usermod', ['--home', home, TEST_USER]);
  }
  const entry = passwdEntry(TEST_USER);
  if (!entry || entry.home !== home) throw new Error(`test user ${TEST_USER} was not set up with home ${home}`);
  const env: NodeJS.ProcessEnv = { HOME: home, USER: TEST_USER, LOGNAME: TEST_USER, PATH: process.env.PATH, LANG: 'C' };
  return {
    name: TEST_USER,
    uid: entry.uid,
    gid: entry.gid,
    home,
    env,
    run: (command, args, timeoutMs = 10_000) =>
      spawnSync(command, args, { uid: entry.uid, gid: entry.gid, env, cwd: home, encoding: 'utf8', timeout: timeoutMs }),
    dispose: () => fs.rmSync(home, { recursive: true, force: true }),
  };
}

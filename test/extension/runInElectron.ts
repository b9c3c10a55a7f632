/**
 * The extension suite in desktop VS Code (Electron) through @vscode/test-electron. Needs a
 * display; used when asked for (SSHKA_TEST_RUNNER=electron) or when a VS Code downloaded by
 * test-electron already sits in .vscode-test/ and a display is available.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { baseSettings } from '../../tools/peers/codeServer';
import { repoRoot } from '../../tools/peers/repo';
import { harnessEnv, info, type RunOptions, type RunResult } from './runOptions';

/** The executable of a VS Code that test-electron downloaded earlier, or ''. */
export function downloadedVSCode(): string {
  const dir = path.join(repoRoot, '.vscode-test');
  let entries: string[] = [];
  try {
    entries = fs.readdirSync(dir);
  } catch {
    return '';
  }
  for (const e of entries
    .filter((n) => /^vscode-linux-/.test(n))
    .sort()
    .reverse()) {
    for (const rel of ['code', 'VSCode-linux-x64/code', 'VSCode-linux-arm64/code']) {
      const exe = path.join(dir, e, rel);
      try {
        fs.accessSync(exe, fs.constants.X_OK);
        return exe;
      } catch {
        // next
      }
    }
  }
  return '';
}

export async function runInElectron(o: RunOptions, atExit: (fn: () => void) => void): Promise<RunResult> {
  const { runTests, downloadAndUnzipVSCode, resolveCliArgsFromVSCodeExecutablePath } = await import('@vscode/test-electron');
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'sshka-ext-'));
  if (o.keepTmp) info(`keeping temp dir ${root}`);
  else atExit(() => fs.rmSync(root, { recursive: true, force: true }));
  const dirs = {
    userData: path.join(root, 'user-data'),
    extensions: path.join(root, 'extensions'),
    workspace: path.join(root, 'workspace'),
    devStub: path.join(root, 'no-dev-extension'),
  };
  for (const d of Object.values(dirs)) fs.mkdirSync(d, { recursive: true });
  fs.mkdirSync(path.join(dirs.userData, 'User'));
  fs.writeFileSync(path.join(dirs.userData, 'User', 'settings.json'), JSON.stringify({ ...baseSettings(), ...o.settings }, null, 2));

  const exe = downloadedVSCode() || (await downloadAndUnzipVSCode(process.env.SSHKA_VSCODE_VERSION || 'stable'));
  const common = ['--user-data-dir', dirs.userData, '--extensions-dir', dirs.extensions];
  if (o.vsix) {
    const [cli, ...cliArgs] = resolveCliArgsFromVSCodeExecutablePath(exe);
    const r = spawnSync(cli, [...cliArgs, ...common, '--install-extension', o.vsix, '--force'], { encoding: 'utf8', stdio: 'inherit' });
    if (r.status !== 0) throw new Error(`--install-extension failed (exit ${r.status})`);
  }
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timeout after ${o.timeoutMs} ms`)), o.timeoutMs)));
  try {
    const exitCode = await Promise.race([
      runTests({
        vscodeExecutablePath: exe,
        extensionDevelopmentPath: o.vsix ? dirs.devStub : repoRoot,
        extensionTestsPath: o.testsIndex,
        extensionTestsEnv: { ...process.env, ...harnessEnv(o, 'electron') },
        launchArgs: [dirs.workspace, ...common, '--disable-workspace-trust', '--disable-gpu', '--skip-welcome', '--skip-release-notes'],
      }),
      timeout,
    ]);
    return { exitCode, summary: '', lastLine: '' };
  } catch (err) {
    info(`electron run failed: ${(err as Error).message}`);
    return { exitCode: 1, summary: '', lastLine: '' };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Runs the extension's mocha suite (out/test/extension/suite/index.js) inside a real VS Code
 * extension host and exits with the suite's exit code; the suite's "N passed, N failed" line
 * is the last line of stdout.
 *
 * Runners: code-server (default; runInCodeServer.ts, code-server pinned in tools/peers/pins.json
 * and installed by scripts/install-code-server.sh, driven by headless Debian Chromium) or
 * Electron (runInElectron.ts). The environment it reads is listed in runOptions.ts.
 *
 * Builds nothing: run `npm run build` and `npm run compile-tests` first
 * (`npm run test:extension` does all three).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { repoRoot } from '../../tools/peers/repo';
import { runInCodeServer } from './runInCodeServer';
import { downloadedVSCode, runInElectron } from './runInElectron';
import { info, readRunOptions, type RunOptions, type RunResult } from './runOptions';

/** Synchronous last resorts (kill code-server's group, remove temp dirs), run once on any exit. */
const exitCleanups: (() => void)[] = [];
let cleanedUp = false;
function runExitCleanups(): void {
  if (cleanedUp) return;
  cleanedUp = true;
  for (const fn of exitCleanups.reverse()) {
    try {
      fn();
    } catch {
      // best effort
    }
  }
}
process.on('exit', runExitCleanups);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(sig, () => {
    info(`got ${sig}, cleaning up`);
    runExitCleanups();
    process.exit(sig === 'SIGINT' ? 130 : 143);
  });
}

function checkPrereqs(o: RunOptions): void {
  if (!fs.existsSync(o.testsIndex)) throw new Error(`${path.relative(repoRoot, o.testsIndex)} missing: run \`npm run compile-tests\` first`);
  if (!o.vsix && !fs.existsSync(path.join(repoRoot, 'dist', 'extension.js'))) throw new Error('dist/extension.js missing: run `npm run build` first');
  if (o.vsix && !fs.existsSync(o.vsix)) throw new Error(`SSHKA_USE_INSTALLED_VSIX: ${o.vsix} does not exist`);
}

/** Electron needs an X display; a downloaded VS Code is only usable with one. */
function pickRunner(o: RunOptions): 'code-server' | 'electron' {
  if (o.runner !== 'auto') return o.runner;
  return downloadedVSCode() && (process.env.DISPLAY || process.env.WAYLAND_DISPLAY) ? 'electron' : 'code-server';
}

async function main(): Promise<number> {
  const o = readRunOptions();
  checkPrereqs(o);
  const runner = pickRunner(o);
  info(`runner: ${runner}${o.vsix ? ` (installed vsix ${o.vsix})` : ''}`);
  const atExit = (fn: () => void) => exitCleanups.push(fn);
  const { exitCode, summary, lastLine }: RunResult = runner === 'electron' ? await runInElectron(o, atExit) : await runInCodeServer(o, atExit);
  info(`extension tests finished with exit code ${exitCode}`);
  // The suite's closing line must be the last line of stdout: repeat it if anything followed.
  if (summary && lastLine !== summary) console.log(summary);
  return exitCode;
}

main().then(
  (code) => {
    runExitCleanups();
    process.exit(code);
  },
  (err: Error) => {
    info(`ERROR: ${err.stack ?? String(err)}`);
    runExitCleanups();
    process.exit(1);
  },
);

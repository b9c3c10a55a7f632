// Mocha entry point run INSIDE a VS Code extension host (code-server's Node extension host,
// or Electron's through @vscode/test-electron). VS Code calls `run()` after loading this file
// via --extensionTestsPath / the web payload's extensionTestsPath.
//
// It adds every `*.test.js` next to this file, runs them with the TDD UI (suite/test) and
// ends with exactly one line `N passed, N failed` (plus `, N skipped` when tests were
// pending), printed with console.log. The promise rejects when any test failed, which makes
// VS Code exit the test run with a non-zero code.
//
// Env (read in the extension host, which inherits the launcher's environment):
//   SSHKA_TEST_GREP     only run tests whose full title matches this regular expression
//   SSHKA_TEST_TIMEOUT  per-test timeout in ms (default 60000)
import * as fs from 'fs';
import * as path from 'path';

// Mocha is resolved from the repository's node_modules (this file lives in
// <repo>/out/test/extension/suite/), never from VS Code's own install.

const Mocha: typeof import('mocha') = require(require.resolve('mocha', { paths: [__dirname] }));

export function run(): Promise<void> {
  const timeout = Number(process.env.SSHKA_TEST_TIMEOUT) || 60_000;
  const mocha = new Mocha({ ui: 'tdd', color: false, timeout, reporter: 'spec' });
  const grep = process.env.SSHKA_TEST_GREP;
  if (grep) mocha.grep(new RegExp(grep));

  const files = fs
    .readdirSync(__dirname)
    .filter((f) => f.endsWith('.test.js'))
    .sort();
  for (const f of files) mocha.addFile(path.join(__dirname, f));

  return new Promise<void>((resolve, reject) => {
    let passed = 0;
    let failed = 0;
    let skipped = 0;
    const finish = (err?: unknown): void => {
      const summary = `${passed} passed, ${failed} failed` + (skipped > 0 ? `, ${skipped} skipped` : '');
      console.log(summary);
      if (err) reject(err instanceof Error ? err : new Error(String(err)));
      else if (failed > 0) reject(new Error(`${failed} test(s) failed`));
      else resolve();
    };
    try {
      if (files.length === 0) console.log(`no *.test.js files in ${__dirname}`);
      const runner = mocha.run(() => finish());
      runner.on('pass', () => {
        passed++;
      });
      // 'fail' also fires for failing hooks; those count as failures too.
      runner.on('fail', () => {
        failed++;
      });
      runner.on('pending', () => {
        skipped++;
      });
    } catch (err) {
      console.error(err);
      failed++;
      finish(err);
    }
  });
}

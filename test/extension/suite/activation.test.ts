// Runs inside a real VS Code extension host (see test/extension/suite/index.ts).
import * as assert from 'assert';
import * as path from 'path';
import * as vscode from 'vscode';
import { EXTENSION_ID } from './helpers';

// This file runs from <repo>/out/test/extension/suite/.
const REPO_ROOT = path.resolve(__dirname, '..', '..', '..', '..');

suite('activation', () => {
  test('the launcher environment reaches the extension host', () => {
    // test/extension/run.ts sets this in code-server's (or VS Code's) environment;
    // SSHKA_TEST_* variables from the caller travel the same way.
    assert.ok(
      ['code-server', 'electron'].includes(process.env.SSHKA_TEST_HARNESS ?? ''),
      `SSHKA_TEST_HARNESS=${process.env.SSHKA_TEST_HARNESS}: run the suite with node out/test/extension/run.js`,
    );
  });

  test('the extension is present in the extension host', () => {
    const ext = vscode.extensions.getExtension(EXTENSION_ID);
    assert.ok(ext, `extension ${EXTENSION_ID} not found; loaded: ${vscode.extensions.all.map((e) => e.id).join(', ')}`);
    if (process.env.SSHKA_TEST_EXPECT_INSTALLED === '1') {
      assert.notStrictEqual(path.resolve(ext.extensionPath), REPO_ROOT, 'expected the installed .vsix, got the development folder');
    } else {
      assert.strictEqual(path.resolve(ext.extensionPath), REPO_ROOT, 'expected the extension under development');
    }
  });

  test('it activates and registers sshKeepalive.showLog', async () => {
    const ext = vscode.extensions.getExtension(EXTENSION_ID);
    assert.ok(ext, `extension ${EXTENSION_ID} not found`);
    const api = (await ext.activate()) as { activationMs?: number } | undefined;
    assert.strictEqual(ext.isActive, true, 'extension is not active after activate()');
    // Issue 12 asks for activation under 50 ms: printed, not asserted (shared cores move it).
    assert.ok(typeof api?.activationMs === 'number', 'the extension did not report its activation time');
    console.log(`activation: ${api.activationMs.toFixed(1)} ms (dist/extension.js load + activate())`);
    const commands = await vscode.commands.getCommands(true);
    assert.ok(commands.includes('sshKeepalive.showLog'), 'command sshKeepalive.showLog is not registered');
  });

  test('sshKeepalive.showLog runs without error', async () => {
    // Command handlers report their errors instead of throwing (registerCommand), so a
    // failing showLog would not reject executeCommand; it would answer undefined instead.
    const shown = await vscode.commands.executeCommand<boolean | undefined>('sshKeepalive.showLog');
    assert.strictEqual(shown, true, 'sshKeepalive.showLog did not complete (its error was reported instead)');
  });
});

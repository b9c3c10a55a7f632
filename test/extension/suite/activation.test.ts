// Runs inside a real VS Code extension host (see test/extension/suite/index.ts).
import * as assert from 'assert';
import * as vscode from 'vscode';

const EXTENSION_ID = 'ssh-keepalive.ssh-keepalive';

suite('activation', () => {
  test('the extension is installed in the extension host', () => {
    const ext = vscode.extensions.getExtension(EXTENSION_ID);
    assert.ok(ext, `extension ${EXTENSION_ID} not found; loaded: ${vscode.extensions.all.map((e) => e.id).join(', ')}`);
  });

  test('it activates and registers sshKeepalive.showLog', async () => {
    const ext = vscode.extensions.getExtension(EXTENSION_ID);
    assert.ok(ext, `extension ${EXTENSION_ID} not found`);
    await ext.activate();
    assert.strictEqual(ext.isActive, true, 'extension is not active after activate()');
    const commands = await vscode.commands.getCommands(true);
    assert.ok(commands.includes('sshKeepalive.showLog'), 'command sshKeepalive.showLog is not registered');
  });

  test('sshKeepalive.showLog runs without error', async () => {
    await vscode.commands.executeCommand('sshKeepalive.showLog');
  });
});

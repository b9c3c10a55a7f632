// PLACEHOLDER created by the extension-test harness work because src/extension.ts did not
// exist yet. Replace it freely with the real extension; the activation test only needs the
// command 'sshKeepalive.showLog' to be registered on activation.
import * as vscode from 'vscode';

export function activate(context: vscode.ExtensionContext): void {
  const log = vscode.window.createOutputChannel('SSH Keepalive', { log: true });
  context.subscriptions.push(
    log,
    vscode.commands.registerCommand('sshKeepalive.showLog', () => log.show(true)),
  );
  log.info('SSH Keepalive activated');
}

export function deactivate(): void {}

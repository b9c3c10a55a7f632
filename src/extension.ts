import * as vscode from 'vscode';
import { Container } from './vscode/container';
import type { SshKeepaliveApi } from './vscode/testApi';

export type { SshKeepaliveApi, SshKeepaliveTestApi } from './vscode/testApi';

let container: Container | undefined;

export function activate(context: vscode.ExtensionContext): SshKeepaliveApi {
  container = new Container(context);
  context.subscriptions.push(container);
  // The test seam (it can answer host key prompts) is handed out only to the test runner.
  return context.extensionMode === vscode.ExtensionMode.Test ? { testing: container.testApi() } : {};
}

export async function deactivate(): Promise<void> {
  await container?.shutdown();
  container = undefined;
}

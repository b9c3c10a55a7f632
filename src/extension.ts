import * as vscode from 'vscode';
import { Container } from './vscode/container';
import type { SshKeepaliveApi, SshKeepaliveTestApi } from './vscode/testApi';

export type { SshKeepaliveApi, SshKeepaliveTestApi } from './vscode/testApi';

let container: Container | undefined;
/** When the bundle finished loading (its imports run before this line). */
const loadedAt = performance.now();

export function activate(context: vscode.ExtensionContext): SshKeepaliveApi {
  const activateStart = performance.now();
  container = new Container(context);
  context.subscriptions.push(container);
  const ms = activationMs(activateStart);
  // The test seam (it can answer host key prompts) is handed out only to the test runner; the
  // activation time is harmless and the packaged smoke test reads it too.
  if (context.extensionMode !== vscode.ExtensionMode.Test) return { activationMs: ms };
  return { testing: testApi(context), activationMs: ms };
}

/** The test seam, always speaking to the current container (a simulated reload replaces it). */
function testApi(context: vscode.ExtensionContext): SshKeepaliveTestApi {
  const current = (): Omit<SshKeepaliveTestApi, 'storedOutsideSecrets'> =>
    container!.testApi(async () => {
      await container?.shutdown();
      container = new Container(context);
      context.subscriptions.push(container);
    });
  return {
    statusBarItems: () => current().statusBarItems(),
    statusBarTicking: () => current().statusBarTicking(),
    hostState: (alias) => current().hostState(alias),
    keepalive: (alias) => current().keepalive(alias),
    forwards: (alias) => current().forwards(alias),
    terminalOutput: (t) => current().terminalOutput(t),
    terminalState: (t) => current().terminalState(t),
    tree: () => current().tree(),
    setPromptUi: (ui) => current().setPromptUi(ui),
    onDidReportError: (listener, thisArg, disposables) => current().onDidReportError(listener, thisArg, disposables),
    get reportedErrors() {
      return current().reportedErrors;
    },
    simulateReload: () => current().simulateReload(),
    storedOutsideSecrets: () => {
      const all = (m: vscode.Memento) => Object.fromEntries(m.keys().map((k) => [k, m.get(k)]));
      // logUri is <window logs>/exthost/<extension>: two up holds the output channels' files too.
      const windowLogs = vscode.Uri.joinPath(context.logUri, '..', '..').fsPath;
      const dirs = [context.globalStorageUri.fsPath, context.storageUri?.fsPath, windowLogs].filter((d): d is string => d !== undefined);
      return { globalState: all(context.globalState), workspaceState: all(context.workspaceState), dirs };
    },
    heldCounts: () => current().heldCounts(),
  };
}

/**
 * See SshKeepaliveApi.activationMs: the bundle's load plus activate(), without the time the
 * extension host spends between the two. Undefined without the banner (tsc's output).
 */
function activationMs(activateStart: number): number | undefined {
  const loadStart = (globalThis as { __sshKeepaliveLoadStart?: number }).__sshKeepaliveLoadStart;
  return loadStart === undefined ? undefined : loadedAt - loadStart + (performance.now() - activateStart);
}

export async function deactivate(): Promise<void> {
  await container?.shutdown();
  container = undefined;
}

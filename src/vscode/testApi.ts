import type * as vscode from 'vscode';
import type { SessionState } from '../core/session/state';
import type { ShellState } from '../core/shell/shellState';
import type { ReportedError } from './errorReporter';
import type { ForwardInfo } from './forwardCommands';
import type { PromptUi } from './prompter';
import type { StatusItemSnapshot } from './statusBar';

export interface TreeSnapshot {
  label: string;
  description: string | undefined;
  contextValue: string | undefined;
  id?: string;
  /** The state the item is given (open, closed, or no children). */
  collapsible?: 'expanded' | 'collapsed' | 'none';
  tooltip?: string;
  children: TreeSnapshot[];
}

/**
 * Returned by activate() only when the extension runs under the test runner
 * (ExtensionMode.Test): other extensions never get a way to answer host key prompts.
 * Reads back real VS Code objects where the API cannot (status bar items, pty output).
 */
export interface SshKeepaliveTestApi {
  statusBarItems(): StatusItemSnapshot[];
  /** True while the status bar re-renders every second (something shown counts on). */
  statusBarTicking(): boolean;
  hostState(alias: string): SessionState | undefined;
  keepalive(alias: string): { intervalMs: number; countMax: number } | undefined;
  forwards(alias: string): ForwardInfo[];
  terminalOutput(terminal: vscode.Terminal): string | undefined;
  terminalState(terminal: vscode.Terminal): ShellState | undefined;
  tree(): TreeSnapshot[];
  /** Replaces the prompter's window calls (modal host key warning, input boxes); undefined restores them. */
  setPromptUi(ui: Partial<PromptUi> | undefined): void;
  readonly onDidReportError: vscode.Event<ReportedError>;
  readonly reportedErrors: readonly ReportedError[];
  /** What a window reload does to the extension: deactivate, then activate again in the same window. */
  simulateReload(): Promise<void>;
  /**
   * Everything the extension keeps outside SecretStorage: its globalState and workspaceState
   * (key to value), and the folders it may write (globalStorage, workspace storage, this
   * window's log folder, the output channel's file among them).
   */
  storedOutsideSecrets(): { globalState: Record<string, unknown>; workspaceState: Record<string, unknown>; dirs: string[] };
  /** What the extension's core holds (disposables in stores, event listeners): the soak's leak check. */
  heldCounts(): { disposables: number; listeners: number };
}

export interface SshKeepaliveApi {
  readonly testing?: SshKeepaliveTestApi;
  /**
   * ms the bundle took to load (from its first line, scripts/build.mjs banner) plus activate():
   * what the extension costs the extension host at activation, about what VS Code shows in
   * Running Extensions (it adds reading the file from disk).
   */
  readonly activationMs?: number;
}

import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { Logger } from '../core/base/logger';
import type { ConfigError } from '../core/config/types';
import type { SessionError } from '../core/session/errors';
import { CommandId } from './commandIds';
import { configLocation } from './errorText';

export interface ReportedError {
  alias?: string;
  message: string;
  actions: string[];
  /** The file (and line) the "Open ..." action opens. */
  location?: { file: string; line?: number };
}

const showLog = 'Show Log';
const openConfig = 'Open ssh_config';
const reconnect = 'Reconnect';
const openKnownHosts = 'Open known_hosts';
const pauseReconnecting = 'Pause Reconnecting';

/**
 * Shows a fatal failure to the user once (the session never retries it in the background),
 * with the actions that can fix it. A changed host key gets no "accept" of any kind: only
 * the log and the known_hosts line, to be removed by hand after checking.
 */
export class ErrorReporter implements vscode.Disposable {
  private readonly reported = new WeakSet<object>();
  private readonly emitter = new vscode.EventEmitter<ReportedError>();
  /** Fires for every message shown (tests observe it: a notification cannot be read back). */
  readonly onDidReport = this.emitter.event;

  constructor(
    private readonly logger: Logger,
    private readonly configFile: () => string | undefined,
  ) {}

  /** Reports a session's fatal error; the same error object is never shown twice. */
  sessionFailed(alias: string, error: SessionError): void {
    if (this.reported.has(error)) return;
    this.reported.add(error);
    const actions: string[] = [];
    switch (error.code) {
      case 'host-key-changed':
      case 'host-key-revoked':
        if (error.location) actions.push(openKnownHosts);
        break;
      case 'config':
      case 'unknown-host':
        actions.push(openConfig);
        break;
      case 'cancelled':
        return; // the user cancelled a prompt or closed the session: nothing to tell
      default:
        actions.push(reconnect);
        break;
    }
    actions.push(showLog);
    this.show({ alias, message: `SSH Keepalive: ${alias}: ${error.message}`, actions, location: error.location }, error.message);
  }

  /**
   * A connect that never succeeded failed in a new way (DNS unreachable, no such host, refused,
   * timed out, no route): told once per kind, while the session goes on trying in the background.
   */
  attemptFailed(alias: string, error: SessionError, attempt: number): void {
    if (this.reported.has(error)) return;
    this.reported.add(error);
    const report: ReportedError = {
      alias,
      message: `SSH Keepalive: cannot connect to ${alias} (attempt ${attempt}): ${error.message}. Still trying in the background.`,
      actions: [pauseReconnecting, showLog],
      location: error.location,
    };
    // The session has already logged this attempt's failure as a warning.
    this.emitter.fire(report);
    void vscode.window.showWarningMessage(report.message, ...report.actions).then((choice) => this.act(choice, report));
  }

  /** A bad ssh_config (syntax, bad value): shown with a way to open the file. */
  configError(err: ConfigError, alias?: string): void {
    this.show(
      { alias, message: `SSH Keepalive: ssh_config problem${alias ? ` for ${alias}` : ''}: ${err.message}`, actions: [openConfig, showLog] },
      err.message,
      err,
    );
  }

  /** Input that a command cannot use (e.g. a forward spec passed as an argument). */
  invalidInput(message: string): void {
    this.show({ message: `SSH Keepalive: ${message}`, actions: [] }, message);
  }

  /** Anything else that went wrong in a command. */
  unexpected(what: string, err: unknown): void {
    const message = err instanceof Error ? err.message : String(err);
    this.logger.error(`${what}: ${err instanceof Error && err.stack ? err.stack : message}`);
    this.show({ message: `SSH Keepalive: ${what}: ${message}`, actions: [showLog] }, message);
  }

  private show(report: ReportedError, logMessage: string, configErr?: ConfigError): void {
    this.logger.error(report.alias ? `[${report.alias}] ${logMessage}` : logMessage);
    this.emitter.fire(report);
    void vscode.window.showErrorMessage(report.message, ...report.actions).then((choice) => this.act(choice, report, configErr));
  }

  private async act(choice: string | undefined, report: ReportedError, configErr?: ConfigError): Promise<void> {
    try {
      switch (choice) {
        case showLog:
          await vscode.commands.executeCommand(CommandId.showLog);
          break;
        case reconnect:
          await vscode.commands.executeCommand(CommandId.reconnect, report.alias);
          break;
        case pauseReconnecting:
          await vscode.commands.executeCommand(CommandId.pauseReconnecting, report.alias);
          break;
        case openConfig: {
          const where = configErr && configLocation(configErr);
          await openFileAt(where?.file ?? this.configFile() ?? path.join(os.homedir(), '.ssh', 'config'), where?.line);
          break;
        }
        case openKnownHosts: {
          if (report.location) await openFileAt(report.location.file, report.location.line);
          break;
        }
      }
    } catch (err) {
      this.logger.warn(`"${choice}" failed: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  dispose(): void {
    this.emitter.dispose();
  }
}

export async function openFileAt(file: string, line?: number): Promise<void> {
  const uri = vscode.Uri.file(file);
  const pos = new vscode.Position(Math.max(0, (line ?? 1) - 1), 0);
  await vscode.window.showTextDocument(uri, { selection: new vscode.Range(pos, pos), preview: false });
}

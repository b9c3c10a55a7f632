import * as vscode from 'vscode';
import type { Logger } from '../core/base/logger';
import { KeptShell, type DiscardedInput } from '../core/shell/keptShell';
import type { ShellState } from '../core/shell/remoteShell';
import type { HostSession } from './hostSession';
import { connectingLine, reloadedLine, discardedLine, failedLine, fallbackLine, heldLine, inputRefusedLine, lostLine, restoredLine } from './terminalText';

/** Enough of the recent output for a test to find what a command printed. */
const outputKeep = 64 * 1024;

/**
 * A VS Code terminal over a core KeptShell. The terminal outlives connections: on a drop it
 * says so once; keys typed meanwhile are held for the kept shell (said once; Ctrl-C drops
 * them), or refused without a keeper; on restore it tells whether the old shell came back
 * (keeper, tmux) or a new one started.
 */
export class RemotePty implements vscode.Pseudoterminal {
  private readonly writeEmitter = new vscode.EventEmitter<string>();
  readonly onDidWrite = this.writeEmitter.event;
  private readonly closeEmitter = new vscode.EventEmitter<number | void>();
  readonly onDidClose = this.closeEmitter.event;
  private readonly stateEmitter = new vscode.EventEmitter<ShellState>();
  readonly onDidChangeState = this.stateEmitter.event;

  private shell: KeptShell | undefined;
  private readonly subs: Array<{ dispose(): void }> = [];
  private outage = false;
  private inputNoted = false;
  private heldNoted = false;
  private heldBytes = 0;
  private lostAt: number | undefined;
  /**
   * When the server was last heard, once the host turned unconfirmed: a path in doubt (checked
   * with a second connection) suspends the shell only when the check ends, but the shell was
   * cut off since this moment, and the "restored after" note counts from it.
   */
  private silentSince: number | undefined;
  private output = '';
  private closed = false;

  constructor(
    readonly host: HostSession,
    private readonly options: { reattach: boolean; logger: Logger; adoptStreamId?: number },
  ) {}

  get alias(): string {
    return this.host.alias;
  }

  get state(): ShellState | undefined {
    return this.shell?.state;
  }

  /** Recent output as the terminal received it (escape sequences included). Test seam. */
  get recentOutput(): string {
    return this.output;
  }

  /** The keeper stream of this terminal's shell, when the keeper runs it. */
  get keeperStreamId(): number | undefined {
    return this.shell?.keeping === 'keeper' ? this.shell.keeperStreamId : undefined;
  }

  /** What keeps this terminal's shell through an outage. */
  get keeping(): KeptShell['keeping'] | undefined {
    return this.shell?.keeping;
  }

  /** The tmux session of this terminal's shell, when tmux keeps it (what Disconnect names). */
  get tmuxSession(): string | undefined {
    return this.shell?.remoteSessionName;
  }

  open(dims: vscode.TerminalDimensions | undefined): void {
    const shell = new KeptShell(
      this.host.session,
      this.host.keeper(),
      { term: 'xterm-256color', cols: Math.max(1, dims?.columns ?? 80), rows: Math.max(1, dims?.rows ?? 24), reattach: this.options.reattach },
      { logger: this.options.logger, adoptStreamId: this.options.adoptStreamId },
    );
    this.shell = shell;
    this.subs.push(this.host.trackShell(shell));
    this.subs.push(shell.onDidFallBack((reason) => this.write(fallbackLine(this.alias, reason, this.options.reattach))));
    this.subs.push(
      shell.onDidHoldInput((h) => {
        this.heldBytes = h.bytes;
        if (this.heldNoted) return;
        this.heldNoted = true;
        this.write(heldLine());
      }),
    );
    this.subs.push(shell.onDidDiscardInput((d: DiscardedInput) => this.write(discardedLine(d.bytes, d.why))));
    this.subs.push(shell.onDidData((d) => this.write(d)));
    this.subs.push(shell.onDidChangeState((s) => this.onState(s)));
    this.subs.push(
      this.host.liveness.onDidChange((l) => {
        const state = this.host.session.state;
        if (l.kind === 'unconfirmed') this.silentSince ??= l.lastHeard;
        else if (state.kind === 'connected' && !state.checking && !this.outage) this.silentSince = undefined;
      }),
    );
    this.subs.push(
      shell.onDidDropInput(() => {
        if (this.inputNoted) return;
        this.inputNoted = true;
        this.write(inputRefusedLine());
      }),
    );
    if (this.host.session.state.kind !== 'connected') this.write(connectingLine(this.alias));
    // Failures arrive as states; the promise only says when the first open is done.
    shell.start().catch(() => undefined);
  }

  private onState(s: ShellState): void {
    this.stateEmitter.fire(s);
    switch (s.kind) {
      case 'suspended':
        if (!this.outage) {
          this.outage = true;
          this.lostAt = Math.min(Date.now(), this.silentSince ?? Date.now());
          this.write(lostLine(this.alias, s.reason));
        }
        break;
      case 'open':
        if (s.generation === 1 && s.reattached && s.multiplexer === 'keeper') this.write(reloadedLine(this.alias));
        else if (this.outage || s.generation > 1) {
          const after = this.lostAt === undefined ? undefined : Date.now() - this.lostAt;
          this.write(restoredLine(this.alias, s.reattached, s.multiplexer, after, this.options.reattach, this.heldBytes));
        }
        this.outage = false;
        this.inputNoted = false;
        this.heldNoted = false;
        this.heldBytes = 0;
        this.lostAt = undefined;
        this.silentSince = undefined;
        break;
      case 'failed':
        this.outage = true; // keys are refused from now on, like during an outage
        this.write(failedLine(this.alias, s.reason));
        break;
      case 'exited':
        this.finish(s.code ?? undefined);
        break;
      case 'opening':
        break;
    }
  }

  handleInput(data: string): void {
    this.shell?.write(data);
  }

  setDimensions(dims: vscode.TerminalDimensions): void {
    if (dims.columns > 0 && dims.rows > 0) this.shell?.resize(dims.columns, dims.rows);
  }

  /** The user closed the terminal: end its remote tmux session too. */
  close(): void {
    void this.shutdown({ keepRemote: false });
  }

  /** Ends the shell; the terminal closes. `keepRemote` leaves a tmux session on the server. */
  async shutdown(opts: { keepRemote: boolean }): Promise<void> {
    const shell = this.shell;
    this.shell = undefined;
    for (const s of this.subs.splice(0)) s.dispose();
    this.finish(undefined);
    if (shell) await shell.close(opts).catch(() => undefined);
  }

  private finish(code: number | undefined): void {
    if (this.closed) return;
    this.closed = true;
    this.closeEmitter.fire(code);
    this.writeEmitter.dispose();
    this.closeEmitter.dispose();
    this.stateEmitter.dispose();
  }

  private write(text: string): void {
    if (this.closed) return;
    this.output = (this.output + text).slice(-outputKeep);
    this.writeEmitter.fire(text);
  }
}

import * as vscode from 'vscode';
import { prefixed, type Logger } from '../core/base/logger';
import type { HostSession } from './hostSession';
import { RemotePty } from './remotePty';
import type { Settings } from './settings';
import type { KeptTerminals, WorkspaceMemory } from './workspaceMemory';

/**
 * Owns every remote terminal of the window: creates them (from the command or the
 * terminal profile), maps VS Code's Terminal objects to their pty, and closes a host's
 * terminals when the user disconnects it.
 */
export class Terminals implements vscode.Disposable {
  private readonly ptys = new Map<RemotePty, vscode.Terminal | undefined>();
  private readonly emitter = new vscode.EventEmitter<void>();
  /** Terminals were added, removed or changed state (the tree listens). */
  readonly onDidChange = this.emitter.event;
  private readonly subs: vscode.Disposable[] = [];
  private counter = 0;
  /** Off while the window goes away: its terminals stay with the keeper, and remembered. */
  private persisting = true;

  constructor(
    private readonly settings: Settings,
    private readonly logger: Logger,
    private readonly memory?: WorkspaceMemory,
  ) {
    this.subs.push(this.onDidChange(() => this.persist()));
    this.subs.push(
      vscode.window.onDidOpenTerminal((t) => {
        // Terminals made by VS Code from our profile: find their pty by identity.
        const pty = (t.creationOptions as vscode.ExtensionTerminalOptions).pty;
        if (pty instanceof RemotePty && this.ptys.has(pty) && !this.ptys.get(pty)) {
          this.ptys.set(pty, t);
          this.emitter.fire();
        }
      }),
      vscode.window.onDidCloseTerminal((t) => {
        for (const [pty, term] of this.ptys) {
          if (term === t) {
            this.ptys.delete(pty);
            this.emitter.fire();
          }
        }
      }),
    );
  }

  /** A pty for `host`, tracked here; used directly by the terminal profile provider. */
  createPty(host: HostSession, adoptStreamId?: number): RemotePty {
    const pty = new RemotePty(host, {
      reattach: this.settings.current.reattach,
      logger: prefixed(this.logger, `${host.alias} terminal ${++this.counter}`),
      adoptStreamId,
    });
    this.ptys.set(pty, undefined);
    pty.onDidChangeState(() => this.emitter.fire());
    pty.onDidClose(() => {
      // The shell exited or was closed: VS Code closes the terminal; forget it now.
      if (this.ptys.delete(pty)) this.emitter.fire();
    });
    return pty;
  }

  /** A terminal on `host`; `adoptStreamId` takes back a kept shell from before a window reload. */
  open(host: HostSession, show = true, adoptStreamId?: number): vscode.Terminal {
    const pty = this.createPty(host, adoptStreamId);
    const terminal = vscode.window.createTerminal({ name: host.alias, pty, iconPath: new vscode.ThemeIcon('remote') });
    this.ptys.set(pty, terminal);
    this.emitter.fire();
    if (show) terminal.show();
    return terminal;
  }

  forHost(alias: string): Array<{ pty: RemotePty; terminal: vscode.Terminal | undefined }> {
    return [...this.ptys].filter(([pty]) => pty.alias === alias).map(([pty, terminal]) => ({ pty, terminal }));
  }

  ptyOf(terminal: vscode.Terminal): RemotePty | undefined {
    for (const [pty, t] of this.ptys) if (t === terminal) return pty;
    const pty = (terminal.creationOptions as vscode.ExtensionTerminalOptions).pty;
    return pty instanceof RemotePty ? pty : undefined;
  }

  all(): RemotePty[] {
    return [...this.ptys.keys()];
  }

  /** Closes a host's terminals, ending their tmux sessions while the connection still exists. */
  /** `keepShells`: shells kept by tmux or the keeper stay running on the server (Disconnect and Keep Shells). */
  async closeHost(alias: string, keepShells = false): Promise<void> {
    const mine = this.forHost(alias);
    await Promise.all(mine.map(({ pty }) => withTimeout(pty.shutdown({ keepRemote: keepShells && pty.keeping !== 'none' }), 3000)));
    for (const { terminal } of mine) terminal?.dispose();
  }

  /**
   * Window closing or reloading: shells on the session keeper stay there (the next window
   * takes them back; the keeper ends them after its idle time), every other shell is closed,
   * giving tmux kills a moment to reach the servers.
   */
  async shutdown(): Promise<void> {
    this.persist();
    this.persisting = false;
    await Promise.all(this.all().map((pty) => withTimeout(pty.shutdown({ keepRemote: pty.keeping === 'keeper' }), 1500)));
  }

  /** Which terminals the keeper runs, per host: remembered for the next window. */
  private persist(): void {
    if (!this.memory || !this.persisting) return;
    const kept: Record<string, KeptTerminals> = {};
    for (const pty of this.ptys.keys()) {
      const id = pty.keeperStreamId;
      const session = pty.host.keeperSessionId;
      if (id === undefined || !session) continue;
      (kept[pty.alias] ??= { session, streams: [] }).streams.push(id);
    }
    void this.memory.setKeptTerminals(kept);
  }

  dispose(): void {
    this.persisting = false;
    for (const pty of this.all()) void pty.shutdown({ keepRemote: pty.keeping === 'keeper' });
    this.ptys.clear();
    for (const s of this.subs.splice(0).reverse()) s.dispose();
    this.emitter.dispose();
  }
}

function withTimeout(p: Promise<void>, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    void p.finally(() => {
      clearTimeout(t);
      resolve();
    });
  });
}

/**
 * One host the user connected: its core Session, its forwards (ForwardRegistry), and what
 * the UI shows about it (outage history, start time). No 'vscode' import: the status bar,
 * tree and terminals read it through plain events.
 */
import type { KeepaliveTuner } from '../core/liveness/keepaliveTuner';
import { DisposableStore, type Disposable } from '../core/base/disposable';
import { describeDestination } from '../core/base/hostPort';
import { Emitter, type Event } from '../core/base/event';
import type { Logger } from '../core/base/logger';
import type { ResolvedHost } from '../core/config/types';
import { ForwardRegistry } from '../core/forward/registry';
import type { Forward } from '../core/forward/types';
import { KeeperLink, type KeeperLinkOptions } from '../core/keeper/keeperLink';
import { LivenessWatcher } from '../core/liveness/livenessWatcher';
import { Session, type SessionDeps, type SessionOptions } from '../core/session/session';
import type { KeptShell } from '../core/shell/keptShell';
import type { ForwardRequest } from './forwardInput';
import { OutageHistory } from './outageHistory';
import type { HostStatusInput } from './statusText';

export type HostChange = 'state' | 'probe' | 'forwards' | 'terminals' | 'liveness';

/** Where the keeper's options come from (the secret lives in SecretStorage: async); undefined: turned off. */
export type KeeperOptionsSource = () => Promise<KeeperLinkOptions | undefined>;
export type ForwardOrigin = 'config' | 'user';

export class HostSession implements Disposable {
  readonly session: Session;
  readonly forwards: ForwardRegistry;
  readonly history = new OutageHistory();
  readonly startedAt = Date.now();
  private readonly origins = new Map<string, { origin: ForwardOrigin; request: ForwardRequest }>();
  private readonly emitter = new Emitter<HostChange>();
  readonly onDidChange: Event<HostChange> = this.emitter.event;
  private readonly disposables = new DisposableStore();
  private keeperLink: Promise<KeeperLink | undefined> | undefined;
  private keeperNow: KeeperLink | undefined;
  private readonly shells = new Set<KeptShell>();
  readonly liveness: LivenessWatcher;
  /** The opt-in learned keepalive (sshKeepalive.keepaliveLearn), owned here: one per host. */
  private readonly tuner: KeepaliveTuner | undefined;

  constructor(
    readonly host: ResolvedHost,
    options: SessionOptions,
    deps: SessionDeps,
    private readonly logger: Logger,
    private readonly keeperOptions?: KeeperOptionsSource,
    /** What was learned about this network's idle timeout, in words (shown when it lowered the interval). */
    private readonly learned?: () => string | undefined,
  ) {
    this.session = new Session(host, options, deps);
    this.tuner = deps.keepaliveTuner;
    // Forwards ride the session keeper when it runs on the host (made on first use, as for terminals).
    this.forwards = new ForwardRegistry(this.session, logger, { keeper: () => this.keeper() });
    // Dispose order (reverse of adding): forwards first, they use the session.
    this.disposables.add(this.session);
    if (this.tuner) {
      this.disposables.add(this.tuner);
      this.disposables.add(
        this.tuner.onDidTune((e) => {
          if (e.kind === 'learned' || e.kind === 'dropped' || e.kind === 'unavailable') this.logger.info(e.message);
          else this.logger.debug(e.message);
          // The tooltip shows what was learned.
          this.emitter.fire('state');
        }),
      );
    }
    this.disposables.add(this.forwards);
    this.disposables.add(this.emitter);
    this.disposables.add(
      this.session.onDidChangeState((s) => {
        this.history.observe(s);
        this.emitter.fire('state');
      }),
    );
    this.disposables.add(this.session.onDidProbe(() => this.emitter.fire('probe')));
    // Silence past the alive window is probed at once while a terminal or a forwarded connection is in use.
    this.liveness = this.disposables.add(new LivenessWatcher(this.session, { inUse: () => this.inUse }));
    this.disposables.add(this.liveness.onDidChange(() => this.emitter.fire('liveness')));
    this.disposables.add(
      this.forwards.onDidChange((e) => {
        if (e.type === 'removed') this.origins.delete(e.forward.id);
        this.emitter.fire('forwards');
      }),
    );
  }

  get alias(): string {
    return this.host.alias;
  }

  /** "user@hostname:port" (port only when not 22). */
  get target(): string {
    return describeDestination(this.host.hostName, this.host.port, this.host.user);
  }

  get isClosed(): boolean {
    return this.session.state.kind === 'closed';
  }

  /**
   * How the attempt under way ends: connected, failed (fatal, already reported) or closed;
   * 'timeout' when it takes longer (the session keeps trying in the background).
   */
  whenSettled(timeoutMs: number): Promise<'connected' | 'failed' | 'closed' | 'timeout'> {
    const settled = (kind: string): kind is 'connected' | 'failed' | 'closed' => kind === 'connected' || kind === 'failed' || kind === 'closed';
    const now = this.session.state.kind;
    if (settled(now)) return Promise.resolve(now);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        sub.dispose();
        resolve('timeout');
      }, timeoutMs);
      const sub = this.session.onDidChangeState((s) => {
        if (!settled(s.kind)) return;
        clearTimeout(timer);
        sub.dispose();
        resolve(s.kind);
      });
    });
  }

  /**
   * The host's link to its session keeper, made on first use (the first terminal): undefined
   * when turned off. The link starts (or finds) the keeper on every connection.
   */
  keeper(): Promise<KeeperLink | undefined> {
    this.keeperLink ??= (async () => {
      let options: KeeperLinkOptions | undefined;
      try {
        options = await this.keeperOptions?.();
      } catch (err) {
        this.logger.warn(`session keeper: ${(err as Error).message}; terminals fall back to tmux`);
      }
      if (!options) {
        this.logger.info('session keeper turned off (sshKeepalive.keeper.enabled): terminals use tmux when the server has it');
        return undefined;
      }
      if (this.isClosed) return undefined;
      const link = this.disposables.add(new KeeperLink(this.session, { ...options, logger: this.logger }));
      this.keeperNow = link;
      link.onDidChangeState(() => this.emitter.fire('terminals'), this.disposables);
      return link;
    })();
    return this.keeperLink;
  }

  /** A terminal's shell, counted in the host's status ("kept", "reattaching", "not kept"). */
  trackShell(shell: KeptShell): Disposable {
    this.shells.add(shell);
    const sub = shell.onDidChangeState(() => this.emitter.fire('terminals'));
    this.emitter.fire('terminals');
    return {
      dispose: () => {
        sub.dispose();
        if (this.shells.delete(shell) && !this.isClosed) this.emitter.fire('terminals');
      },
    };
  }

  /** A terminal is open, or a forward has a connection open. */
  get inUse(): boolean {
    return this.shells.size > 0 || this.forwards.list().some((f) => f.counters.openConnections > 0);
  }

  /** Open terminals on this host (their remote shells end on Disconnect unless kept). */
  get shellCount(): number {
    return this.shells.size;
  }

  /** This window's session at the host's keeper, once the keeper is in use. */
  /** The session keeper's socket on the server, once it has been reached. */
  get keeperSocket(): string | undefined {
    return this.keeperNow?.socketPath;
  }

  get keeperSessionId(): string | undefined {
    return this.keeperNow?.sessionId;
  }

  /** Ends the keeper and every shell it still runs (the user's Disconnect); best effort. */
  async shutdownKeeper(timeoutMs = 3000): Promise<void> {
    const link = this.keeperNow;
    if (link) await link.shutdown(timeoutMs);
  }

  private terminalSummary(): HostStatusInput['terminals'] {
    if (this.shells.size === 0 && !this.keeperNow) return undefined;
    const count = { kept: 0, reattaching: 0, notKept: 0 };
    for (const shell of this.shells) {
      const k = shell.keeping;
      if (k === 'keeper') count.kept++;
      else if (k === 'tmux') count.reattaching++;
      else if (k === 'none') count.notKept++;
    }
    const link = this.keeperNow?.state;
    return {
      ...count,
      keeper: link?.kind === 'unavailable' ? `not available: ${link.reason}` : link?.kind === 'attached' ? `running (python ${link.python})` : undefined,
    };
  }

  statusInput(now: number, slowRttMs: number): HostStatusInput {
    return {
      terminals: this.terminalSummary(),
      alias: this.alias,
      target: this.target,
      state: this.session.state,
      rttMs: this.session.rttMs,
      lastContact: this.session.lastContact,
      keepalive: {
        intervalMs: this.session.keepaliveIntervalMs,
        countMax: this.session.options.keepalive.countMax,
        learned:
          this.session.keepaliveIntervalMs < this.session.options.keepalive.intervalMs || this.tuner?.refreshIntervalMs !== undefined
            ? this.learned?.()
            : undefined,
        refreshMs: this.tuner?.refreshIntervalMs,
      },
      startedAt: this.startedAt,
      outages: this.history.outages,
      now,
      slowRttMs,
    };
  }

  /**
   * Adds a forward. A forward that cannot start (port in use) stays listed as failed, so
   * the caller gets the Forward either way and reads its state.
   */
  async addForward(request: ForwardRequest, origin: ForwardOrigin): Promise<Forward> {
    const forward = await this.forwards.add(request);
    this.origins.set(forward.id, { origin, request });
    this.emitter.fire('forwards');
    return forward;
  }

  /** Stops a forward; returns how it had been added (so a user forward can be forgotten too). */
  removeForward(id: string): { origin: ForwardOrigin; request: ForwardRequest } | undefined {
    const known = this.origins.get(id);
    this.forwards.remove(id);
    this.origins.delete(id);
    return known;
  }

  originOf(id: string): ForwardOrigin | undefined {
    return this.origins.get(id)?.origin;
  }

  dispose(): void {
    this.logger.debug('host session disposed');
    this.disposables.dispose();
  }
}

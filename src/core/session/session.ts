import type { Client } from 'ssh2';
import { Backoff, type BackoffOptions, defaultBackoff } from '../base/backoff';
import { Deferred } from '../base/deferred';
import { DisposableStore, type Disposable } from '../base/disposable';
import { Emitter, type Event } from '../base/event';
import type { Logger } from '../base/logger';
import type { ResolvedHost } from '../config/types';
import { defaultKeepaliveOptions, Keepalive, type KeepaliveOptions, type ProbeResult } from '../liveness/keepalive';
import { connectAttempt, type ConnectedClient, type Hop } from './connectAttempt';
import { SessionError } from './errors';
import { HostKeyVerifier } from './hostKeyPolicy';
import { IdleCloseDetector } from './idleCloseDetector';
import { IdentityLoader } from './identities';
import type { Prompter } from './prompter';
import type { SessionState } from './state';

export interface SessionOptions {
  keepalive: KeepaliveOptions;
  backoff: BackoffOptions;
  /** Deadline for TCP connect and for the handshake on a first connect (ConnectTimeout). */
  connectTimeoutMs: number;
  /**
   * TCP connect deadline while reconnecting. Short on purpose: while the path is down an
   * attempt costs one SYN, and a fresh SYN every second or so finds a healed path at
   * once, whereas one long connect waits for the kernel's 1-3-7-15 s SYN retransmits.
   */
  reconnectTcpTimeoutMs: number;
  /** Retry delay range while nothing reaches the server (cheap attempts). */
  pathDownRetryMs: { min: number; max: number };
  /** At most one path-down attempt starts per this many ms (a refused connection fails at once). */
  pathDownMinCycleMs: number;
  /** Network deadline for authentication (prompt time excluded). */
  authTimeoutMs: number;
  /** Connected this long: the backoff starts small again. */
  stableAfterMs: number;
}

export interface SessionDeps {
  prompter: Prompter;
  logger: Logger;
  /** Fires after the machine slept; every NAT entry is probably gone. */
  onDidWake?: Event<unknown>;
  /** Fires when the machine's network interfaces change. */
  onDidChangeNetwork?: Event<unknown>;
  random?: () => number;
}

/** Builds session options from the resolved host (ssh_config wins) and our defaults. */
export function sessionOptionsFor(host: ResolvedHost, defaults: Partial<SessionOptions> = {}): SessionOptions {
  const keepalive: KeepaliveOptions = { ...defaultKeepaliveOptions, ...defaults.keepalive };
  if (host.serverAliveInterval !== undefined) keepalive.intervalMs = host.serverAliveInterval * 1000;
  if (host.serverAliveCountMax !== undefined) keepalive.countMax = Math.max(1, host.serverAliveCountMax);
  const connectTimeoutMs = host.connectTimeout !== undefined ? host.connectTimeout * 1000 : defaults.connectTimeoutMs ?? 15_000;
  return {
    backoff: defaults.backoff ?? defaultBackoff,
    reconnectTcpTimeoutMs: defaults.reconnectTcpTimeoutMs ?? Math.min(1500, connectTimeoutMs),
    pathDownRetryMs: defaults.pathDownRetryMs ?? { min: 100, max: 500 },
    pathDownMinCycleMs: defaults.pathDownMinCycleMs ?? 1000,
    authTimeoutMs: defaults.authTimeoutMs ?? Math.max(connectTimeoutMs, 15_000),
    stableAfterMs: defaults.stableAfterMs ?? 30_000,
    connectTimeoutMs,
    keepalive,
  };
}

export interface UsableOptions {
  /** A person is waiting (typed a key, opened a forwarded port): probe a quiet path and retry at once. */
  userAction?: boolean;
  timeoutMs: number;
}

/**
 * One Session per host: the state machine over an ssh2 Client. Exactly one connect
 * attempt is in flight at a time; callbacks of a superseded client are ignored by
 * identity; fatal errors end in `failed` and are never retried in the background.
 */
export class Session implements Disposable {
  private stateValue: SessionState = { kind: 'idle' };
  private readonly stateEmitter = new Emitter<SessionState>();
  readonly onDidChangeState: Event<SessionState> = this.stateEmitter.event;
  private readonly connectEmitter = new Emitter<{ client: Client; restored: boolean }>();
  /** Fires with each new client, so forwards (-R) and shells can be put back. */
  readonly onDidConnect = this.connectEmitter.event;
  private readonly probeEmitter = new Emitter<ProbeResult>();
  readonly onDidProbe: Event<ProbeResult> = this.probeEmitter.event;

  private readonly disposables = new DisposableStore();
  /** Owns what belongs to the current connection (keepalive, listeners). */
  private readonly connection = new DisposableStore();
  private current: ConnectedClient | undefined;
  private keepalive: Keepalive | undefined;
  private looping = false;
  private sleeping: Deferred<void> | undefined;
  private firstConnect = new Deferred<void>();
  private readonly backoff: Backoff;
  private readonly identities: IdentityLoader;
  private readonly verifiers = new Map<string, HostKeyVerifier>();
  private everConnected = false;
  private lostAt: number | undefined;
  private stableTimer: NodeJS.Timeout | undefined;
  private lastAttemptAt = 0;
  private readonly random: () => number;
  private readonly idleCloses = new IdleCloseDetector();

  constructor(
    readonly host: ResolvedHost,
    readonly options: SessionOptions,
    private readonly deps: SessionDeps,
  ) {
    this.random = deps.random ?? Math.random;
    this.backoff = new Backoff(options.backoff, this.random);
    this.identities = new IdentityLoader(deps.prompter, deps.logger);
    this.disposables.add(this.connection);
    for (const e of [this.stateEmitter, this.connectEmitter, this.probeEmitter]) this.disposables.add(e);
    if (deps.onDidWake) this.disposables.add(deps.onDidWake(() => this.onEnvironmentChange('the machine woke up')));
    if (deps.onDidChangeNetwork) this.disposables.add(deps.onDidChangeNetwork(() => this.onEnvironmentChange('network interfaces changed')));
  }

  get state(): SessionState {
    return this.stateValue;
  }

  get client(): Client | undefined {
    return this.stateValue.kind === 'connected' ? this.current?.client : undefined;
  }

  get rttMs(): number | undefined {
    return this.keepalive?.rttMs;
  }

  get lastContact(): number | undefined {
    return this.keepalive?.lastContact;
  }

  /**
   * The server has been closing this session's connections by policy after a fixed idle
   * time (see IdleCloseDetector): each loss and restore is expected, not news.
   */
  get closedWhenIdle(): boolean {
    return this.idleCloses.quiet;
  }

  private setState(next: SessionState): void {
    this.stateValue = next;
    this.stateEmitter.fire(next);
  }

  /** Starts connecting; resolves on the first connection, rejects with a fatal SessionError. */
  start(): Promise<void> {
    if (this.stateValue.kind === 'idle') this.runLoop(false);
    return this.firstConnect.promise;
  }

  /**
   * A user asked to reconnect: works in any state. Joins an attempt in flight, skips a
   * pending backoff, leaves `failed` (the user may have fixed the cause), or drops a
   * connected client and connects afresh.
   */
  reconnect(reason = 'reconnect requested'): Promise<void> {
    const s = this.stateValue;
    if (s.kind === 'closed') return Promise.reject(new SessionError('cancelled', 'the session is closed'));
    if (s.kind === 'connected') {
      this.drop(reason);
    } else if (s.kind === 'waiting') {
      this.kick();
    } else if (s.kind === 'failed' || s.kind === 'idle') {
      this.backoff.reset();
      this.runLoop(this.everConnected);
    }
    return this.whenConnected(this.options.connectTimeoutMs + this.options.authTimeoutMs);
  }

  /** The client, once it can carry traffic; with `userAction` a quiet path is probed first. */
  async whenUsable(opts: UsableOptions): Promise<Client> {
    const deadline = Date.now() + opts.timeoutMs;
    for (;;) {
      const s = this.stateValue;
      if (s.kind === 'closed') throw new SessionError('cancelled', 'the session is closed');
      if (s.kind === 'failed') throw s.error;
      if (s.kind === 'idle') void this.start().catch(() => undefined);
      if (s.kind === 'connected' && this.current && this.keepalive) {
        const client = this.current.client;
        if (!opts.userAction) return client;
        const probe = this.keepalive.demandProbe();
        // Heard from very recently: hand the client out now and let the probe run beside
        // the caller's work; if it fails the session drops this client and callers that
        // watch `isCurrent` retry on the next one.
        if (this.keepalive.recentlyHeard) return client;
        if ((await probe) && this.current?.client === client) return client;
      }
      if (this.stateValue.kind === 'waiting' && opts.userAction) this.kick();
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw new SessionError('timeout', `${this.host.alias} is not connected yet (waited ${opts.timeoutMs} ms)`);
      await this.whenConnected(remaining);
    }
  }

  /**
   * Someone just used the session (bytes from a forward client, a key in a terminal). If
   * the path has been quiet, probe it now: a dead path is found in about a second.
   */
  noteActivity(): void {
    const keepalive = this.keepalive;
    if (this.stateValue.kind === 'connected' && keepalive && !keepalive.recentlyHeard) void keepalive.demandProbe();
  }

  /** Fires when `client` stops being the session's live client (lost, dropped, closed). */
  onDidRetire(client: Client, listener: () => void): Disposable {
    let fired = false;
    const fire = () => {
      if (fired) return;
      fired = true;
      sub.dispose();
      listener();
    };
    const sub = this.onDidChangeState(() => {
      if (this.client !== client) fire();
    });
    if (this.client !== client) queueMicrotask(fire);
    return { dispose: () => sub.dispose() };
  }

  private whenConnected(timeoutMs: number): Promise<void> {
    if (this.stateValue.kind === 'connected') return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        sub.dispose();
        reject(new SessionError('timeout', `${this.host.alias} did not connect within ${timeoutMs} ms`));
      }, timeoutMs);
      const sub = this.onDidChangeState((s) => {
        if (s.kind === 'connected') {
          clearTimeout(timer);
          sub.dispose();
          resolve();
        } else if (s.kind === 'failed' || s.kind === 'closed') {
          clearTimeout(timer);
          sub.dispose();
          reject(s.kind === 'failed' ? s.error : new SessionError('cancelled', 'the session is closed'));
        }
      });
    });
  }

  private onEnvironmentChange(why: string): void {
    const s = this.stateValue;
    this.deps.logger.info(`${why}`);
    if (s.kind === 'waiting') this.kick();
    else if (s.kind === 'connected' && this.keepalive) void this.keepalive.demandProbe();
  }

  /** Ends a pending backoff sleep now (user action, wake-up, network change). */
  private kick(): void {
    // Even a kick waits a little after the previous attempt: a person typing during an
    // outage must not turn into a SYN per keystroke.
    const sinceLast = Date.now() - this.lastAttemptAt;
    if (sinceLast < 250) return;
    this.sleeping?.resolve();
  }

  private runLoop(reconnecting: boolean): void {
    if (this.looping) return;
    this.looping = true;
    void this.connectLoop(reconnecting).then(
      (connected) => {
        // The loop is over before the new client is adopted, so that a loss (or a
        // reconnect request) from then on can start the next loop.
        this.looping = false;
        if (connected) void this.adopt(connected);
      },
      (err) => {
        this.looping = false;
        this.deps.logger.error(`connect loop failed: ${(err as Error).stack ?? err}`);
      },
    );
  }

  /** Attempts until one connects (returned), a fatal error, or dispose (undefined). */
  private async connectLoop(reconnecting: boolean): Promise<ConnectedClient | undefined> {
    let attempt = 0;
    let lastError = '';
    if (reconnecting) {
      // First retry almost at once (a little jitter spreads many sessions after a network change).
      attempt++;
      const delayMs = Math.round(50 + this.random() * 150);
      if (!(await this.wait(attempt, delayMs, this.stateValue.kind === 'lost' ? this.stateValue.reason : 'reconnecting'))) return undefined;
      attempt--;
    }
    for (;;) {
      if (this.disposables.isDisposed) return undefined;
      attempt++;
      this.lastAttemptAt = Date.now();
      this.setState({ kind: 'connecting', attempt, since: Date.now() });
      const tcpMs = this.everConnected ? this.options.reconnectTcpTimeoutMs : this.options.connectTimeoutMs;
      let connected: ConnectedClient;
      try {
        connected = await connectAttempt(this.host, {
          prompter: this.deps.prompter,
          identities: this.identities,
          verifierFor: (hop) => this.verifierFor(hop),
          logger: this.deps.logger,
          deadlines: { tcpMs, bannerMs: tcpMs, handshakeMs: this.options.connectTimeoutMs, authMs: this.options.authTimeoutMs },
          everConnected: this.everConnected,
        });
      } catch (err) {
        const error = err instanceof SessionError ? err : new SessionError('protocol', String(err));
        if (this.disposables.isDisposed) return undefined;
        if (error.fatal) {
          // Reported once, by whoever owns the session (CLI line, VS Code notification).
          this.deps.logger.info(`giving up: ${error.message}`);
          this.setState({ kind: 'failed', error, at: Date.now() });
          this.firstConnect.reject(error);
          return undefined;
        }
        lastError = error.message;
        // A long outage must not flood the log: the first attempts, then one a minute or so.
        const log = attempt <= 3 || attempt % 60 === 0 ? this.deps.logger.info : this.deps.logger.debug;
        log.call(this.deps.logger, `attempt ${attempt} failed: ${error.message}`);
        const delayMs = error.pathDown ? this.pathDownDelay() : this.backoff.next();
        if (!(await this.wait(attempt + 1, delayMs, lastError))) return undefined;
        continue;
      }
      if (this.disposables.isDisposed) {
        connected.dispose();
        return undefined;
      }
      return connected;
    }
  }

  /**
   * Delay after an attempt that never reached sshd. Such attempts are cheap, so they go on
   * at about one per second (a healed path is found within a second), but never faster:
   * an attempt refused at once still waits out the rest of `minCycleMs`.
   */
  private pathDownDelay(): number {
    const { min, max } = this.options.pathDownRetryMs;
    const jittered = Math.round(min + this.random() * (max - min));
    const sinceStart = Date.now() - this.lastAttemptAt;
    return Math.max(jittered, this.options.pathDownMinCycleMs - sinceStart);
  }

  /** Sleeps in `waiting`; resolves false if the session was closed meanwhile. */
  private async wait(attempt: number, delayMs: number, lastError: string): Promise<boolean> {
    this.setState({ kind: 'waiting', attempt, delayMs, until: Date.now() + delayMs, lastError });
    const sleep = (this.sleeping = new Deferred<void>());
    const timer = setTimeout(() => sleep.resolve(), delayMs);
    await sleep.promise;
    clearTimeout(timer);
    this.sleeping = undefined;
    return !this.disposables.isDisposed;
  }

  private async adopt(connected: ConnectedClient): Promise<void> {
    this.current = connected;
    const keepalive = (this.keepalive = new Keepalive(connected.client, connected.transport, this.options.keepalive));
    this.connection.add(keepalive);
    this.connection.add(keepalive.onDidProbe((p) => this.probeEmitter.fire(p)));
    this.connection.add(keepalive.onDidDie((reason) => this.onLost(connected, reason)));
    const onClose = () => this.onLost(connected, 'the server closed the connection', true);
    const onError = (err: Error & { level?: string }) => this.deps.logger.debug(`client error: ${err.message}`);
    connected.client.on('close', onClose);
    connected.client.on('error', onError);
    this.connection.add({
      dispose: () => {
        connected.client.removeListener('close', onClose);
        connected.client.removeListener('error', onError);
        connected.dispose();
      },
    });
    const rttMs = await keepalive.measure('initial', Math.max(2000, this.options.connectTimeoutMs));
    if (this.current !== connected) return; // lost while measuring
    const restored = this.everConnected;
    this.everConnected = true;
    const restoredAfterMs = restored && this.lostAt !== undefined ? Date.now() - this.lostAt : undefined;
    this.setState({ kind: 'connected', since: Date.now(), rttMs: rttMs === undefined ? undefined : Math.round(rttMs * 10) / 10, restoredAfterMs });
    const log = this.idleCloses.quiet ? this.deps.logger.debug : this.deps.logger.info;
    log.call(this.deps.logger, restored ? `restored after ${restoredAfterMs} ms` : `connected to ${this.host.hostName}:${this.host.port}`);
    this.stableTimer = setTimeout(() => this.backoff.reset(), this.options.stableAfterMs);
    this.stableTimer.unref();
    this.firstConnect.resolve();
    this.connectEmitter.fire({ client: connected.client, restored });
  }

  /** A connected client died (or was dropped on purpose): record why and reconnect. */
  private onLost(connected: ConnectedClient, reason: string, closedByServer = false): void {
    if (this.current !== connected) return; // a superseded client's callback
    const connectedMs = this.stateValue.kind === 'connected' ? Date.now() - this.stateValue.since : undefined;
    this.current = undefined;
    this.keepalive = undefined;
    clearTimeout(this.stableTimer);
    this.connection.clear();
    if (this.disposables.isDisposed) return;
    this.lostAt = Date.now();
    const idle = this.idleCloses.onLoss(closedByServer, connectedMs);
    if (idle.kind === 'explain') this.deps.logger.warn(idle.message);
    (idle.kind === 'normal' ? this.deps.logger.warn : this.deps.logger.debug).call(this.deps.logger, `connection lost: ${reason}`);
    this.setState({ kind: 'lost', reason, at: this.lostAt });
    this.runLoop(true);
  }

  private drop(reason: string): void {
    if (this.current) this.onLost(this.current, reason);
  }

  private verifierFor(hop: Hop): HostKeyVerifier {
    const alias = hop.hostKeyAlias;
    const name = alias ?? hop.hostName;
    // As OpenSSH: a HostKeyAlias is looked up as is, without the [host]:port form.
    const port = alias ? 22 : hop.port;
    const key = `${name}:${port}`;
    let verifier = this.verifiers.get(key);
    if (!verifier) {
      verifier = new HostKeyVerifier(
        {
          host: name,
          port,
          knownHostsFiles: hop.userKnownHostsFiles ?? this.host.userKnownHostsFiles,
          strict: hop.strictHostKeyChecking ?? this.host.strictHostKeyChecking,
        },
        this.deps.prompter,
        this.deps.logger,
      );
      this.verifiers.set(key, verifier);
    }
    return verifier;
  }

  dispose(): void {
    if (this.stateValue.kind === 'closed') return;
    clearTimeout(this.stableTimer);
    this.current = undefined;
    this.keepalive = undefined;
    this.connection.clear();
    this.firstConnect.reject(new SessionError('cancelled', 'the session was closed'));
    this.setState({ kind: 'closed' });
    this.sleeping?.resolve();
    this.disposables.dispose();
  }
}

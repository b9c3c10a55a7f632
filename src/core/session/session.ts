import type { Client } from 'ssh2';
import { Backoff, type BackoffOptions, defaultBackoff } from '../base/backoff';
import { type Clock, systemClock } from '../base/clock';
import { Deferred } from '../base/deferred';
import { DisposableStore, toDisposable, type Disposable } from '../base/disposable';
import { Emitter, type Event } from '../base/event';
import type { Logger } from '../base/logger';
import type { ResolvedHost } from '../config/types';
import type { IntervalLearner } from '../liveness/intervalLearner';
import type { KeepaliveTuner } from '../liveness/keepaliveTuner';
import { StallDetector } from '../liveness/stallDetector';
import { defaultKeepaliveOptions, Keepalive, type KeepaliveOptions, type ProbeResult } from '../liveness/keepalive';
import { connectAttempt, type ConnectedClient, type Hop } from './connectAttempt';
import { type Connection, ConnectionScope } from './connection';
import { SessionError } from './errors';
import { HostKeyVerifier } from './hostKeyPolicy';
import { IdleCloseDetector } from './idleCloseDetector';
import { IdentityLoader } from './identities';
import type { Prompter } from './prompter';
import { spareVerdict } from './spareDecision';
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
  /**
   * Failed attempts in a row after which the session gives up (fatal) instead of trying
   * again; undefined: never. For hosts that lock accounts after repeated logins (CLI
   * `--max-attempts`).
   */
  maxAttempts?: number;
}

export interface SessionDeps {
  prompter: Prompter;
  logger: Logger;
  /** Fires after the machine slept; every NAT entry is probably gone. */
  onDidWake?: Event<unknown>;
  /** Fires when the machine's network interfaces change. */
  onDidChangeNetwork?: Event<unknown>;
  random?: () => number;
  /** Default: the system clock. Tests pass a fake one. */
  clock?: Clock;
  /** Keeps the keepalive interval under what this network's NAT tolerates (learned from idle deaths). */
  intervalLearner?: IntervalLearner;
  /** Opt-in: measures the network's idle timeout on disposable flows and tunes each connection's keepalive (keepaliveTuner.ts). */
  keepaliveTuner?: KeepaliveTuner;
}

/** Builds session options from the resolved host (ssh_config wins) and our defaults. */
export function sessionOptionsFor(host: ResolvedHost, defaults: Partial<SessionOptions> = {}): SessionOptions {
  const keepalive: KeepaliveOptions = { ...defaultKeepaliveOptions, ...defaults.keepalive };
  if (host.serverAliveInterval !== undefined) keepalive.intervalMs = host.serverAliveInterval * 1000;
  if (host.serverAliveCountMax !== undefined) keepalive.countMax = Math.max(1, host.serverAliveCountMax);
  const connectTimeoutMs = host.connectTimeout !== undefined ? host.connectTimeout * 1000 : (defaults.connectTimeoutMs ?? 15_000);
  return {
    backoff: defaults.backoff ?? defaultBackoff,
    reconnectTcpTimeoutMs: defaults.reconnectTcpTimeoutMs ?? Math.min(1500, connectTimeoutMs),
    pathDownRetryMs: defaults.pathDownRetryMs ?? { min: 100, max: 500 },
    pathDownMinCycleMs: defaults.pathDownMinCycleMs ?? 1000,
    authTimeoutMs: defaults.authTimeoutMs ?? Math.max(connectTimeoutMs, 15_000),
    stableAfterMs: defaults.stableAfterMs ?? 30_000,
    ...(defaults.maxAttempts !== undefined ? { maxAttempts: defaults.maxAttempts } : {}),
    connectTimeoutMs,
    keepalive,
  };
}

export interface UsableOptions {
  /** A person is waiting (typed a key, opened a forwarded port): probe a quiet path and retry at once. */
  userAction?: boolean;
  /**
   * With userAction: hand a quiet connection out at once and let the probe run beside the
   * caller's first request (a channel open), instead of waiting a round trip for its reply.
   * The caller must give up on the connection when it ends: a probe that fails ends it.
   */
  probeAlongside?: boolean;
  timeoutMs: number;
}

/**
 * A kick (user action, wake-up) never starts an attempt sooner than this after the previous
 * one: a person typing during an outage must not turn into a SYN per keystroke. A kick that
 * comes sooner is deferred to the end of this gap, never dropped.
 */
export const KICK_GAP_MS = 250;

/**
 * How much longer a connection in doubt whose bytes the server still acknowledges keeps its
 * place once a second connection is up: a reply lost on a lossy path is resent within a few
 * retransmission timeouts (200 ms and more each on Linux).
 */
export const ACKED_GRACE_MS = 1500;

/** A failed attempt that will be retried: the UI tells the first of each kind on a never-made connection. */
export interface AttemptFailure {
  readonly error: SessionError;
  readonly attempt: number;
  /** No earlier attempt of this run of attempts failed with the same code. */
  readonly firstOfKind: boolean;
  /** The session was connected before (this is a reconnect after an outage). */
  readonly everConnected: boolean;
}

/** What exists only while connected: the riders' scope, the ssh2 chain, its keepalive. */
interface Live {
  readonly conn: ConnectionScope;
  readonly chain: ConnectedClient;
  readonly keepalive: Keepalive;
  /** The keepalive interval this connection uses (the configured one, or a learned lower one). */
  readonly intervalMs: number;
}

type ConnectedState = Extract<SessionState, { kind: 'connected' }>;

/**
 * The session's internal state: the public state plus what that state owns. A connection
 * is `live` only in `connected`, so nothing can see a half-adopted one; `lostAt` lives in
 * the states of an outage (lost, waiting, connecting after a loss).
 */
type Phase = { readonly state: Exclude<SessionState, ConnectedState>; readonly lostAt?: number } | { readonly state: ConnectedState; readonly live: Live };

/**
 * One Session per host: the state machine over an ssh2 Client. Exactly one connect
 * attempt is in flight at a time; fatal errors end in `failed` and are never retried in
 * the background. Each connection is handed to riders as a `Connection` scope
 * (`onDidConnect`), which ends, and disposes what they put in it, when the connection does.
 */
export class Session implements Disposable {
  private phase: Phase = { state: { kind: 'idle' } };
  private readonly stateEmitter = new Emitter<SessionState>();
  readonly onDidChangeState: Event<SessionState> = this.stateEmitter.event;
  private readonly connectEmitter = new Emitter<Connection>();
  /** Fires with each new connection, so forwards (-R) and shells can be put back on it. */
  readonly onDidConnect: Event<Connection> = this.connectEmitter.event;
  private readonly probeEmitter = new Emitter<ProbeResult>();
  readonly onDidProbe: Event<ProbeResult> = this.probeEmitter.event;
  private readonly attemptFailedEmitter = new Emitter<AttemptFailure>();
  /** Every failed attempt that will be retried (fatal ones end in `failed` instead). */
  readonly onDidFailAttempt: Event<AttemptFailure> = this.attemptFailedEmitter.event;

  private readonly disposables = new DisposableStore();
  private looping = false;
  /** Set by pauseReconnecting(): no new attempt starts until resumeReconnecting(). */
  private paused = false;
  private sleeping: Deferred<void> | undefined;
  /** A kick that came too soon after an attempt, waiting for the end of the gap. */
  private pendingKick: Disposable | undefined;
  private readonly firstConnect = new Deferred<void>();
  private readonly backoff: Backoff;
  private readonly identities: IdentityLoader;
  private readonly verifiers = new Map<string, HostKeyVerifier>();
  private everConnected = false;
  private connectionCount = 0;
  private lastAttemptAt = 0;
  /** The silence a connection died after, learned once the next connection goes through at the first try (learnFromDeath). */
  private pendingSilenceMs: number | undefined;
  private readonly random: () => number;
  private readonly clock: Clock;
  private readonly idleCloses = new IdleCloseDetector();
  /** Warnings already printed: a stale agent is news once, not on every reconnect. */
  private readonly warned = new Set<string>();

  constructor(
    readonly host: ResolvedHost,
    readonly options: SessionOptions,
    private readonly deps: SessionDeps,
  ) {
    this.random = deps.random ?? Math.random;
    this.clock = deps.clock ?? systemClock;
    this.backoff = new Backoff(options.backoff, this.random);
    this.identities = new IdentityLoader(deps.prompter, deps.logger);
    for (const e of [this.stateEmitter, this.connectEmitter, this.probeEmitter, this.attemptFailedEmitter]) this.disposables.add(e);
    deps.onDidWake?.(() => this.onEnvironmentChange('the machine woke up'), this.disposables);
    deps.onDidChangeNetwork?.(() => this.onEnvironmentChange('network interfaces changed'), this.disposables);
    // What a NAT tolerated before a sleep or on another network is measured again.
    deps.onDidWake?.(() => deps.keepaliveTuner?.relearn(), this.disposables);
    deps.onDidChangeNetwork?.(() => deps.keepaliveTuner?.relearn(), this.disposables);
  }

  get state(): SessionState {
    return this.phase.state;
  }

  /** The live connection; undefined unless `connected`. */
  get connection(): Connection | undefined {
    return 'live' in this.phase ? this.phase.live.conn : undefined;
  }

  get client(): Client | undefined {
    return this.connection?.client;
  }

  get rttMs(): number | undefined {
    return 'live' in this.phase ? this.phase.live.keepalive.rttMs : undefined;
  }

  /** The keepalive interval in use now (learned from this network's idle deaths, or configured). */
  get keepaliveIntervalMs(): number {
    const configured = this.options.keepalive.intervalMs;
    return 'live' in this.phase ? this.phase.live.keepalive.currentIntervalMs : (this.deps.intervalLearner?.intervalFor(configured) ?? configured);
  }

  get lastContact(): number | undefined {
    return 'live' in this.phase ? this.phase.live.keepalive.lastContact : undefined;
  }

  /**
   * The server has been closing this session's connections by policy after a fixed idle
   * time (see IdleCloseDetector): each loss and restore is expected, not news.
   */
  get closedWhenIdle(): boolean {
    return this.idleCloses.quiet;
  }

  /** The one setter of the session's state. */
  private transition(next: Phase): void {
    this.phase = next;
    this.stateEmitter.fire(next.state);
  }

  /** An outage's start time carries over through lost, waiting and connecting. */
  private get lostAt(): number | undefined {
    return 'live' in this.phase ? undefined : this.phase.lostAt;
  }

  /** Starts connecting; resolves on the first connection, rejects with a fatal SessionError. */
  start(): Promise<void> {
    if (this.phase.state.kind === 'idle') this.runLoop(false);
    return this.firstConnect.promise;
  }

  /**
   * A user asked to reconnect: works in any state. Joins an attempt in flight, skips a
   * pending backoff, leaves `failed` (the user may have fixed the cause), or drops a
   * connected client and connects afresh.
   */
  reconnect(reason = 'reconnect requested'): Promise<void> {
    // Asking to reconnect is a person acting: it ends a pause.
    this.paused = false;
    const s = this.phase.state;
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

  /**
   * A person stops every further attempt on this host (one that locks accounts, a login that
   * needs a second factor nobody is there to give). A pending wait ends at once and the
   * session settles in `failed` with a 'cancelled' error (not reported as an error); an
   * attempt in flight finishes. A live connection stays up, but is not restored if it drops.
   */
  pauseReconnecting(): void {
    if (this.paused) return;
    this.paused = true;
    this.deps.logger.info('reconnecting paused by the user');
    this.sleeping?.resolve();
  }

  /** Undoes pauseReconnecting(): a session it stopped connects again at once. */
  resumeReconnecting(): Promise<void> {
    const wasPaused = this.paused;
    this.paused = false;
    const s = this.phase.state;
    if (wasPaused) this.deps.logger.info('reconnecting resumed by the user');
    if (s.kind === 'failed' && s.error.code === 'cancelled') return this.reconnect('reconnecting resumed');
    return s.kind === 'connected' ? Promise.resolve() : this.whenConnected(this.options.connectTimeoutMs + this.options.authTimeoutMs);
  }

  get isPaused(): boolean {
    return this.paused;
  }

  /** The connection, once it can carry traffic; with `userAction` a quiet path is probed first. */
  async whenUsable(opts: UsableOptions): Promise<Connection> {
    const deadline = this.clock.now() + opts.timeoutMs;
    for (;;) {
      const p = this.phase;
      const s = p.state;
      if (s.kind === 'closed') throw new SessionError('cancelled', 'the session is closed');
      if (s.kind === 'failed') throw s.error;
      if (s.kind === 'idle') void this.start().catch(() => undefined);
      if ('live' in p) {
        const { conn, keepalive } = p.live;
        if (!opts.userAction) return conn;
        const probe = keepalive.demandProbe();
        // Heard from very recently: hand the connection out now and let the probe run beside
        // the caller's work; if it fails the connection ends and its riders hear of it.
        if (keepalive.recentlyHeard || opts.probeAlongside) return conn;
        if ((await probe) && !conn.isEnded) return conn;
      }
      if (this.phase.state.kind === 'waiting' && opts.userAction) this.kick();
      const remaining = deadline - this.clock.now();
      if (remaining <= 0) throw new SessionError('timeout', `${this.host.alias} is not connected yet (waited ${opts.timeoutMs} ms)`);
      await this.whenConnected(remaining);
    }
  }

  /**
   * Someone just used the session (bytes from a forward client, a key in a terminal). If
   * the path has been quiet, probe it now; if not, probe when nothing answers the action
   * within the quiet time. A dead path is found in about a second either way.
   */
  noteActivity(): void {
    if ('live' in this.phase) this.phase.live.keepalive.noteActivity();
  }

  /**
   * Probes `conn` now; true once the server answered, which proves it received every byte
   * written on `conn` before this call (SSH is ordered). False when `conn` is not the live
   * connection, or ends first. See Keepalive.confirmDelivery.
   */
  confirmDelivery(conn: Connection): Promise<boolean> {
    const p = this.phase;
    if (!('live' in p) || p.live.conn !== conn || conn.isEnded) return Promise.resolve(false);
    return p.live.keepalive.confirmDelivery();
  }

  private whenConnected(timeoutMs: number): Promise<void> {
    if (this.phase.state.kind === 'connected') return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const timer = this.clock.timeout(() => {
        sub.dispose();
        reject(new SessionError('timeout', `${this.host.alias} did not connect within ${timeoutMs} ms`));
      }, timeoutMs);
      const sub = this.onDidChangeState((s) => {
        if (s.kind === 'connected') {
          timer.dispose();
          sub.dispose();
          resolve();
        } else if (s.kind === 'failed' || s.kind === 'closed') {
          timer.dispose();
          sub.dispose();
          reject(s.kind === 'failed' ? s.error : new SessionError('cancelled', 'the session is closed'));
        }
      });
    });
  }

  private onEnvironmentChange(why: string): void {
    this.deps.logger.info(why);
    const p = this.phase;
    if (p.state.kind === 'waiting') this.kick();
    else if ('live' in p) void p.live.keepalive.demandProbe();
  }

  /** Ends a pending backoff sleep now (user action, wake-up, network change), or right after the gap. */
  private kick(): void {
    const sinceLast = this.clock.now() - this.lastAttemptAt;
    if (sinceLast >= KICK_GAP_MS) {
      this.sleeping?.resolve();
      return;
    }
    this.pendingKick ??= this.clock.timeout(() => {
      this.pendingKick = undefined;
      this.sleeping?.resolve();
    }, KICK_GAP_MS - sinceLast);
  }

  private runLoop(reconnecting: boolean): void {
    if (this.looping) return;
    this.looping = true;
    void this.connectLoop(reconnecting).then(
      (live) => {
        // The loop is over before the connection is adopted, so that a loss (or a
        // reconnect request) from then on can start the next loop.
        this.looping = false;
        if (live) this.adopt(live);
      },
      (err) => {
        this.looping = false;
        this.deps.logger.error(`connect loop failed: ${(err as Error).stack ?? err}`);
      },
    );
  }

  /** Attempts until one connects and answers a first probe (returned), a fatal error, or dispose. */
  private async connectLoop(reconnecting: boolean): Promise<Live | undefined> {
    let attempt = 0;
    let lastError: string | undefined;
    const failureKinds = new Set<SessionError['code']>();
    if (reconnecting) {
      // First retry almost at once (a little jitter spreads many sessions after a network change).
      const s = this.phase.state;
      const delayMs = Math.round(50 + this.random() * 150);
      if (!(await this.wait(1, delayMs, s.kind === 'lost' ? s.reason : 'reconnecting'))) return undefined;
    }
    for (;;) {
      if (this.disposables.isDisposed) return undefined;
      if (this.paused) {
        this.transition({ state: { kind: 'failed', error: pausedError(this.host.alias), at: this.clock.now() } });
        return undefined;
      }
      attempt++;
      this.lastAttemptAt = this.clock.now();
      const connecting: Exclude<SessionState, ConnectedState> =
        lastError === undefined
          ? { kind: 'connecting', attempt, since: this.clock.now() }
          : { kind: 'connecting', attempt, since: this.clock.now(), lastError };
      this.transition({ state: connecting, lostAt: this.lostAt });
      let live: Live;
      try {
        live = await this.attempt();
      } catch (err) {
        this.settleLesson();
        const error = err instanceof SessionError ? err : new SessionError('protocol', String(err));
        if (this.disposables.isDisposed) return undefined;
        const max = this.options.maxAttempts;
        if (!error.fatal && max !== undefined && attempt >= max) {
          const gaveUp = new SessionError(error.code, `${error.message} (gave up after ${attempt} attempts in a row)`, {
            fatal: true,
            host: error.host,
            hop: error.hop,
            location: error.location,
          });
          this.deps.logger.info(`giving up: ${gaveUp.message}`);
          this.transition({ state: { kind: 'failed', error: gaveUp, at: this.clock.now() } });
          this.firstConnect.reject(gaveUp);
          return undefined;
        }
        if (error.fatal) {
          // Reported once, by whoever owns the session (CLI line, VS Code notification).
          this.deps.logger.info(`giving up: ${error.message}`);
          this.transition({ state: { kind: 'failed', error, at: this.clock.now() } });
          this.firstConnect.reject(error);
          return undefined;
        }
        // A long outage must not flood the log: the first failure of each kind is a warning
        // (a refused port must not be retried in silence), then the first attempts, then one
        // a minute or so.
        const line = `attempt ${attempt} failed: ${error.message}`;
        // The first failure of each kind (a ProxyCommand's own words among them) is a warning.
        if (!failureKinds.has(error.code)) this.deps.logger.warn(`${line}; retrying`);
        else if (attempt <= 3 || attempt % 60 === 0) this.deps.logger.info(line);
        else this.deps.logger.debug(line);
        const firstOfKind = !failureKinds.has(error.code);
        failureKinds.add(error.code);
        lastError = error.message;
        this.attemptFailedEmitter.fire({ error, attempt, firstOfKind, everConnected: this.everConnected });
        const delayMs = error.pathDown ? this.pathDownDelay() : this.backoff.next();
        if (!(await this.wait(attempt + 1, delayMs, error.message, this.clock.now() - this.lastAttemptAt + delayMs))) return undefined;
        continue;
      }
      if (this.disposables.isDisposed) {
        live.keepalive.dispose();
        live.chain.dispose();
        return undefined;
      }
      return this.settleLesson(live);
    }
  }

  /**
   * One attempt: connect and authenticate, then a first keepalive must come back. A server
   * that authenticates and then goes quiet (a path that died in the handshake's last second,
   * a stalled sshd) is not connected: the attempt fails and is retried like any other.
   */
  private async attempt(): Promise<Live> {
    const tcpMs = this.everConnected ? this.options.reconnectTcpTimeoutMs : this.options.connectTimeoutMs;
    const chain = await connectAttempt(this.host, {
      prompter: this.deps.prompter,
      identities: this.identities,
      verifierFor: (hop) => this.verifierFor(hop),
      logger: this.deps.logger,
      warnOnce: (message) => {
        if (this.warned.has(message)) return;
        this.warned.add(message);
        this.deps.logger.warn(message);
      },
      deadlines: { tcpMs, bannerMs: tcpMs, handshakeMs: this.options.connectTimeoutMs, authMs: this.options.authTimeoutMs },
      everConnected: this.everConnected,
    });
    const intervalMs = this.deps.intervalLearner?.intervalFor(this.options.keepalive.intervalMs) ?? this.options.keepalive.intervalMs;
    const keepalive = new Keepalive(chain.client, chain.transport, { ...this.options.keepalive, intervalMs }, this.clock);
    const firstProbeMs = Math.max(2000, this.options.connectTimeoutMs);
    const rtt = await keepalive.measure('initial', firstProbeMs);
    if (rtt === undefined || this.disposables.isDisposed) {
      keepalive.dispose();
      chain.dispose();
      throw new SessionError('stalled', `${this.host.alias}: logged in, but the server did not answer a first keepalive within ${firstProbeMs} ms`);
    }
    this.connectionCount++;
    const conn = new ConnectionScope(chain.client, this.everConnected, this.connectionCount);
    return { conn, chain, keepalive, intervalMs };
  }

  /**
   * Delay after an attempt that never reached sshd. Such attempts are cheap, so they go on
   * at about one per second (a healed path is found within 1.4 s), but never faster:
   * an attempt refused at once still waits out the rest of `minCycleMs`, plus the jitter
   * above `min`. Without that jitter, sessions refused at once (a server restarting) would
   * retry in lockstep, each exactly `minCycleMs` after its last, and all come back in the
   * same instant (test/unit/retryStorm.test.ts measures the spread).
   */
  private pathDownDelay(startedAt = this.lastAttemptAt): number {
    const { min, max } = this.options.pathDownRetryMs;
    const jittered = Math.round(min + this.random() * (max - min));
    const sinceStart = this.clock.now() - startedAt;
    return Math.max(jittered, this.options.pathDownMinCycleMs + (jittered - min) - sinceStart);
  }

  /** Sleeps in `waiting`; resolves false if the session was closed meanwhile. */
  private async wait(attempt: number, delayMs: number, lastError: string, cycleMs?: number): Promise<boolean> {
    const until = this.clock.now() + delayMs;
    const state: Exclude<SessionState, ConnectedState> =
      cycleMs === undefined ? { kind: 'waiting', attempt, delayMs, until, lastError } : { kind: 'waiting', attempt, delayMs, until, lastError, cycleMs };
    this.transition({ state, lostAt: this.lostAt });
    const sleep = (this.sleeping = new Deferred<void>());
    const timer = this.clock.timeout(() => sleep.resolve(), delayMs);
    await sleep.promise;
    timer.dispose();
    this.pendingKick?.dispose();
    this.pendingKick = undefined;
    this.sleeping = undefined;
    return !this.disposables.isDisposed;
  }

  /**
   * The live connection missed a demand probe: state `checking`. Make-before-break when its
   * riders resume on another connection (the keeper). Rather than tear it down and leave every channel on it
   * cut, make a second connection beside it: if the old one answers first (a slow or lossy
   * moment, not a drop) the spare is closed and nothing was cut; if the new one is up first
   * it takes over; if it cannot be made either, the path is lost as before.
   */
  private onSuspect(live: Live, reason: string): void {
    const p = this.phase;
    if (!('live' in p) || p.live !== live || p.state.checking) return;
    const since = this.clock.now();
    // Without riders that resume elsewhere, a second connection would save nothing: the
    // keepalive waits a little longer for this one instead (a lossy path answers late).
    const bridge = live.conn.prefersMakeBeforeBreak;
    this.deps.logger.info(
      `${reason}; ${bridge ? 'making a second connection beside this one (make-before-break)' : 'waiting a little longer before giving it up'}`,
    );
    this.transition({ state: { ...p.state, checking: { since, reason } }, live });
    if (bridge) void this.bridge(live, reason, since);
  }

  /** The suspected connection answered again: it stays, and the spare (when it comes) is closed. */
  private onRecover(live: Live): void {
    const p = this.phase;
    if (!('live' in p) || p.live !== live || !p.state.checking) return;
    const { since, checking } = p.state;
    this.deps.logger.info(`the connection answered again after ${this.clock.now() - checking.since} ms: kept, nothing was cut`);
    // Not a restore: nothing was lost (no restoredAfterMs, so no "restored" event).
    this.transition({ state: { kind: 'connected', since, rttMs: live.keepalive.rttMs }, live });
  }

  private async bridge(old: Live, reason: string, since: number): Promise<void> {
    const inDoubt = () => {
      const p = this.phase;
      return 'live' in p && p.live === old && p.state.checking?.since === since && !this.disposables.isDisposed;
    };
    // The old connection's longer wait (see below) ends the tries for a spare.
    let doubtOver = false;
    const overSignal = new Deferred<void>();
    void old.keepalive.whenDoubtOver().then(() => {
      doubtOver = true;
      overSignal.resolve();
    });
    let spare: Live | undefined;
    let failure = '';
    const closeSpare = (live: Live) => {
      this.deps.logger.debug('the second connection is not needed: closed');
      live.keepalive.dispose();
      live.chain.dispose();
    };
    for (;;) {
      const startedAt = this.clock.now();
      const attempt = this.attempt().then(
        (live) => ({ live }),
        (err: unknown) => ({ error: err instanceof Error ? err.message : String(err) }),
      );
      // The first connection's longer wait may end while this attempt is still connecting (a
      // TCP connect deadline runs up to 1.5 s): its verdict is not held for the attempt, so a
      // path is lost at the same moment with or without a keeper.
      const outcome = await Promise.race([attempt, overSignal.promise.then(() => undefined)]);
      if (outcome === undefined) {
        void attempt.then((late) => 'live' in late && closeSpare(late.live));
        if (!inDoubt() || (await old.keepalive.whenDoubtOver())) return;
        this.onLost(old, `${reason}; a second connection ${failure ? `failed too (${failure})` : 'was not up either'}`);
        return;
      }
      if ('live' in outcome) spare = outcome.live;
      else failure = outcome.error;
      if (!inDoubt()) {
        if (spare) closeSpare(spare);
        return;
      }
      if (spare) break;
      if (doubtOver) {
        // The second connection may fail for the reason the first is slow (a bloated queue
        // holds its SYN too): the old one got the same longer wait it would get without a keeper.
        if (await old.keepalive.whenDoubtOver()) return;
        this.onLost(old, `${reason}; a second connection failed too (${failure})`);
        return;
      }
      // Still in doubt: try again at the path-down cadence (about once a second), so that a
      // path that comes back during the wait (an outage that ended, a router back up) is taken
      // at once instead of after the whole wait. The riders are held meanwhile, nothing is cut.
      const gap = new Deferred<void>();
      const timer = this.clock.timeout(() => gap.resolve(), this.pathDownDelay(startedAt));
      await Promise.race([gap.promise, overSignal.promise]);
      timer.dispose();
      if (!inDoubt()) return;
      if (doubtOver) {
        if (await old.keepalive.whenDoubtOver()) return;
        this.onLost(old, `${reason}; a second connection failed too (${failure})`);
        return;
      }
    }
    // The first connection may be late rather than cut (slow, lossy, a reply queued behind an
    // upload): then it keeps its place for a while (spareDecision.ts), with the spare ready to
    // take over the moment that wait ends in silence. A stalled server process, whose kernel
    // still acknowledges our bytes, is given up after the short grace.
    const verdict = spareVerdict({
      lossyLately: old.keepalive.lossyLately,
      uploadMoving: old.keepalive.uploadMovingSinceMiss,
      everythingAcknowledged: old.keepalive.everythingAcknowledged,
      missedDeadlineMs: old.keepalive.missedDeadlineMs,
      spareRttMs: spare.keepalive.rttMs,
    });
    let answered: Promise<unknown> | undefined;
    if (verdict.kind === 'longer-wait') {
      this.deps.logger.debug(`the second connection is up, but ${verdict.why}: the first keeps its longer wait`);
      answered = old.keepalive.whenDoubtOver();
    } else if (verdict.kind === 'grace') {
      this.deps.logger.debug(`the second connection is up, but ${verdict.why}: ${ACKED_GRACE_MS} ms more for its reply`);
      const graceOver = new Deferred<void>();
      const timer = this.clock.timeout(() => graceOver.resolve(), ACKED_GRACE_MS);
      const recovered = old.keepalive.onDidRecover(() => graceOver.resolve());
      answered = Promise.race([graceOver.promise, overSignal.promise]).finally(() => {
        timer.dispose();
        recovered.dispose();
      });
    }
    if (answered) {
      await answered;
      if (!inDoubt() || (doubtOver && (await old.keepalive.whenDoubtOver()))) {
        this.deps.logger.debug('the first connection answered: the second is not needed, closed');
        spare.keepalive.dispose();
        spare.chain.dispose();
        return;
      }
    }
    this.deps.logger.info(`the second connection is up ${this.clock.now() - since} ms after the first stopped answering: it takes over`);
    // The old path's silence before its unanswered probe is still a measurement of this network
    // when the spare went through at its first try (not after an outage), and the spare was
    // made before it: it takes the interval learned now.
    if (!failure) this.learnFromDeath(old);
    const intervalMs = this.deps.intervalLearner?.intervalFor(this.options.keepalive.intervalMs) ?? spare.intervalMs;
    spare.keepalive.retune(intervalMs);
    old.conn.end({ kind: 'lost', reason: `${reason}; replaced by a new connection` });
    this.adopt({ ...spare, intervalMs }, since);
  }

  /** Makes a measured connection the session's: state `connected`, riders get its scope. */
  private adopt(live: Live, replacedSince?: number): void {
    const { conn, chain, keepalive } = live;
    // Ended last first: the keepalive stops, listeners go, then the ssh2 chain is torn down.
    conn.add(toDisposable(() => chain.dispose()));
    const onClose = () => this.onLost(live, 'the server closed the connection', true);
    const onError = (err: Error & { level?: string }) => this.deps.logger.debug(`client error: ${err.message}`);
    chain.client.on('close', onClose);
    chain.client.on('error', onError);
    conn.add(
      toDisposable(() => {
        chain.client.removeListener('close', onClose);
        chain.client.removeListener('error', onError);
      }),
    );
    conn.add(keepalive);
    // Bytes that were flowing and stop are probed at once (a stalled download is not a person pausing).
    conn.add(
      new StallDetector(
        chain.transport,
        (silentMs) => {
          this.deps.logger.debug(`a flow stopped ${silentMs} ms ago: probing`);
          void keepalive.demandProbe();
        },
        () => keepalive.rttMs,
        undefined,
        this.clock,
      ),
    );
    keepalive.onDidProbe((p) => this.probeEmitter.fire(p), conn);
    keepalive.onDidDie((reason) => {
      this.learnFromDeath(live, false);
      this.onLost(live, reason);
    }, conn);
    keepalive.suspectOnMiss = () => conn.prefersMakeBeforeBreak && !this.disposables.isDisposed;
    keepalive.onDidSuspect((reason) => this.onSuspect(live, reason), conn);
    keepalive.onDidRecover(() => this.onRecover(live), conn);
    this.deps.keepaliveTuner?.attach(chain.transport, keepalive, conn);
    conn.add(this.clock.timeout(() => this.backoff.reset(), this.options.stableAfterMs));

    const restored = conn.restored;
    const lostAt = replacedSince ?? this.lostAt;
    const now = this.clock.now();
    const restoredAfterMs = restored && lostAt !== undefined ? now - lostAt : undefined;
    this.everConnected = true;
    const rttMs = keepalive.rttMs;
    this.transition({ state: { kind: 'connected', since: now, rttMs, restoredAfterMs }, live });
    const line = restored ? `restored after ${restoredAfterMs} ms` : `connected to ${this.host.hostName}:${this.host.port}`;
    // Once the server's idle-close policy is recognised, each restore is expected, not news.
    if (this.idleCloses.quiet) this.deps.logger.debug(line);
    else this.deps.logger.info(line);
    this.firstConnect.resolve();
    this.connectEmitter.fire(conn);
  }

  /** A connected client died (or was dropped on purpose): record why and reconnect. */
  private onLost(live: Live, reason: string, closedByServer = false): void {
    if (!('live' in this.phase) || this.phase.live !== live) return; // a superseded connection's callback
    if (this.disposables.isDisposed) return;
    const lostAt = this.clock.now();
    const connectedMs = this.phase.state.kind === 'connected' ? lostAt - this.phase.state.since : undefined;
    // A connection that ended without an unanswered probe survived its silences: relax a little.
    if (connectedMs !== undefined && live.keepalive.silenceBeforeUnansweredMs === undefined) this.deps.intervalLearner?.onSurvived(connectedMs);
    const idle = this.idleCloses.onLoss(closedByServer, connectedMs);
    if (idle.kind === 'explain') this.deps.logger.warn(idle.message);
    if (idle.kind === 'normal') this.deps.logger.warn(`connection lost: ${reason}`);
    else this.deps.logger.debug(`connection lost: ${reason}`);
    this.transition({ state: { kind: 'lost', reason, at: lostAt }, lostAt });
    live.conn.end({ kind: 'lost', reason });
    this.runLoop(true);
  }

  /**
   * A keepalive death after a silence is a measurement of this network's idle timeout (see
   * IntervalLearner); any other end of a long connection lets a learned interval relax.
   */
  private learnFromDeath(live: Live, pathProven = true): void {
    const silence = live.keepalive.silenceBeforeUnansweredMs;
    if (!this.deps.intervalLearner || silence === undefined) return;
    // Only once a new connection went through at the first try: an idle timeout forgets one
    // flow and leaves the path up, an outage that came after a quiet moment (Wi-Fi gone for a
    // minute) stops the next connection too and says nothing about idle timeouts.
    if (!pathProven) {
      this.pendingSilenceMs = silence;
      return;
    }
    this.learnIdleDeath(silence);
  }

  private learnIdleDeath(silenceMs: number): void {
    const said = this.deps.intervalLearner?.onIdleDeath(silenceMs, this.options.keepalive.intervalMs);
    if (said) this.deps.logger.warn(said);
  }

  /**
   * After a reconnect attempt: the lesson of the death before it (learnFromDeath) is learned
   * when this first attempt went through, and forgotten when any attempt failed.
   */
  private settleLesson(): void;
  private settleLesson(firstAttemptLive: Live): Live;
  private settleLesson(firstAttemptLive?: Live): Live | undefined {
    const silence = this.pendingSilenceMs;
    this.pendingSilenceMs = undefined;
    if (silence === undefined || !firstAttemptLive) return firstAttemptLive;
    this.learnIdleDeath(silence);
    // The new connection was made before the lesson: it takes the interval learned now.
    const intervalMs = this.deps.intervalLearner?.intervalFor(this.options.keepalive.intervalMs) ?? firstAttemptLive.intervalMs;
    firstAttemptLive.keepalive.retune(intervalMs);
    return { ...firstAttemptLive, intervalMs };
  }

  private drop(reason: string): void {
    if ('live' in this.phase) this.onLost(this.phase.live, reason);
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
          globalKnownHostsFiles: hop.globalKnownHostsFiles ?? this.host.globalKnownHostsFiles,
          hashKnownHosts: hop.hashKnownHosts ?? this.host.hashKnownHosts,
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
    if (this.phase.state.kind === 'closed') return;
    const live = 'live' in this.phase ? this.phase.live : undefined;
    this.firstConnect.reject(new SessionError('cancelled', 'the session was closed'));
    this.transition({ state: { kind: 'closed' } });
    live?.conn.end({ kind: 'closed', reason: 'the session was closed' });
    this.pendingKick?.dispose();
    this.sleeping?.resolve();
    this.disposables.dispose();
  }
}

function pausedError(alias: string): SessionError {
  return new SessionError('cancelled', `reconnecting to ${alias} is paused; Resume Reconnecting (or Reconnect) goes on`, { fatal: true });
}

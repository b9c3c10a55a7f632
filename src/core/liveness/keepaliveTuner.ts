import * as net from 'node:net';
import type { Duplex } from 'node:stream';
import { type Disposable, toDisposable } from '../base/disposable';
import { Emitter, type Event } from '../base/event';
import { probeIdleFlow, type IdleFlowOutcome } from './idleFlowProbe';
import { type IdleTimeoutBounds, type IdleTimeoutSearchOptions, searchIdleTimeout } from './idleTimeoutSearch';
import { describeLearned, type IntervalLearner, refreshIntervalFor } from './intervalLearner';

/**
 * The opt-in learned keepalive (`--learn-keepalive`, `sshKeepalive.keepalive.learn`): finds
 * how long the network keeps an idle flow (idleTimeoutSearch.ts, on disposable flows, so the
 * main connection is never the one that dies), then keeps the NAT's entry fresh with the
 * kernel's TCP keepalive at a margin under that, and sends SSH-level probes only rarely.
 *
 * Why the kernel's keepalive: any packet of the flow refreshes a NAT's entry, and at a 60 s
 * NAT a refresher must come every < 60 s whatever it is. An SSH keepalive exchange is about
 * 240 B on the wire (and wakes this process); a TCP keepalive is one empty segment each way
 * (about 52 B + 52 B with timestamps) sent by the kernel. Node's setKeepAlive(true, ms) sets
 * TCP_KEEPIDLE to the delay and, in libuv >= 1.45 (node 20 ships 1.46), TCP_KEEPINTVL = 1 s and
 * TCP_KEEPCNT = 10: a probe that goes unanswered (the NAT forgot the flow, the path is down)
 * makes the kernel fail the socket with ETIMEDOUT about ten seconds later. That is also the
 * idle death detector, so SSH-level probes are needed only to check the server itself (a hung
 * sshd behind a live TCP stack): every `sshIntervalMs` (10 min by default). A demand probe
 * still checks the path within about a second when someone uses it.
 *
 * Back off at the first sign of a drop: an ETIMEDOUT on a refreshed connection is reported to
 * the learner as an idle death at the refresh interval, which forgets the measurement and
 * falls back to the death rule (a fraction of that silence), and the next connection
 * measures again. Wake-ups and network changes start a new measurement (the key, see
 * networkKey.ts, changes with the network, so another network's lesson is never used).
 * Needs a direct TCP connection: through ProxyJump or ProxyCommand the flow the NAT sees is
 * not this process's socket.
 */
export interface KeepaliveTunerOptions {
  /** SSH-level probe interval while the kernel refreshes the NAT (ms). */
  sshIntervalMs: number;
  /** How long a disposable flow waits for sshd's banner and for the reply after its silence. */
  replyWaitMs: number;
  search: Partial<IdleTimeoutSearchOptions>;
}

export const defaultKeepaliveTunerOptions: KeepaliveTunerOptions = {
  sshIntervalMs: 10 * 60_000,
  replyWaitMs: 5000,
  search: {},
};

export type TunerEvent =
  | { kind: 'learning'; message: string }
  | { kind: 'progress'; message: string; survivedMs: number; diesAfterMs?: number; intervalMs: number }
  | { kind: 'learned'; message: string; survivedMs: number; diesAfterMs?: number; intervalMs: number }
  | { kind: 'dropped'; message: string; intervalMs: number }
  | { kind: 'unavailable'; message: string };

/** What the tuner changes on a connection's keepalive. */
export interface TunableKeepalive {
  retune(intervalMs: number): void;
}

/** The probe of one silence; a seam for tests. */
export type FlowProber = (address: { host: string; port: number }, silenceMs: number, signal: AbortSignal) => Promise<IdleFlowOutcome>;

interface Attached {
  readonly socket: net.Socket;
  readonly keepalive: TunableKeepalive;
  refreshMs: number | undefined;
}

export class KeepaliveTuner implements Disposable {
  private readonly emitter = new Emitter<TunerEvent>();
  readonly onDidTune: Event<TunerEvent> = this.emitter.event;
  private readonly options: KeepaliveTunerOptions;
  private current: Attached | undefined;
  private search: AbortController | undefined;
  /** Set by a wake-up or a network change: the next attach (or the current connection) measures again. */
  private stale = false;
  private toldUnavailable = false;
  private disposed = false;

  constructor(
    private readonly learner: IntervalLearner,
    private readonly configuredIntervalMs: () => number,
    options: Partial<KeepaliveTunerOptions> = {},
    private readonly prober: FlowProber = defaultProber(options.replyWaitMs ?? defaultKeepaliveTunerOptions.replyWaitMs),
  ) {
    this.options = { ...defaultKeepaliveTunerOptions, ...options };
  }

  /**
   * A new connection is live. `transport` is the ssh2 client's transport: a TCP socket for a
   * direct connection. `scope` ends with the connection.
   */
  attach(transport: Duplex, keepalive: TunableKeepalive, scope: { add(d: Disposable): unknown }): void {
    if (this.disposed) return;
    if (!(transport instanceof net.Socket) || !transport.remoteAddress || !transport.remotePort) {
      if (!this.toldUnavailable) {
        this.toldUnavailable = true;
        this.emitter.fire({
          kind: 'unavailable',
          message: 'learning the keepalive interval needs a direct TCP connection (not ProxyJump or ProxyCommand): the configured interval is used',
        });
      }
      return;
    }
    const a: Attached = { socket: transport, keepalive, refreshMs: undefined };
    this.current = a;
    const onError = (err: NodeJS.ErrnoException) => {
      if (err.code === 'ETIMEDOUT' && a.refreshMs !== undefined) this.onDrop(a.refreshMs);
    };
    transport.on('error', onError);
    scope.add(
      toDisposable(() => {
        transport.removeListener('error', onError);
        if (this.current === a) this.current = undefined;
      }),
    );
    const learned = this.learner.learned;
    if (learned?.survivedMs !== undefined) this.apply(a, learned.intervalMs);
    if (learned?.survivedMs === undefined || this.stale) this.measure({ host: transport.remoteAddress, port: transport.remotePort });
  }

  /** The machine woke up or its network changed: measure again (on the current connection, or the next). */
  relearn(): void {
    this.stale = true;
    this.search?.abort();
    this.search = undefined;
    const a = this.current;
    if (a?.socket.remoteAddress && a.socket.remotePort) this.measure({ host: a.socket.remoteAddress, port: a.socket.remotePort });
  }

  /** The refresh interval on the current connection (undefined when the kernel is not refreshing it). */
  get refreshIntervalMs(): number | undefined {
    return this.current?.refreshMs;
  }

  private apply(a: Attached, refreshMs: number): void {
    a.refreshMs = refreshMs;
    a.socket.setKeepAlive(true, refreshMs);
    const configured = this.configuredIntervalMs();
    // 0 means the user wants no periodic probes at all: the kernel's refresh is all there is.
    a.keepalive.retune(configured > 0 ? Math.max(configured, this.options.sshIntervalMs) : 0);
  }

  private measure(address: { host: string; port: number }): void {
    if (this.search || this.disposed) return;
    this.stale = false;
    const controller = (this.search = new AbortController());
    this.emitter.fire({
      kind: 'learning',
      message: `measuring how long this network keeps an idle flow (disposable connections to ${address.host}:${address.port})`,
    });
    const onProgress = (b: IdleTimeoutBounds) => {
      if (controller.signal.aborted || b.survivedMs <= 0) return;
      const intervalMs = refreshIntervalFor(b.survivedMs);
      // Grow only: a refresh proven by a survived silence; never lengthen past a known death.
      const a = this.current;
      if (a && (a.refreshMs === undefined || intervalMs > a.refreshMs) && (b.diesAfterMs === undefined || intervalMs < b.diesAfterMs))
        this.apply(a, intervalMs);
      this.emitter.fire({
        kind: 'progress',
        message: `an idle flow survived ${Math.round(b.survivedMs / 1000)} s`,
        survivedMs: b.survivedMs,
        diesAfterMs: b.diesAfterMs,
        intervalMs,
      });
    };
    void searchIdleTimeout((silenceMs, signal) => this.prober(address, silenceMs, signal), this.options.search, onProgress, controller.signal).then((b) => {
      if (this.search === controller) this.search = undefined;
      if (controller.signal.aborted || this.disposed) return;
      const said = this.learner.onMeasured(b.survivedMs, b.diesAfterMs);
      const learned = this.learner.learned;
      if (!said || !learned || learned.survivedMs === undefined) {
        // Inconclusive (the path was down right after a wake-up, sshd refused): try again on the next connection.
        this.stale = true;
        this.emitter.fire({
          kind: 'unavailable',
          message:
            'could not measure how long this network keeps an idle flow (sshd did not answer the disposable connections): the configured interval is used',
        });
        return;
      }
      if (this.current) this.apply(this.current, learned.intervalMs);
      this.emitter.fire({ kind: 'learned', message: said, survivedMs: b.survivedMs, diesAfterMs: b.diesAfterMs, intervalMs: learned.intervalMs });
    });
  }

  private onDrop(refreshMs: number): void {
    // A measurement still running would only overwrite the back-off: the next connection measures again.
    this.search?.abort();
    this.search = undefined;
    const said = this.learner.onIdleDeath(refreshMs, this.configuredIntervalMs());
    const learned = this.learner.learned;
    this.emitter.fire({
      kind: 'dropped',
      message: `a connection refreshed every ${Math.round(refreshMs / 100) / 10} s was dropped: backing off${said ? ` (${said})` : ''}; the next connection measures again`,
      intervalMs: learned?.intervalMs ?? this.configuredIntervalMs(),
    });
  }

  /** In words, for a tooltip: what was measured on this network, if anything. */
  get described(): string | undefined {
    const learned = this.learner.learned;
    return learned && describeLearned(learned);
  }

  dispose(): void {
    this.disposed = true;
    this.search?.abort();
    this.search = undefined;
    this.current = undefined;
    this.emitter.dispose();
  }
}

function defaultProber(replyWaitMs: number): FlowProber {
  return (address, silenceMs, signal) => probeIdleFlow({ connect: () => net.connect(address), silenceMs, replyWaitMs, signal });
}

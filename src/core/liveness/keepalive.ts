import type { Duplex } from 'node:stream';
import type { Client } from 'ssh2';
import { type Clock, orAfter, systemClock } from '../base/clock';
import { Deferred } from '../base/deferred';
import type { Disposable } from '../base/disposable';
import { Emitter, type Event } from '../base/event';
import { LossMemory } from './lossMemory';
import { acknowledgedSince, type OutboundSample, sampleOutbound, UPLOAD_AHEAD_BYTES } from './outbound';
import { sendProbe } from './probe';
import { RttEstimator } from './rttEstimator';

export interface KeepaliveOptions {
  /** ServerAliveInterval in ms (0 disables periodic probes; demand probes still work). */
  intervalMs: number;
  /** ServerAliveCountMax: this many unanswered intervals in a row mean the path is dead. */
  countMax: number;
  /** Floor for a demand probe's deadline. */
  demandMinMs: number;
  /**
   * A demand probe's deadline is max(demandMinMs, SRTT + demandRttFactor x RTTVAR), TCP's
   * retransmission timeout (RFC 6298, K = 4), at most demandMaxMs.
   */
  demandRttFactor: number;
  /** Cap of a demand probe's deadline; default DEMAND_MAX_MS. */
  demandMaxMs?: number;
  /** Quiet for this long before a user action triggers a demand probe. */
  quietMs: number;
}

/**
 * Cap of a demand probe's deadline: a person waiting should hear `checking` within seconds,
 * even when a few slow round trips (TCP resends) have inflated the estimate.
 */
export const DEMAND_MAX_MS = 3000;
/** After a miss, the path gets this many deadlines more before it is lost (see Keepalive.suspect). */
export const DOUBT_DEADLINES = 6;
/** Cap of the longer wait after a miss (DOUBT_DEADLINES deadlines, or the kernel's next resend and its RTO). */
export const DOUBT_MAX_MS = 10_000;
/**
 * The longer wait of a connection that lost packets lately (lossMemory.ts): a miss there has
 * already cost three sends of the probe (it, and TCP's resends after about 200 and 600 ms),
 * and each further resend (1.4, 3, 6.2, 12.6 s after it) fails again one time in four at 15 %
 * loss (the segment or its answer lost): waiting out the first three costs one false
 * reconnect in 45 misses, the first four one in 160.
 */
export const LOSSY_DOUBT_DEADLINES = 12;
export const LOSSY_DOUBT_MAX_MS = 13_000;

/** How long a missed probe's path gets to answer before it is lost (see Keepalive.suspect). */
export function doubtWaitMs(deadlineMs: number, lossy: boolean, tcpDueMs = 0): number {
  const [deadlines, capMs] = lossy ? [LOSSY_DOUBT_DEADLINES, LOSSY_DOUBT_MAX_MS] : [DOUBT_DEADLINES, DOUBT_MAX_MS];
  return Math.min(capMs, Math.max(deadlines * deadlineMs, tcpDueMs));
}

export const defaultKeepaliveOptions: KeepaliveOptions = {
  intervalMs: 15_000,
  countMax: 3,
  demandMinMs: 1000,
  demandRttFactor: 4,
  quietMs: 1000,
};

export interface ProbeResult {
  rttMs: number;
  /** delivery: asked for by `confirmDelivery` (a terminal proving its keys arrived). */
  kind: 'periodic' | 'demand' | 'initial' | 'delivery';
}

/**
 * Watches one connected ssh2 Client. OpenSSH semantics for death: any packet received
 * proves the path, and `countMax` consecutive intervals with a probe outstanding and
 * nothing received declare it dead. Unlike ssh2's built-in keepalive, every reply is
 * timed (the RTT users see), and `demandProbe` answers "is it alive right now?" within
 * about a second when a person is waiting.
 */
export class Keepalive implements Disposable {
  private readonly deadEmitter = new Emitter<string>();
  readonly onDidDie: Event<string> = this.deadEmitter.event;
  private readonly probeEmitter = new Emitter<ProbeResult>();
  readonly onDidProbe: Event<ProbeResult> = this.probeEmitter.event;
  private readonly suspectEmitter = new Emitter<string>();
  /**
   * A demand probe missed its deadline: the path is in doubt, not dead. When `suspectOnMiss`
   * says so, the owner checks it another way (a new connection beside this one); otherwise
   * the keepalive gives it six deadlines more (see `suspect`). Anything received from
   * then on fires onDidRecover; the periodic rule may still declare it dead.
   */
  readonly onDidSuspect: Event<string> = this.suspectEmitter.event;
  private readonly recoverEmitter = new Emitter<void>();
  readonly onDidRecover: Event<void> = this.recoverEmitter.event;
  /** Asked at a demand probe's miss: true when the owner settles the doubt (a second connection). */
  suspectOnMiss: () => boolean = () => false;
  /** Without an owner settling the doubt: the end of the longer wait, after which the path is dead. */
  private graceTimer: Disposable | undefined;
  /** The earlier look at a suspected path whose bytes are not acknowledged (see suspect()). */
  private cutCheckTimer: Disposable | undefined;
  /** The current doubt's longer wait: true when the path answered, false when it ended in silence. */
  private doubtOver: Deferred<boolean> | undefined;
  /** Set while suspected: resolves true when the path answers, false when it is given up. */
  private suspected: Deferred<boolean> | undefined;
  /** While suspected: what the kernel said of our outbound bytes at the miss, and the deadline missed. */
  private miss: { sample: OutboundSample | undefined; deadlineMs: number } | undefined;

  private lastReceived: number;
  private misses = 0;
  private outstandingSince: number | undefined;
  /** When the latest probe went out: a miss is an interval with nothing received since then. */
  private lastSentAt = 0;
  private smoothedRtt: number | undefined;
  /** SRTT and RTTVAR as TCP keeps them: the demand deadline (the display keeps smoothedRtt). */
  private readonly rtt = new RttEstimator();
  private timer: Disposable | undefined;
  private demand: Promise<boolean> | undefined;
  /** The earliest user action not yet followed by anything received, and its check. */
  private activitySince: number | undefined;
  private activityTimer: Disposable | undefined;
  private dead = false;
  /** Whether this connection lost packets lately while it worked: a miss then is not a cut. */
  private readonly loss: LossMemory;
  private readonly onData = () => {
    this.lastReceived = this.clock.now();
    if (this.suspected) this.recover();
  };

  constructor(
    private readonly client: Client,
    private readonly transport: Duplex,
    private readonly options: KeepaliveOptions,
    private readonly clock: Clock = systemClock,
    /** Reads what the kernel says of our outbound bytes (outbound.ts); replaced in tests. */
    private readonly sample: (transport: Duplex) => OutboundSample | undefined = sampleOutbound,
  ) {
    this.lastReceived = clock.now();
    this.loss = new LossMemory(clock, () => this.sample(this.transport));
    this.intervalMs = options.intervalMs;
    transport.on('data', this.onData);
    if (this.intervalMs > 0) this.schedule(this.intervalMs);
  }

  /** ServerAliveInterval in use; `retune` may lower it once the network's idle timeout is known. */
  private intervalMs: number;

  /**
   * Uses `intervalMs` from now on: a connection made before this network's idle timeout was
   * learned (the spare of a make-before-break) must not keep the interval that just failed.
   */
  retune(intervalMs: number): void {
    if (this.dead || intervalMs <= 0 || intervalMs === this.intervalMs) return;
    this.intervalMs = intervalMs;
    this.timer?.dispose();
    this.schedule(Math.max(0, intervalMs - (this.clock.now() - this.lastReceived)));
  }

  /** The interval in use now (after any retune). */
  get currentIntervalMs(): number {
    return this.intervalMs;
  }

  get rttMs(): number | undefined {
    return this.smoothedRtt === undefined ? undefined : Math.round(this.smoothedRtt * 10) / 10;
  }

  get lastContact(): number {
    return this.lastReceived;
  }

  /** One probe right away, e.g. to report the RTT as soon as the session is up. */
  async measure(kind: ProbeResult['kind'] = 'initial', timeoutMs = 5000): Promise<number | undefined> {
    const reply = sendProbe(this.client, this.clock);
    if (!reply) return undefined;
    const rtt = await orAfter(this.clock, reply, timeoutMs, undefined);
    if (rtt !== undefined) this.record(rtt, kind);
    return rtt;
  }

  private schedule(ms: number): void {
    this.timer = this.clock.timeout(() => this.check(), ms);
  }

  /**
   * As OpenSSH's ServerAliveInterval: a probe goes out only after intervalMs with nothing
   * received, and anything received starts the wait again, so a busy connection sends none.
   */
  private check(): void {
    if (this.dead) return;
    const silentMs = this.clock.now() - this.lastReceived;
    if (silentMs < this.intervalMs) return this.schedule(this.intervalMs - silentMs);
    this.tick();
    if (!this.dead) this.schedule(this.intervalMs);
  }

  private tick(): void {
    const now = this.clock.now();
    // Compared with the latest probe, not the oldest unanswered one: bytes that arrived after
    // an old probe (whose reply was lost with the path) must not keep a silent path alive.
    if (this.outstandingSince !== undefined && this.lastReceived < this.lastSentAt) {
      this.misses++;
      if (this.misses >= this.options.countMax) {
        const silentS = Math.round((now - this.lastReceived) / 100) / 10;
        this.die(`no reply to ${this.misses} keepalives (silent for ${silentS} s)`);
        return;
      }
    } else {
      this.misses = 0;
    }
    // The reply is handled in send(); a periodic probe has nobody waiting on it.
    void this.send('periodic');
  }

  private send(kind: ProbeResult['kind']): Promise<number | undefined> | undefined {
    const reply = sendProbe(this.client, this.clock);
    if (!reply) return undefined;
    const sentAt = this.clock.now();
    this.lastSentAt = sentAt;
    if (this.outstandingSince === undefined) this.outstandingSince = sentAt;
    const watch = this.loss.watch();
    void reply.then((rtt) => {
      if (rtt === undefined) return watch.dispose(); // the connection closed: no reply, nothing proven
      // Replies are FIFO: once this one is in, nothing sent before it is outstanding.
      if (this.outstandingSince !== undefined && this.outstandingSince <= sentAt) this.outstandingSince = undefined;
      this.misses = 0;
      watch.answered(rtt);
      this.record(rtt, kind);
    });
    return reply;
  }

  private record(rttMs: number, kind: ProbeResult['kind']): void {
    this.lastReceived = this.clock.now();
    this.smoothedRtt = this.smoothedRtt === undefined ? rttMs : 0.75 * this.smoothedRtt + 0.25 * rttMs;
    this.rtt.add(rttMs);
    this.probeEmitter.fire({ rttMs: Math.round(rttMs * 10) / 10, kind });
  }

  /**
   * Sends a probe now; true when its reply comes back, false when the connection closes first.
   * SSH is one ordered stream and the server answers in order, so the reply proves that every
   * byte written to the transport before this call reached the server (the tmux fallback keeps
   * a terminal's keys until then, to replay them after a reconnect). A probe left unanswered
   * counts as a miss like any other.
   */
  confirmDelivery(): Promise<boolean> {
    if (this.dead) return Promise.resolve(false);
    const reply = this.send('delivery');
    return reply ? reply.then((rtt) => rtt !== undefined) : Promise.resolve(false);
  }

  /**
   * How long the path had been silent when the oldest unanswered probe went out (undefined
   * when none is unanswered): after a death, the silence that this path did not survive.
   */
  get silenceBeforeUnansweredMs(): number | undefined {
    if (this.outstandingSince === undefined || this.lastReceived >= this.outstandingSince) return undefined;
    return this.outstandingSince - this.lastReceived;
  }

  /** True when data arrived within `quietMs`: no need to probe before a user action. */
  get recentlyHeard(): boolean {
    return this.clock.now() - this.lastReceived < this.options.quietMs;
  }

  /**
   * A user action went out (a key, a forwarded client's bytes). On a path quiet for quietMs,
   * probe now. Otherwise the path was alive a moment ago, which does not prove it still is (a
   * router that rebooted a second ago): when nothing at all arrives soon after the action (no
   * echo, no reply: a few RTTs, at least a quarter of demandMinMs, at most quietMs), probe
   * then. A dead path is found either way about a second after the first key, and a live one
   * costs nothing (its echo arrives first).
   */
  noteActivity(): void {
    if (this.dead) return;
    if (!this.recentlyHeard) {
      void this.demandProbe();
      return;
    }
    // An earlier action is still unanswered: its check covers this one.
    if (this.activitySince !== undefined && this.lastReceived <= this.activitySince) return;
    const since = this.clock.now();
    this.activitySince = since;
    this.activityTimer?.dispose();
    this.activityTimer = this.clock.timeout(() => {
      this.activityTimer = undefined;
      this.activitySince = undefined;
      if (!this.dead && this.lastReceived <= since) void this.demandProbe();
    }, this.answerWaitMs);
  }

  /** How long an action may go unanswered before it is probed: its answer is due within an RTO. */
  private get answerWaitMs(): number {
    const { quietMs, demandMinMs, demandRttFactor } = this.options;
    return Math.min(quietMs, Math.max(demandMinMs / 4, this.rtt.timeoutMs(0, demandRttFactor, this.demandMaxMs)));
  }

  private get demandMaxMs(): number {
    return this.options.demandMaxMs ?? DEMAND_MAX_MS;
  }

  /**
   * The deadline a demand probe gets: TCP's retransmission timeout over this path's probe
   * RTTs (SRTT + 4 RTTVAR), so that a jittery or lossy path, whose replies wander, gets room
   * for the wandering and a steady one is judged soon; at least demandMinMs, at most demandMaxMs.
   */
  get demandDeadlineMs(): number {
    return this.rtt.timeoutMs(this.options.demandMinMs, this.options.demandRttFactor, this.demandMaxMs);
  }

  /**
   * Resolves true if the path answered within the demand deadline; after a miss, true when it
   * answers later after all, false once it is declared dead (see `suspect`). Concurrent
   * callers share one probe.
   * It probes even when data arrived a moment ago: a NAT that rebooted a second ago
   * leaves exactly that picture, and one probe per user action costs ~190 bytes.
   */
  demandProbe(): Promise<boolean> {
    if (this.dead) return Promise.resolve(false);
    // In doubt already: the answer is whatever settles the doubt.
    if (this.suspected) return this.suspected.promise;
    if (this.demand) return this.demand;
    const deadline = this.demandDeadlineMs;
    const outbound = this.sample(this.transport);
    const reply = this.send('demand');
    if (!reply) {
      this.die('transport is not writable');
      return Promise.resolve(false);
    }
    this.demand = orAfter(
      this.clock,
      reply.then((rtt) => rtt !== undefined),
      deadline,
      false,
    ).then((ok) => {
      this.demand = undefined;
      // Any packet during the wait also proves the path (e.g. a reply queued behind bulk data),
      // and so does the server acknowledging what we sent (the probe behind an upload: outbound.ts).
      if (!ok && this.clock.now() - this.lastReceived > deadline && !acknowledgedSince(outbound, this.sample(this.transport))) {
        if (this.dead) return false;
        return this.suspect(`no reply to a demand probe within ${deadline} ms`, deadline);
      }
      return true;
    });
    return this.demand;
  }

  /**
   * A missed demand probe is a doubt, not a verdict. A reply late by more than an RTO is what
   * a lossy path does too: the probe or its reply was lost and TCP resends it after its own
   * timeout (at least 200 ms on Linux, 1 s on some systems), doubling each time, so a single
   * reply can be seconds late while the path works (at 15 % loss, one probe in a few hundred
   * misses a 1 s deadline). The path gets six deadlines more (the server's TCP resends a lost
   * reply after 200-600 ms, doubling: three losses in a row of one segment cost up to 4 s, and
   * at 15 % loss that happens about once in 300 segments; four in a row, about once in 2000,
   * cost up to 9 s), or longer while our kernel is still due to resend (its next
   * retransmission and one RTO after it: a bloated queue's RTO is seconds); still silent then,
   * with nothing of ours acknowledged meanwhile, it is dead. So a dead path is said
   * (`checking`) one deadline after the user's action, about 1 s, and lost after seven, about
   * 7 s (ssh's ServerAlive 15 x 3: 45 s); a slow moment is never cut before that. A
   * connection that lost packets lately gets twelve deadlines (at most 13 s: see
   * LOSSY_DOUBT_DEADLINES), one that lost nothing and now has its few bytes unacknowledged
   * through the kernel's next resend is cut, given up then (about 2.5 s). When the owner has
   * a second connection to try (make-before-break) it decides, but gives the path up no sooner
   * (`whenDoubtOver`). Anything received settles the doubt (onDidRecover).
   */
  private suspect(reason: string, deadline: number): Promise<boolean> {
    const suspected = (this.suspected = new Deferred<boolean>());
    const over = (this.doubtOver = new Deferred<boolean>());
    const atMiss = this.sample(this.transport);
    this.miss = { sample: atMiss, deadlineMs: deadline };
    const tcpDue = atMiss?.retransmitInMs !== undefined && atMiss.rtoMs !== undefined ? atMiss.retransmitInMs + atMiss.rtoMs : 0;
    const graceMs = doubtWaitMs(deadline, this.loss.lossyLately, tcpDue);
    const giveUp = (why: string) => {
      over.resolve(false);
      if (!this.suspectOnMiss()) this.die(`${reason}, ${why}`);
    };
    this.graceTimer = this.clock.timeout(() => {
      this.graceTimer = undefined;
      if (this.suspected !== suspected) return;
      if (acknowledgedSince(atMiss, this.sample(this.transport))) return this.recover();
      giveUp(`nor in ${graceMs} ms more`);
    }, graceMs);
    // A few bytes of ours (a probe, keys) that the server's TCP has not acknowledged and the
    // kernel is resending, on a connection that lost nothing before: the picture of a cut path
    // (a router that rebooted drops them). Check once more after the kernel's next resend;
    // still nothing acknowledged, the path is given up now instead of after the longer wait.
    // A connection that lost packets lately gets the longer wait: on a lossy line the next
    // resend fails often enough (one in four at 15 % loss) to make this a false reconnect.
    if (this.cutLooksClean(atMiss)) {
      const checkMs = Math.min(graceMs, Math.max(deadline, tcpDue));
      this.cutCheckTimer = this.clock.timeout(() => {
        this.cutCheckTimer = undefined;
        if (this.suspected !== suspected) return;
        const now = this.sample(this.transport);
        const acked = now?.unacked !== undefined && now.handedOn - now.unacked > atMiss.handedOn - atMiss.unacked;
        if (acked) return;
        this.graceTimer?.dispose();
        this.graceTimer = undefined;
        giveUp(`and the server acknowledged none of our bytes within ${checkMs} ms more`);
      }, checkMs);
    }
    this.suspectEmitter.fire(reason);
    return suspected.promise;
  }

  /** Our few unacknowledged bytes are being resent, and the connection lost nothing lately. */
  private cutLooksClean(atMiss: OutboundSample | undefined): atMiss is OutboundSample & { unacked: number } {
    if (atMiss?.unacked === undefined || atMiss.retransmitInMs === undefined) return false;
    return atMiss.unacked > 0 && atMiss.unacked + atMiss.queued < UPLOAD_AHEAD_BYTES && !this.loss.lossyLately;
  }

  /**
   * True when this connection lost packets lately while it worked (lossMemory.ts): a missed
   * probe then is most likely a lossy moment, and an owner replacing the connection should
   * let it have its longer wait first.
   */
  get lossyLately(): boolean {
    return this.loss.lossyLately;
  }

  /**
   * While in doubt: resolves when the longer wait is over, true if the path answered (or the
   * server acknowledged our bytes), false if it stayed silent or the keepalive ended. An owner
   * that settles the doubt itself gives the path up no sooner, so that a lossy or bloated path
   * gets the same time to answer with or without a keeper. Not in doubt: true at once.
   */
  whenDoubtOver(): Promise<boolean> {
    return this.suspected && this.doubtOver ? this.doubtOver.promise : Promise.resolve(true);
  }

  /**
   * True when the server's TCP has acknowledged everything we wrote (Linux, a direct socket):
   * the path to the server carries our bytes, so a missing reply is late (resent behind a loss,
   * or the server is busy), not lost with the path. False when unknown.
   */
  get everythingAcknowledged(): boolean {
    const sample = this.sample(this.transport);
    return sample?.unacked === 0 && sample.queued === 0;
  }

  /** While in doubt: the deadline the demand probe missed. */
  get missedDeadlineMs(): number | undefined {
    return this.miss?.deadlineMs;
  }

  /**
   * While in doubt, with an upload of ours ahead of the missed probe: true when the server
   * acknowledged some of it since the miss (outbound.ts). The path carries our bytes; the
   * reply is queued behind them, not lost.
   */
  get uploadMovingSinceMiss(): boolean {
    return this.miss !== undefined && acknowledgedSince(this.miss.sample, this.sample(this.transport));
  }

  /** True between a suspected miss and the next packet (or the end). */
  get isSuspect(): boolean {
    return this.suspected !== undefined;
  }

  /** The path answered while in doubt: lossy or slow, not cut (and remembered as such). */
  private recover(): void {
    this.loss.noteLoss();
    this.endDoubt(true);
    this.recoverEmitter.fire();
  }

  private die(reason: string): void {
    if (this.dead) return;
    this.dead = true;
    this.endDoubt(false);
    this.deadEmitter.fire(reason);
  }

  /** Ends the current doubt, if any: its timers stop and everyone waiting on it hears `answered`. */
  private endDoubt(answered: boolean): void {
    const { suspected, doubtOver } = this;
    this.suspected = undefined;
    this.doubtOver = undefined;
    this.miss = undefined;
    this.graceTimer?.dispose();
    this.graceTimer = undefined;
    this.cutCheckTimer?.dispose();
    this.cutCheckTimer = undefined;
    doubtOver?.resolve(answered);
    suspected?.resolve(answered);
  }

  dispose(): void {
    this.dead = true;
    this.endDoubt(false);
    this.timer?.dispose();
    this.activityTimer?.dispose();
    this.transport.removeListener('data', this.onData);
    for (const e of [this.deadEmitter, this.probeEmitter, this.suspectEmitter, this.recoverEmitter]) e.dispose();
  }
}

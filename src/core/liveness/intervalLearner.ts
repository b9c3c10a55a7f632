import { networkKey } from './networkKey';

/**
 * Learns how long this network lets a connection sit idle, and keeps the keepalive interval
 * under it. A connection that died while only keepalives flowed is a measurement: the
 * silence before the first unanswered probe was too long for some NAT or firewall on the
 * path, so that silence is an upper bound for its idle timeout. The next connection uses a
 * fraction of it, never below a floor (a flood is worse than a drop), and the interval
 * relaxes slowly again (towards half the bound) while connections keep surviving.
 * Remembered per network (networkKey: the default gateway and the machine's addresses), in
 * memory or in `store` (learnedPathStore.ts: a file for the CLI, globalState in VS Code), so a
 * network's lesson holds for the next run too.
 *
 * The opt-in learned keepalive (`--learn-keepalive`) learns the other way round, upwards and
 * without a death: `onMeasured` keeps what disposable flows survived (idleTimeoutSearch.ts says
 * why the main connection is never the one tested, keepaliveTuner.ts why the NAT is then
 * refreshed by the kernel's TCP keepalive). A death on a measured network forgets the
 * measurement (`onIdleDeath`): back off first, measure again on the next connection.
 */
export interface LearnedPath {
  /** The shortest silence after which a connection on this network died, ms (Infinity: none died). */
  readonly diesAfterMs: number;
  /** The interval in use for this network, ms. */
  readonly intervalMs: number;
  /**
   * The longest silence a disposable flow was seen to survive (the opt-in idle-timeout search,
   * see idleTimeoutSearch.ts); `intervalMs` is then the NAT refresh interval derived from it.
   */
  readonly survivedMs?: number;
}

export interface LearnedPathStore {
  get(network: string): LearnedPath | undefined;
  set(network: string, learned: LearnedPath): void;
}

export interface IntervalLearnerOptions {
  /** Never probe more often than this (ms). */
  floorMs: number;
  /** The interval after a death is the silence that killed it divided by this. */
  safetyDivisor: number;
  /** A connection that stayed up this long (ms) lets the interval grow by `relaxFactor`. */
  relaxAfterMs: number;
  relaxFactor: number;
  /** Relaxing stops at this fraction of the silence known to kill. */
  relaxCapFraction: number;
  /** Silences shorter than this prove nothing about idle timeouts (ms). */
  minSilenceMs: number;
}

export const defaultIntervalLearnerOptions: IntervalLearnerOptions = {
  floorMs: 2000,
  safetyDivisor: 4,
  relaxAfterMs: 10 * 60_000,
  relaxFactor: 1.25,
  relaxCapFraction: 0.5,
  minSilenceMs: 2000,
};

export function memoryStore(): LearnedPathStore {
  const map = new Map<string, LearnedPath>();
  return { get: (k) => map.get(k), set: (k, v) => void map.set(k, v) };
}

export class IntervalLearner {
  private readonly options: IntervalLearnerOptions;

  constructor(
    private readonly store: LearnedPathStore = memoryStore(),
    options: Partial<IntervalLearnerOptions> = {},
    private readonly network: () => string = networkKey,
  ) {
    this.options = { ...defaultIntervalLearnerOptions, ...options };
  }

  /** What is known about the current network, if anything. */
  get learned(): LearnedPath | undefined {
    return this.store.get(this.network());
  }

  /** The interval for a new connection: the configured one, or the learned one when lower. */
  intervalFor(configuredMs: number): number {
    const learned = this.learned;
    if (!learned || configuredMs <= 0) return configuredMs;
    return Math.min(configuredMs, learned.intervalMs);
  }

  /**
   * A connection died after `silenceMs` without a packet while only keepalives flowed.
   * Returns the sentence to tell the user, or undefined when nothing was learned.
   */
  onIdleDeath(silenceMs: number, configuredMs: number): string | undefined {
    if (configuredMs <= 0 || silenceMs < this.options.minSilenceMs) return undefined;
    const key = this.network();
    const before = this.store.get(key);
    // A measured record met a drop: the NAT changed, or the margin was too thin. Back off to
    // the death's rule (the measurement is forgotten, so the next connection measures again).
    const diesAfterMs = before?.survivedMs !== undefined ? silenceMs : Math.min(before?.diesAfterMs ?? Infinity, silenceMs);
    const current = this.intervalFor(configuredMs);
    const intervalMs = Math.max(this.options.floorMs, Math.min(current, Math.round(diesAfterMs / this.options.safetyDivisor)));
    if (before && before.survivedMs === undefined && before.intervalMs === intervalMs && before.diesAfterMs === diesAfterMs) return undefined;
    this.store.set(key, { diesAfterMs, intervalMs });
    return describeLearned({ diesAfterMs, intervalMs });
  }

  /**
   * The idle-timeout search on disposable flows ended: `survivedMs` of silence is known to
   * survive, `diesAfterMs` (if any) to die. Stored for this network with the refresh interval
   * (a margin under the survived silence). Returns the sentence to tell the user.
   */
  onMeasured(survivedMs: number, diesAfterMs: number | undefined): string | undefined {
    if (survivedMs < this.options.minSilenceMs) return undefined;
    const learned: LearnedPath = { diesAfterMs: diesAfterMs ?? Infinity, intervalMs: refreshIntervalFor(survivedMs, this.options.floorMs), survivedMs };
    this.store.set(this.network(), learned);
    return describeLearned(learned);
  }

  /** A connection ended (not by an idle death) after `connectedMs`: relax a learned interval a little. */
  onSurvived(connectedMs: number): void {
    if (connectedMs < this.options.relaxAfterMs) return;
    const key = this.network();
    const learned = this.store.get(key);
    // A measured interval is not relaxed: it is already as long as a flow was seen to survive.
    if (!learned || learned.survivedMs !== undefined) return;
    const cap = Math.max(this.options.floorMs, Math.round(learned.diesAfterMs * this.options.relaxCapFraction));
    const intervalMs = Math.min(cap, Math.round(learned.intervalMs * this.options.relaxFactor));
    if (intervalMs > learned.intervalMs) this.store.set(key, { ...learned, intervalMs });
  }
}

/**
 * The NAT refresh interval for a silence known to survive: a margin under it (10 %, at least
 * 2 s) for timer slack on both ends, never under the floor.
 */
export function refreshIntervalFor(survivedMs: number, floorMs = defaultIntervalLearnerOptions.floorMs): number {
  // Whole seconds: TCP_KEEPIDLE is in seconds (node's setKeepAlive drops the rest).
  return Math.max(floorMs, Math.floor((survivedMs - Math.max(2000, survivedMs * 0.1)) / 1000) * 1000);
}

/**
 * "this network drops idle connections after at most 15 s; keepalive every 3.8 s" (learned
 * from a death), or, measured on disposable flows, "this network drops idle flows after about
 * 60 s (survived 55 s); keepalive every 49.5 s".
 */
export function describeLearned(l: LearnedPath): string {
  const s = (ms: number) => `${Math.round(ms / 100) / 10} s`;
  if (l.survivedMs !== undefined) {
    const drops = Number.isFinite(l.diesAfterMs)
      ? `this network drops idle flows after about ${s(l.diesAfterMs)} (survived ${s(l.survivedMs)})`
      : `this network keeps idle flows for at least ${s(l.survivedMs)}`;
    return `${drops}; keepalive every ${s(l.intervalMs)}`;
  }
  return `this network drops idle connections after at most ${s(l.diesAfterMs)}; keepalive every ${s(l.intervalMs)}`;
}

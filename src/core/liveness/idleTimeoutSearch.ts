import type { IdleFlowOutcome } from './idleFlowProbe';

/**
 * Finds how long this network lets an idle TCP flow live, by probing disposable flows (see
 * idleFlowProbe.ts) while the main connection keeps its safe interval.
 *
 * Why not grow the main connection's interval until a probe fails: the first failure is the
 * NAT having forgotten the main flow, which is exactly the drop this project exists to
 * prevent (make-before-break would bridge it with a second connection, but every channel
 * open on the old one is cut unless it rides the keeper, and the learner would have to do it
 * again on every network and after every wake). A disposable flow to the same server port
 * crosses the same NATs and firewalls, is tracked by them like the main one, and may die
 * without harm. sshd's LoginGraceTime (120 s by default) ends an unauthenticated flow, so a
 * silence can be tested only up to a little below it; a network that keeps flows longer than
 * that is simply "at least `capMs`".
 *
 * The search runs in rounds of a few probes in parallel (sshd's MaxStartups starts refusing
 * unauthenticated connections at 10 by default, so at most `parallel`). The first round
 * spreads probes geometrically from `minMs` to `capMs`; each later round spreads them evenly
 * between the longest silence that survived (`survivedMs`) and the shortest that did not
 * (`diesAfterMs`). As soon as one silence dies, the longer ones of its round are cancelled
 * (they would die too). Every survival is reported at once (`onProgress`), so the caller can
 * lengthen the main interval while the search goes on: the interval grows while a probe after
 * that much silence still gets its reply. The search ends when the gap is within `resolution`
 * of the bound, or after `maxRounds`.
 *
 * The price: about ten unauthenticated connections per network (sshd logs each as closed
 * [preauth]; a fail2ban jail in its aggressive mode could count them), which is one reason it
 * is opt-in. A server whose LoginGraceTime is shorter than a silence closes that flow during
 * the silence: 'unknown', and the result is then "at least" the longest silence it allowed.
 */
export interface IdleTimeoutSearchOptions {
  minMs: number;
  capMs: number;
  parallel: number;
  maxRounds: number;
  /** Stop when diesAfterMs - survivedMs <= max(resolutionMs, resolutionFraction x diesAfterMs). */
  resolutionMs: number;
  resolutionFraction: number;
}

export const defaultIdleTimeoutSearchOptions: IdleTimeoutSearchOptions = {
  minMs: 15_000,
  // sshd's default LoginGraceTime is 120 s; a few seconds under it for the reply to come back.
  capMs: 115_000,
  parallel: 5,
  maxRounds: 3,
  resolutionMs: 5000,
  resolutionFraction: 0.15,
};

export interface IdleTimeoutBounds {
  /** The longest silence a flow survived (0: none yet). */
  survivedMs: number;
  /** The shortest silence after which a flow was dropped (undefined: none dropped up to the cap). */
  diesAfterMs: number | undefined;
}

/** One disposable-flow probe of `silenceMs`; aborting it makes it resolve 'unknown'. */
export type SilenceProbe = (silenceMs: number, signal: AbortSignal) => Promise<IdleFlowOutcome>;

/** The silences of one round: geometric from min to cap in the first, even inside the gap after. */
export function roundSilences(bounds: IdleTimeoutBounds, o: IdleTimeoutSearchOptions, first: boolean): number[] {
  const n = o.parallel;
  if (first) {
    const ratio = (o.capMs / o.minMs) ** (1 / Math.max(1, n - 1));
    return Array.from({ length: n }, (_, i) => Math.round(o.minMs * ratio ** i));
  }
  const lo = Math.max(bounds.survivedMs, o.minMs / 2);
  const hi = bounds.diesAfterMs ?? o.capMs;
  // Fewer probes when the gap is narrow: none closer than a second to each other.
  const k = Math.max(1, Math.min(n, Math.floor((hi - lo) / 1000) - 1));
  return Array.from({ length: k }, (_, i) => Math.round(lo + ((hi - lo) * (i + 1)) / (k + 1)));
}

export function searchDone(b: IdleTimeoutBounds, o: IdleTimeoutSearchOptions): boolean {
  if (b.diesAfterMs === undefined) return b.survivedMs >= roundSilences(b, o, true).at(-1)!; // survived the cap
  return b.diesAfterMs - b.survivedMs <= Math.max(o.resolutionMs, o.resolutionFraction * b.diesAfterMs);
}

/**
 * Runs the search; resolves with what is known when it ends (or is aborted). `onProgress`
 * is called after every outcome that moved a bound.
 */
export async function searchIdleTimeout(
  probe: SilenceProbe,
  options: Partial<IdleTimeoutSearchOptions> = {},
  onProgress: (b: IdleTimeoutBounds) => void = () => undefined,
  signal?: AbortSignal,
): Promise<IdleTimeoutBounds> {
  const o = { ...defaultIdleTimeoutSearchOptions, ...options };
  const b: IdleTimeoutBounds = { survivedMs: 0, diesAfterMs: undefined };
  const survived: number[] = [];
  for (let round = 0; round < o.maxRounds && !signal?.aborted; round++) {
    const silences = roundSilences(b, o, round === 0).filter((s) => s > b.survivedMs && (b.diesAfterMs === undefined || s < b.diesAfterMs));
    if (silences.length === 0) break;
    const controllers = silences.map(() => new AbortController());
    const stopAll = () => controllers.forEach((c) => c.abort());
    signal?.addEventListener('abort', stopAll);
    let unknowns = 0;
    await Promise.all(
      silences.map(async (s, i) => {
        const outcome = await probe(s, controllers[i].signal);
        if (outcome === 'unknown') {
          if (!controllers[i].signal.aborted) unknowns++;
          return;
        }
        if (outcome === 'survived') survived.push(s);
        if (outcome === 'dropped' && (b.diesAfterMs === undefined || s < b.diesAfterMs)) {
          b.diesAfterMs = s;
          // Longer silences of this round would only die too.
          silences.forEach((t, j) => t > s && controllers[j].abort());
        }
        // A NAT that dropped a shorter silence than one that survived is not trusted above it.
        b.survivedMs = Math.max(0, ...survived.filter((t) => b.diesAfterMs === undefined || t < b.diesAfterMs));
        onProgress({ ...b });
      }),
    );
    signal?.removeEventListener('abort', stopAll);
    // Nothing measurable (sshd refuses, LoginGraceTime shorter than the silences): stop here.
    if (unknowns === silences.length) break;
    if (searchDone(b, o)) break;
  }
  return { ...b };
}

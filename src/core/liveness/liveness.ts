/**
 * What is known about a connected path, from when the server was last heard. "Alive" is a
 * claim: it holds only while something arrived within the keepalive interval plus a few
 * round trips (a keepalive's reply is due by then). Past that nothing is known, and the UI
 * says so instead of showing the last RTT as if it were current.
 */
export type Liveness = { readonly kind: 'alive' } | { readonly kind: 'unconfirmed'; readonly lastHeard: number; readonly silentMs: number };

/** Without periodic keepalives (interval 0) silence proves nothing for this long. */
export const NO_KEEPALIVE_WINDOW_MS = 60_000;

/** How long after the last packet the path still counts as alive: interval + max(1 s, 4 RTTs). */
export function aliveWindowMs(intervalMs: number, rttMs: number | undefined): number {
  const slack = Math.max(1000, 4 * (rttMs ?? 0));
  return (intervalMs > 0 ? intervalMs : NO_KEEPALIVE_WINDOW_MS) + slack;
}

/** The one definition of alive vs unconfirmed (status bar, tree, CLI events all use it). */
export function livenessOf(lastHeard: number | undefined, now: number, intervalMs: number, rttMs: number | undefined): Liveness {
  if (lastHeard === undefined) return { kind: 'alive' };
  const silentMs = Math.max(0, now - lastHeard);
  return silentMs <= aliveWindowMs(intervalMs, rttMs) ? { kind: 'alive' } : { kind: 'unconfirmed', lastHeard, silentMs };
}

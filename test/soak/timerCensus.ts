/**
 * Counts every pending timer in the process, referenced or not. process.getActiveResourcesInfo()
 * lists only timers that keep the event loop alive, and the engine unrefs most of its own (a
 * keepalive must not keep a CLI from exiting), so a leak of those would not show there.
 * Install before the code under test runs: it wraps the global setTimeout and setInterval.
 */
const created = new Set<NodeJS.Timeout>();

export function installTimerCensus(): void {
  const realSetTimeout = globalThis.setTimeout;
  const realSetInterval = globalThis.setInterval;
  const track = <F extends (...args: never[]) => NodeJS.Timeout>(real: F): F =>
    ((...args: Parameters<F>) => {
      const t = real(...args);
      created.add(t);
      return t;
    }) as F;
  globalThis.setTimeout = Object.assign(track(realSetTimeout as never), realSetTimeout);
  globalThis.setInterval = Object.assign(track(realSetInterval as never), realSetInterval);
}

/** Timers that have neither fired (one-shot) nor been cleared. */
export function pendingTimers(): number {
  for (const t of created) {
    // Node marks a Timeout destroyed when it has fired for the last time or was cleared.
    if ((t as unknown as { _destroyed?: boolean })._destroyed) created.delete(t);
  }
  return created.size;
}

/** Pending timers grouped by period and callback (for finding a leak), e.g. "15000 ms check". */
export function pendingTimerKinds(): Record<string, number> {
  pendingTimers();
  const out: Record<string, number> = {};
  for (const t of created) {
    const raw = t as unknown as { _idleTimeout?: number; _repeat?: number | null; _onTimeout?: { name?: string; toString(): string } };
    const fn = raw._onTimeout;
    const name = fn?.name || fn?.toString().replace(/\s+/g, ' ').slice(0, 60) || '?';
    const key = `${raw._idleTimeout} ms${raw._repeat ? ' repeating' : ''} ${name}`;
    out[key] = (out[key] ?? 0) + 1;
  }
  return out;
}

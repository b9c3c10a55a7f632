/** Median of a non-empty list (the lower middle for an even count: a value that was measured). */
export function median(xs: number[]): number {
  return percentile(xs, 50);
}

/** The p-th percentile by nearest rank. */
export function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const sorted = [...xs].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

/**
 * Runs `fn` once per tool and run, alternating which tool goes first, so that drift on shared
 * cores (another process waking up) lands on both sides alike.
 */
export async function alternated<T, R>(tools: readonly T[], runs: number, fn: (tool: T, run: number) => Promise<R>): Promise<Map<T, R[]>> {
  const results = new Map<T, R[]>(tools.map((t) => [t, []]));
  for (let run = 0; run < runs; run++) {
    const order = run % 2 === 0 ? tools : [...tools].reverse();
    for (const tool of order) results.get(tool)!.push(await fn(tool, run));
  }
  return results;
}

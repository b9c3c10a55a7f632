/** The soak's verdict and its table: restored cycles, restore times, and growth of what the process holds. */
import type { ResourceCounts } from './soakDriver';
import type { SoakResult } from './soak';

/** Heap may wander this much between the first and the last cycle (after a forced GC) before it counts as growth. */
export function heapMarginBytes(firstHeap: number): number {
  return Math.max(2 * 2 ** 20, firstHeap * 0.1);
}

function percentile(sorted: number[], p: number): number | undefined {
  if (!sorted.length) return undefined;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

interface Row {
  what: string;
  first: number;
  last: number;
  /** Growth allowed from first to last. */
  allowed: number;
  unit?: 'MiB';
}

/**
 * The heap is judged from the end of the warm-up: over the first cycles V8 compiles the
 * reconnect path (baseline and optimised code, feedback vectors: about 1 MiB, which is what
 * `test/soak/heapDiff.ts` shows between cycle 2 and cycle 40; no object of ours grows).
 */
export const HEAP_WARMUP_CYCLES = 5;

function rows(first: ResourceCounts, last: ResourceCounts, warm: ResourceCounts): Row[] {
  const kinds = [...new Set([...Object.keys(first.resources), ...Object.keys(last.resources)])].sort();
  return [
    { what: 'file descriptors (/proc/self/fd)', first: first.fds, last: last.fds, allowed: 0 },
    ...kinds.map((k) => ({ what: `active ${k} (getActiveResourcesInfo)`, first: first.resources[k] ?? 0, last: last.resources[k] ?? 0, allowed: 0 })),
    { what: 'pending timers, referenced or not', first: first.timers, last: last.timers, allowed: 0 },
    { what: 'emitter listeners', first: first.listeners, last: last.listeners, allowed: 0 },
    { what: 'heap after GC (after cycle 1; not judged: JIT warm-up)', first: first.heapUsed, last: last.heapUsed, allowed: Infinity, unit: 'MiB' },
    {
      what: `heap after GC (after cycle ${HEAP_WARMUP_CYCLES} -> end)`,
      first: warm.heapUsed,
      last: last.heapUsed,
      allowed: heapMarginBytes(warm.heapUsed),
      unit: 'MiB',
    },
    { what: 'RSS (not judged)', first: first.rss, last: last.rss, allowed: Infinity, unit: 'MiB' },
  ];
}

/**
 * The end state: per figure the least over the last three cycles. A timer or socket that is
 * merely in flight at one count (a keystroke's answer timer, a request) is not held; one that
 * leaks each cycle is there at all three.
 */
function settledLast(counts: ResourceCounts[]): ResourceCounts | undefined {
  const tail = counts.slice(-3);
  if (!tail.length) return undefined;
  const least = (f: (c: ResourceCounts) => number) => Math.min(...tail.map(f));
  const kinds = new Set(tail.flatMap((c) => Object.keys(c.resources)));
  const resources: Record<string, number> = {};
  for (const k of kinds) resources[k] = least((c) => c.resources[k] ?? 0);
  return {
    fds: least((c) => c.fds),
    resources,
    timers: least((c) => c.timers),
    timerKinds: tail.at(-1)!.timerKinds,
    listeners: least((c) => c.listeners),
    heapUsed: least((c) => c.heapUsed),
    rss: least((c) => c.rss),
  };
}

export interface SoakVerdict {
  ok: boolean;
  problems: string[];
  table: string;
}

export function judge(result: SoakResult): SoakVerdict {
  const { cycles, options } = result;
  const problems: string[] = [];
  const restored = cycles.filter((c) => c.restored);
  for (const c of cycles) if (!c.restored) problems.push(`cycle ${c.cycle} (outage ${c.outageMs} ms) not restored: ${c.problem}`);
  const times = restored.map((c) => c.restoreMs ?? 0).sort((a, b) => a - b);
  const first = cycles[0]?.counts;
  const last = settledLast(cycles.map((c) => c.counts).filter((c): c is ResourceCounts => c !== undefined));
  const fmt = (r: Row, v: number) => (r.unit === 'MiB' ? `${(v / 2 ** 20).toFixed(1)} MiB` : String(v));
  const lines = [
    `soak: ${options.cycles} cycles, seed ${options.seed}, outages ${options.minOutageSec}-${options.maxOutageSec} s (log-uniform), ${options.keeper ? 'on the session keeper' : 'without the keeper'}`,
    '',
    '| figure | value |',
    '|---|---|',
    `| cycles | ${cycles.length} |`,
    `| restored | ${restored.length}/${cycles.length} |`,
    `| outage total | ${(cycles.reduce((s, c) => s + c.outageMs, 0) / 60000).toFixed(1)} min |`,
    `| restore time median / p99 / max | ${percentile(times, 50) ?? '-'} / ${percentile(times, 99) ?? '-'} / ${times.at(-1) ?? '-'} ms |`,
    `| stream connections broken (-L / -D) | ${result.streamErrors.L} / ${result.streamErrors.D} |`,
    `| echoed lines out of order | ${result.outOfOrder} |`,
    `| shell counter values missed | ${options.keeper ? result.missedTicks : 'n/a (no keeper)'} |`,
  ];
  if (options.keeper) {
    // The keeper's promise: nothing the person typed or received is lost, no connection cut.
    if (result.streamErrors.L || result.streamErrors.D)
      problems.push(`streams broke on the keeper path: -L ${result.streamErrors.L}, -D ${result.streamErrors.D}`);
    if (result.missedTicks) problems.push(`${result.missedTicks} shell counter values never arrived`);
  }
  if (result.outOfOrder) problems.push(`${result.outOfOrder} echoed lines out of order`);
  if (first && last) {
    lines.push('', '| held by the process | after cycle 1 | at the end (least of the last 3 cycles) | allowed growth |', '|---|---|---|---|');
    const warm = cycles[Math.min(HEAP_WARMUP_CYCLES, cycles.length) - 1].counts!;
    for (const r of rows(first, last, warm)) {
      lines.push(`| ${r.what} | ${fmt(r, r.first)} | ${fmt(r, r.last)} | ${r.allowed === Infinity ? '-' : fmt(r, r.allowed)} |`);
      if (r.last - r.first > r.allowed) problems.push(`${r.what} grew from ${fmt(r, r.first)} to ${fmt(r, r.last)}`);
    }
  }
  return { ok: problems.length === 0, problems, table: lines.join('\n') };
}

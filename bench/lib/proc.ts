import { readdirSync, readFileSync } from 'node:fs';

/**
 * CPU time a process used so far, in ms, summed over its threads from /proc/<pid>/task/<tid>/schedstat
 * (nanoseconds on the CPU: far finer than the 10 ms ticks of /proc/<pid>/stat, which round an
 * idle ssh down to 0). Threads that already ended are not counted: both tools keep theirs.
 */
export function cpuMs(pid: number): number {
  let ns = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // the thread ended between the listing and the read
    }
  }
  return ns / 1e6;
}

/** Resident set size of a process, in KiB. */
export function rssKiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

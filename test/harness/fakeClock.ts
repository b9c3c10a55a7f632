import type { Clock } from '../../src/core/base/clock';
import { type Disposable, toDisposable } from '../../src/core/base/disposable';

interface Timer {
  readonly id: number;
  at: number;
  readonly fn: () => void;
  readonly every?: number;
}

/**
 * A Clock whose time moves only when a test says so. Timers fire in time order during
 * `advance`; between two timers the real event loop turns a few times, so that real I/O
 * (a loopback ssh2 server) and promise continuations run as they would have.
 */
export class FakeClock implements Clock {
  private time: number;
  private seq = 0;
  private timers: Timer[] = [];

  constructor(start = Date.now()) {
    this.time = start;
  }

  now(): number {
    return this.time;
  }

  monotonic(): number {
    return this.time;
  }

  timeout(fn: () => void, ms: number): Disposable {
    return this.add({ id: ++this.seq, at: this.time + Math.max(0, ms), fn });
  }

  interval(fn: () => void, ms: number): Disposable {
    const every = Math.max(1, ms);
    return this.add({ id: ++this.seq, at: this.time + every, fn, every });
  }

  /** Timers not yet fired or cancelled (leak checks). */
  get pending(): number {
    return this.timers.length;
  }

  /** Milliseconds until the next timer, or undefined when none is pending. */
  get nextIn(): number | undefined {
    const next = this.earliest();
    return next === undefined ? undefined : next.at - this.time;
  }

  /** Moves time on by `ms`, firing each timer that falls due, in order. */
  async advance(ms: number): Promise<void> {
    const end = this.time + ms;
    await turns();
    for (;;) {
      const next = this.earliest();
      if (!next || next.at > end) break;
      this.time = next.at;
      if (next.every) next.at += next.every;
      else this.timers = this.timers.filter((t) => t !== next);
      next.fn();
      await turns();
    }
    this.time = end;
    await turns();
  }

  private add(timer: Timer): Disposable {
    this.timers.push(timer);
    return toDisposable(() => {
      this.timers = this.timers.filter((t) => t !== timer);
    });
  }

  private earliest(): Timer | undefined {
    let best: Timer | undefined;
    for (const t of this.timers) if (!best || t.at < best.at || (t.at === best.at && t.id < best.id)) best = t;
    return best;
  }
}

/** Lets the real event loop run: promise continuations and pending I/O callbacks. */
export async function turns(n = 5): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

/** Waits on the real clock until `predicate` holds (I/O with a real peer), failing with `what`. */
export async function until(what: string, predicate: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise<void>((resolve) => setTimeout(resolve, 5));
  }
}

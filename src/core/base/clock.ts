import { type Disposable, toDisposable } from './disposable';

/**
 * Time as the core sees it. Production code uses `systemClock`; tests pass a fake one
 * (test/harness/fakeClock.ts) and move time on by hand, so that backoff, keepalive and
 * the session's state machine are tested without sleeping on the wall clock.
 */
export interface Clock {
  /** Milliseconds since the epoch, as Date.now(). */
  now(): number;
  /** Milliseconds on a monotonic clock, with a fraction: what a round trip is measured with. */
  monotonic(): number;
  /** Calls `fn` once after `ms`; disposing the handle cancels it. */
  timeout(fn: () => void, ms: number): Disposable;
  /** Calls `fn` every `ms` until the handle is disposed. */
  interval(fn: () => void, ms: number): Disposable;
}

/**
 * Node's timers overflow above 2^31-1 ms (about 24.8 days) and then fire after 1 ms: a
 * huge ServerAliveInterval must not turn into a timer that fires at once, forever.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** `ms` as a delay any Node timer can wait (0 .. MAX_TIMER_MS). */
export const boundTimerMs = (ms: number): number => Math.min(Math.max(0, ms), MAX_TIMER_MS);
const bounded = boundTimerMs;

/**
 * The real clock. Its timers are unref'd: a pending retry, keepalive or deadline never
 * keeps a process alive on its own (sockets, listeners and terminals do).
 */
export const systemClock: Clock = {
  now: () => Date.now(),
  monotonic: () => performance.now(),
  timeout(fn, ms) {
    const handle = setTimeout(fn, bounded(ms));
    handle.unref();
    return toDisposable(() => clearTimeout(handle));
  },
  interval(fn, ms) {
    const handle = setInterval(fn, Math.max(1, bounded(ms)));
    handle.unref();
    return toDisposable(() => clearInterval(handle));
  },
};

/**
 * Settles as `promise` does, or with `fallback` after `ms` on `clock`, whichever comes first.
 * Unlike a race with sleep(), the timer ends with the race: a probe answered in 2 ms must not
 * leave a 15 s timer behind (a soak counts them, and each one wakes the process for nothing).
 */
export function orAfter<T, F>(clock: Clock, promise: Promise<T>, ms: number, fallback: F): Promise<T | F> {
  return new Promise<T | F>((resolve, reject) => {
    const timer = clock.timeout(() => resolve(fallback), ms);
    promise.then(
      (value) => {
        timer.dispose();
        resolve(value);
      },
      (err: unknown) => {
        timer.dispose();
        reject(err instanceof Error ? err : new Error(String(err)));
      },
    );
  });
}

import { type Clock, systemClock } from './clock';
import type { Disposable } from './disposable';
import type { Event } from './event';

export interface DeadlineOptions<T> {
  timeoutMs: number;
  /** The error when the deadline passes first; also the place to abandon the operation. */
  onTimeout: () => Error;
  /**
   * Releases a result that arrives after the promise settled (a channel whose open was
   * answered after the deadline has no owner any more: close it).
   */
  discardLate?: (value: T) => void;
  /** Give up early when this fires (e.g. the connection the operation rides on ended). */
  cancelOn?: { event: Event<unknown>; error: () => Error };
  clock?: Clock;
}

/** The callback an operation calls once with its outcome. */
export type Done<T> = (err: Error | null | undefined, value?: T) => void;

/**
 * Runs a callback-style operation (ssh2's `exec`, `forwardOut`, `shell`...) under a
 * deadline. Whatever comes first settles the promise: the operation's callback, the
 * deadline, or `cancelOn`. A late success is handed to `discardLate` so nothing leaks, and
 * a synchronous throw (ssh2 throws when its socket is already gone) is a rejection.
 */
export function withDeadline<T>(start: (done: Done<T>, isSettled: () => boolean) => void, options: DeadlineOptions<T>): Promise<T> {
  const clock = options.clock ?? systemClock;
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    const subscriptions: Disposable[] = [];
    const settle = (fn: () => void) => {
      if (settled) return false;
      settled = true;
      subscriptions.forEach((d) => d.dispose());
      fn();
      return true;
    };
    subscriptions.push(clock.timeout(() => settle(() => reject(options.onTimeout())), options.timeoutMs));
    if (options.cancelOn) {
      const { event, error } = options.cancelOn;
      subscriptions.push(event(() => settle(() => reject(error()))));
    }
    const done: Done<T> = (err, value) => {
      if (err) {
        settle(() => reject(err));
        return;
      }
      if (!settle(() => resolve(value as T)) && value !== undefined) options.discardLate?.(value);
    };
    try {
      start(done, () => settled);
    } catch (err) {
      settle(() => reject(err instanceof Error ? err : new Error(String(err))));
    }
  });
}

import type { Event } from '../../src/core/base/event';

/**
 * Waits in tests that end: every wait has a deadline and, when it passes, fails with a
 * message naming what was awaited, so a broken behaviour is a red test with a reason
 * instead of a run that hangs until someone kills it.
 */

/** `promise`, or a rejection "timed out after N ms waiting for <what>". */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

/** The first event that satisfies `predicate`, or a rejection naming `what` after `ms`. */
export function eventWithin<T>(event: Event<T>, predicate: (e: T) => boolean, ms: number, what: string): Promise<T> {
  let sub: { dispose(): void } | undefined;
  const seen = new Promise<T>((resolve) => {
    sub = event((e) => {
      if (predicate(e)) resolve(e);
    });
  });
  return within(seen, ms, what).finally(() => sub?.dispose());
}

/** Polls `condition` every 20 ms until it holds, or rejects naming `what` after `ms`. */
export async function until(condition: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

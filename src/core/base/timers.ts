import { type Disposable, toDisposable } from './disposable';

/**
 * A setTimeout that is owned like any other resource. Ref'd by default (it keeps the
 * process alive until it fires); pass `unref` for a timer that must not, e.g. a retry.
 */
export function disposableTimeout(fn: () => void, ms: number, unref = false): Disposable {
  const handle = setTimeout(fn, ms);
  if (unref) handle.unref();
  return toDisposable(() => clearTimeout(handle));
}

import { type Disposable, toDisposable } from './disposable';

/** A setTimeout that is owned like any other resource. Unref'd: a pending retry must not keep a CLI alive on its own. */
export function disposableTimeout(fn: () => void, ms: number, unref = false): Disposable {
  const handle = setTimeout(fn, ms);
  if (unref) handle.unref();
  return toDisposable(() => clearTimeout(handle));
}

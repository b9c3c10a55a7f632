import { type Disposable, toDisposable } from './disposable';

/** Something that collects disposables, e.g. a DisposableStore or a plain array. */
export type DisposableSink = { add(d: Disposable): unknown } | Disposable[];

/**
 * Subscribes `listener`; the returned handle unsubscribes. With `disposables`, the handle
 * is also added there, so an owner can subscribe and forget (as vscode-js-debug's events).
 */
export type Event<T> = (listener: (e: T) => void, disposables?: DisposableSink) => Disposable;

export function addTo(sink: DisposableSink | undefined, d: Disposable): void {
  if (!sink) return;
  if (Array.isArray(sink)) sink.push(d);
  else sink.add(d);
}

/**
 * Listeners subscribed to any Emitter in this process and not yet disposed: a leak check for
 * soaks (a count that grows with each reconnect is a subscription nobody disposes).
 */
let liveListeners = 0;
export function liveListenerCount(): number {
  return liveListeners;
}

/** A minimal typed event emitter in the style of vscode.EventEmitter, without vscode. */
export class Emitter<T> implements Disposable {
  private listeners = new Set<(e: T) => void>();
  private disposed = false;

  readonly event: Event<T> = (listener, disposables) => {
    // Each subscription is its own entry, so subscribing one function twice needs two disposes.
    const entry = (e: T) => listener(e);
    if (!this.disposed) {
      this.listeners.add(entry);
      liveListeners++;
    }
    const handle = toDisposable(() => {
      if (this.listeners.delete(entry)) liveListeners--;
    });
    addTo(disposables, handle);
    return handle;
  };

  /** How many listeners are subscribed (for leak checks in tests and soaks). */
  get listenerCount(): number {
    return this.listeners.size;
  }

  fire(e: T): void {
    for (const listener of [...this.listeners]) {
      // A listener removed by an earlier one during this fire is not called.
      if (!this.listeners.has(listener)) continue;
      try {
        listener(e);
      } catch (err) {
        // A faulty listener must not break the state machine that fired the event.
        queueMicrotask(() => {
          throw err;
        });
      }
    }
  }

  dispose(): void {
    this.disposed = true;
    liveListeners -= this.listeners.size;
    this.listeners.clear();
  }
}

/** Resolves with the first event that satisfies `predicate`, or rejects after `timeoutMs`. */
export function waitForEvent<T>(event: Event<T>, predicate: (e: T) => boolean, timeoutMs: number, what = 'event'): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      sub.dispose();
      reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
    }, timeoutMs);
    const sub = event((e) => {
      if (!predicate(e)) return;
      clearTimeout(timer);
      sub.dispose();
      resolve(e);
    });
  });
}

import { type Disposable, toDisposable } from './disposable';

export type Event<T> = (listener: (e: T) => void) => Disposable;

/** A minimal typed event emitter in the style of vscode.EventEmitter, without vscode. */
export class Emitter<T> implements Disposable {
  private listeners = new Set<(e: T) => void>();

  readonly event: Event<T> = (listener) => {
    this.listeners.add(listener);
    return toDisposable(() => this.listeners.delete(listener));
  };

  fire(e: T): void {
    for (const listener of [...this.listeners]) {
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
    this.listeners.clear();
  }
}

/** Resolves with the first event that satisfies `predicate`, or rejects after `timeoutMs`. */
export function waitForEvent<T>(event: Event<T>, predicate: (e: T) => boolean, timeoutMs: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      sub.dispose();
      reject(new Error(`timed out after ${timeoutMs} ms waiting for event`));
    }, timeoutMs);
    const sub = event((e) => {
      if (!predicate(e)) return;
      clearTimeout(timer);
      sub.dispose();
      resolve(e);
    });
  });
}

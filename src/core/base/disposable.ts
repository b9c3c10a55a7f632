/** Something that holds a resource (timer, socket, listener, channel) and can let it go. */
export interface Disposable {
  dispose(): void;
}

export function toDisposable(fn: () => void): Disposable {
  let done = false;
  return {
    dispose() {
      if (done) return;
      done = true;
      fn();
    },
  };
}

/**
 * Disposables held by every DisposableStore in this process: a leak check for soaks (a count
 * that grows with each reconnect is something added to a store that outlives its purpose).
 */
let heldByStores = 0;
export function heldDisposableCount(): number {
  return heldByStores;
}

/**
 * Owns a set of disposables and disposes them in reverse order of addition, so that
 * what was built last (and may depend on earlier things) goes first.
 */
export class DisposableStore implements Disposable {
  private readonly items: Disposable[] = [];
  private disposed = false;

  get isDisposed(): boolean {
    return this.disposed;
  }

  add<T extends Disposable>(item: T): T {
    if (this.disposed) {
      item.dispose();
    } else {
      this.items.push(item);
      heldByStores++;
    }
    return item;
  }

  /** Disposes everything held so far but stays usable. */
  clear(): void {
    const items = this.items.splice(0).reverse();
    heldByStores -= items.length;
    for (const item of items) {
      try {
        item.dispose();
      } catch {
        // One failing dispose must not leak the rest.
      }
    }
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.clear();
  }
}

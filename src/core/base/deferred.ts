/** A promise together with its resolve/reject, for joining an operation already in flight. */
export class Deferred<T> {
  readonly promise: Promise<T>;
  resolve!: (value: T) => void;
  reject!: (err: Error) => void;
  settled = false;

  constructor() {
    this.promise = new Promise<T>((resolve, reject) => {
      this.resolve = (v) => {
        this.settled = true;
        resolve(v);
      };
      this.reject = (e) => {
        this.settled = true;
        reject(e);
      };
    });
    // Callers that only join may never attach a handler; an unobserved rejection is not a crash.
    this.promise.catch(() => undefined);
  }
}

/**
 * Races `promise` against a timer. The timer is always cleared, and `onTimeout` runs so
 * the caller can tear down what the step was doing (a half-open socket must not linger).
 */
export function withDeadline<T>(promise: Promise<T>, ms: number, makeError: () => Error, onTimeout?: () => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      onTimeout?.();
      reject(makeError());
    }, ms);
    promise.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e) => {
        clearTimeout(timer);
        reject(e);
      },
    );
  });
}

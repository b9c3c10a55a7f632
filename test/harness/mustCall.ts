/**
 * Counted callbacks, as ssh2's test/common.js: `mustCall(fn, n)` wraps a callback that must
 * run exactly n times, `mustNotCall(why)` one that must never run; `verify()` (call it in
 * t.after or at the end of a test) fails with every mismatch, named.
 */
export class CallCounter {
  private readonly checks: Array<{ name: string; expected: number; actual: () => number }> = [];

  mustCall<A extends unknown[], R>(
    fn: (...args: A) => R = (() => undefined) as unknown as (...args: A) => R,
    expected = 1,
    name = fn.name || 'callback',
  ): (...args: A) => R {
    let calls = 0;
    this.checks.push({ name, expected, actual: () => calls });
    return (...args: A) => {
      calls++;
      return fn(...args);
    };
  }

  mustNotCall(why: string): (...args: unknown[]) => void {
    return this.mustCall(
      () => {
        throw new Error(`must not be called: ${why}`);
      },
      0,
      why,
    );
  }

  verify(): void {
    const wrong = this.checks.filter((c) => c.actual() !== c.expected).map((c) => `${c.name}: called ${c.actual()} time(s), expected ${c.expected}`);
    if (wrong.length) throw new Error(`counted callbacks: ${wrong.join('; ')}`);
  }
}

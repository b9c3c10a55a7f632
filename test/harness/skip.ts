import type { TestContext } from 'node:test';
import type { Availability } from '../../tools/peers/availability';

export type { Availability };

/**
 * Gate a test on a real peer. Where it is unavailable the test is skipped with the reason,
 * except under CI (`CI=true`), where a skip would hide that the suite did not really run:
 * there the test fails with the same reason.
 *
 * Returns true when the test may go on; after `false` the caller must return at once
 * (`t.skip()` marks the test but does not stop it).
 */
export function requireOrSkip(t: TestContext, check: Availability | (() => Availability)): boolean {
  const result = typeof check === 'function' ? check() : check;
  if (result.ok) {
    return true;
  }
  if (process.env.CI === 'true') {
    throw new Error(`required test peer unavailable under CI: ${result.reason}`);
  }
  t.skip(result.reason);
  return false;
}

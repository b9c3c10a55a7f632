import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Backoff } from '../../src/core/base/backoff';

test('backoff grows exponentially up to the cap, with full jitter', () => {
  const b = new Backoff({ initialMs: 1000, maxMs: 8000, factor: 2, minMs: 100 }, () => 1);
  assert.deepEqual([b.next(), b.next(), b.next(), b.next(), b.next()], [1000, 2000, 4000, 8000, 8000]);
  assert.equal(b.attempts, 5);
});

test('backoff jitter stays within [minMs, ceiling] and reset starts over', () => {
  let r = 0;
  const b = new Backoff({ initialMs: 1000, maxMs: 30_000, factor: 2, minMs: 250 }, () => r);
  assert.equal(b.next(), 250, 'zero jitter is floored at minMs so retries never spin');
  r = 0.5;
  assert.equal(b.next(), 1000);
  b.reset();
  assert.equal(b.attempts, 0);
  r = 0.999;
  assert.ok(b.next() <= 1000);
});

test('random jitter spreads delays', () => {
  const b = new Backoff({ initialMs: 1000, maxMs: 30_000, factor: 2, minMs: 0 });
  const seen = new Set<number>();
  for (let i = 0; i < 20; i++) {
    b.reset();
    seen.add(b.next());
  }
  assert.ok(seen.size > 5, `expected varied delays, got ${[...seen]}`);
});

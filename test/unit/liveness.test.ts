import assert from 'node:assert/strict';
import { test } from 'node:test';
import { aliveWindowMs, livenessOf } from '../../src/core/liveness/liveness';

test('the alive window is the keepalive interval plus max(1 s, 4 RTTs)', () => {
  assert.equal(aliveWindowMs(15_000, 2), 16_000);
  assert.equal(aliveWindowMs(15_000, 500), 17_000);
  assert.equal(aliveWindowMs(0, undefined), 61_000);
});

test('alive within the window, unconfirmed past it with the silence measured', () => {
  const now = 1_000_000;
  assert.deepEqual(livenessOf(now - 16_000, now, 15_000, 2), { kind: 'alive' });
  assert.deepEqual(livenessOf(now - 16_001, now, 15_000, 2), { kind: 'unconfirmed', lastHeard: now - 16_001, silentMs: 16_001 });
  assert.deepEqual(livenessOf(undefined, now, 15_000, 2), { kind: 'alive' });
});

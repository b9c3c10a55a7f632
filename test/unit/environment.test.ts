import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ENVIRONMENT_CHECK_MS, NetworkChangeDetector, WakeDetector } from '../../src/core/base/environment';
import { eventWithin, sleep } from '../harness/bounded';

test('WakeDetector fires on the wall clock running ahead of its timer, though the timer was on time', async () => {
  // Linux and macOS: the timers stand still in suspend, so after a 30 s sleep the timer fires
  // on time by its own clock and only the wall clock shows the sleep.
  let wallOffset = 0;
  const detector = new WakeDetector(40, 5000, () => Date.now() + wallOffset);
  try {
    const woke = eventWithin(detector.onDidWake, () => true, 3000, 'a wake event');
    wallOffset = 30_000;
    const e = await woke;
    assert.ok(e.sleptMs >= 29_000 && e.sleptMs <= 31_000, `slept ${e.sleptMs} ms`);
  } finally {
    detector.dispose();
  }
});

test('WakeDetector stays quiet while both clocks move together', async () => {
  const detector = new WakeDetector(20, 100);
  let woke = 0;
  detector.onDidWake(() => woke++);
  try {
    await sleep(200);
    assert.equal(woke, 0);
  } finally {
    detector.dispose();
  }
});

test('NetworkChangeDetector fires once when the interfaces change, and not while they stay', async () => {
  let fingerprint = 'eth0/10.0.0.2';
  let reads = 0;
  const detector = new NetworkChangeDetector(20, () => {
    reads++;
    return fingerprint;
  });
  let changes = 0;
  detector.onDidChange(() => changes++);
  try {
    await sleep(100);
    assert.equal(changes, 0);
    const changed = eventWithin(detector.onDidChange, () => true, 3000, 'a network change');
    fingerprint = 'wlan0/192.168.1.5';
    await changed;
    await sleep(100);
    assert.equal(changes, 1);
    assert.ok(reads > 2, `read ${reads} times`);
  } finally {
    detector.dispose();
  }
});

test('the default detectors look at most once per 10 s, together (each look wakes an idle process)', () => {
  // bench/README.md (idle): at 2 s and 3 s these looks were most of an idle CLI's CPU.
  assert.ok(ENVIRONMENT_CHECK_MS >= 10_000);
  const seen: number[] = [];
  const original = globalThis.setInterval;
  globalThis.setInterval = ((fn: () => void, ms: number) => {
    seen.push(ms);
    return original(fn, ms);
  }) as typeof setInterval;
  try {
    const wake = new WakeDetector();
    const network = new NetworkChangeDetector();
    wake.dispose();
    network.dispose();
  } finally {
    globalThis.setInterval = original;
  }
  assert.deepEqual(seen, [ENVIRONMENT_CHECK_MS, ENVIRONMENT_CHECK_MS]);
});

import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { StallDetector } from '../../src/core/liveness/stallDetector';
import { FakeClock } from '../harness/fakeClock';

/** A detector on a fake transport and clock, told `rttMs`; `stalls` records each stall's silence. */
function setup(rttMs: number) {
  const clock = new FakeClock();
  const transport = new PassThrough();
  const stalls: number[] = [];
  const detector = new StallDetector(
    transport,
    (ms) => stalls.push(ms),
    () => rttMs,
    undefined,
    clock,
  );
  const flow = async (chunks: number, gapMs: number, bytes = 4096) => {
    for (let i = 0; i < chunks; i++) {
      transport.emit('data', Buffer.alloc(bytes));
      await clock.advance(gapMs);
    }
  };
  return { clock, stalls, detector, flow };
}

test('a flow that stops is probed once, after max(1 s, 4 RTTs)', async () => {
  const { clock, stalls, detector, flow } = setup(2);
  await flow(20, 50);
  assert.equal(stalls.length, 0, 'no stall while bytes flow');
  await clock.advance(900);
  assert.equal(stalls.length, 0, 'not before a second of silence');
  await clock.advance(500);
  assert.equal(stalls.length, 1, 'one probe for the stall');
  await clock.advance(10_000);
  assert.equal(stalls.length, 1, 'one probe per stall, not one a second');
  // Bytes flow again and stop again: a new stall.
  await flow(20, 50);
  await clock.advance(1500);
  assert.equal(stalls.length, 2);
  detector.dispose();
});

test('sparse packets (keepalive replies) and interactive output (echo, a prompt) are not a flow', async () => {
  const { clock, stalls, detector, flow } = setup(2);
  await flow(5, 100);
  await flow(10, 1000);
  await flow(40, 20, 60);
  await clock.advance(5000);
  assert.equal(stalls.length, 0);
  detector.dispose();
});

test('a slow path waits a few RTTs before calling it a stall', async () => {
  const { clock, stalls, detector, flow } = setup(500);
  await flow(20, 50);
  await clock.advance(1900);
  assert.equal(stalls.length, 0, '4 x 500 ms RTT = 2 s');
  await clock.advance(700);
  assert.equal(stalls.length, 1);
  detector.dispose();
});

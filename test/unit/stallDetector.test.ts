import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { StallDetector } from '../../src/core/liveness/stallDetector';
import { FakeClock } from '../harness/fakeClock';

async function flow(clock: FakeClock, transport: PassThrough, chunks: number, gapMs: number): Promise<void> {
  for (let i = 0; i < chunks; i++) {
    transport.emit('data', Buffer.from('x'));
    await clock.advance(gapMs);
  }
}

test('a flow that stops is probed once, after max(1 s, 4 RTTs)', async () => {
  const clock = new FakeClock();
  const transport = new PassThrough();
  const stalls: number[] = [];
  const detector = new StallDetector(
    transport,
    (ms) => stalls.push(ms),
    () => 2,
    undefined,
    clock,
  );
  await flow(clock, transport, 20, 50);
  assert.deepEqual(stalls, [], 'no stall while bytes flow');
  await clock.advance(900);
  assert.deepEqual(stalls, [], 'not before a second of silence');
  await clock.advance(500);
  assert.equal(stalls.length, 1, 'one probe for the stall');
  await clock.advance(10_000);
  assert.equal(stalls.length, 1, 'one probe per stall, not one a second');
  // Bytes flow again and stop again: a new stall.
  await flow(clock, transport, 20, 50);
  await clock.advance(1500);
  assert.equal(stalls.length, 2);
  detector.dispose();
});

test('sparse packets (keepalive replies, a few typed keys) are not a flow', async () => {
  const clock = new FakeClock();
  const transport = new PassThrough();
  let stalls = 0;
  const detector = new StallDetector(
    transport,
    () => stalls++,
    () => 2,
    undefined,
    clock,
  );
  await flow(clock, transport, 5, 100);
  await flow(clock, transport, 10, 1000);
  await clock.advance(5000);
  assert.equal(stalls, 0);
  detector.dispose();
});

test('a slow path waits a few RTTs before calling it a stall', async () => {
  const clock = new FakeClock();
  const transport = new PassThrough();
  let stalls = 0;
  const detector = new StallDetector(
    transport,
    () => stalls++,
    () => 500,
    undefined,
    clock,
  );
  await flow(clock, transport, 20, 50);
  await clock.advance(1900);
  assert.equal(stalls, 0, '4 x 500 ms RTT = 2 s');
  await clock.advance(700);
  assert.equal(stalls, 1);
  detector.dispose();
});

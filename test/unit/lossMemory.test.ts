import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LOSS_LOOK_FLOOR_MS, LOSS_MEMORY_MS, LossMemory } from '../../src/core/liveness/lossMemory';
import type { OutboundSample } from '../../src/core/liveness/outbound';
import { FakeClock } from '../harness/fakeClock';

/** A LossMemory whose kernel says `unread` bytes wait for us (undefined: no kernel counters). */
function memoryWith(kernel: { unread: number | undefined }) {
  const clock = new FakeClock(0);
  const sample = (): OutboundSample => ({ handedOn: 0, queued: 0, unacked: 0, unread: kernel.unread });
  return { clock, memory: new LossMemory(clock, sample) };
}

test('replies within the look are no loss', async () => {
  const { clock, memory } = memoryWith({ unread: 0 });
  for (let i = 0; i < 5; i++) {
    const watch = memory.watch();
    await clock.advance(LOSS_LOOK_FLOOR_MS - 1);
    watch.answered(LOSS_LOOK_FLOOR_MS - 1);
  }
  assert.equal(memory.lossyLately, false);
});

test('a reply held up on the wire past the look, then answered, is loss; forgotten after the memory', async () => {
  const { clock, memory } = memoryWith({ unread: 0 });
  const fast = memory.watch();
  await clock.advance(3);
  fast.answered(3);
  const late = memory.watch();
  await clock.advance(220); // lost once, resent after about 200 ms
  assert.equal(memory.lossyLately, false, 'not before the answer: a cut path is not a lossy one');
  late.answered(220);
  assert.equal(memory.lossyLately, true);
  await clock.advance(LOSS_MEMORY_MS);
  assert.equal(memory.lossyLately, false, 'forgotten');
  memory.noteLoss();
  assert.equal(memory.lossyLately, true, 'a doubt that ended with an answer');
});

test('a late reply that the kernel already held for us (our event loop was busy) is no loss; nor is one never answered', async () => {
  const kernel = { unread: 36 as number | undefined };
  const { clock, memory } = memoryWith(kernel);
  const stalled = memory.watch();
  await clock.advance(400);
  stalled.answered(400);
  assert.equal(memory.lossyLately, false, 'the reply was in the kernel at the look');
  kernel.unread = undefined;
  const unknown = memory.watch();
  await clock.advance(400);
  unknown.answered(400);
  assert.equal(memory.lossyLately, false, 'no kernel counters: no evidence');
  kernel.unread = 0;
  const unanswered = memory.watch();
  await clock.advance(400);
  unanswered.dispose();
  assert.equal(memory.lossyLately, false, 'the connection closed before the reply');
});

test('a long path is looked at later: twice its best round trip and 100 ms', async () => {
  const { clock, memory } = memoryWith({ unread: 0 });
  const first = memory.watch();
  await clock.advance(400);
  first.answered(400); // the first sample sets the best round trip (itself looked at after the floor: loss)
  memory.noteLoss = () => assert.fail('not loss');
  const jittery = memory.watch();
  await clock.advance(850); // 400 ms best, 900 ms look
  jittery.answered(850);
});

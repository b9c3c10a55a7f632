import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LOSS_MEMORY_MS, LossMemory } from '../../src/core/liveness/lossMemory';
import type { OutboundSample } from '../../src/core/liveness/outbound';
import { FakeClock } from '../harness/fakeClock';

const at = (kernel: Partial<OutboundSample>): OutboundSample => ({ handedOn: 0, queued: 0, unacked: 0, ...kernel });

test('a connection whose kernel never lowered its threshold and resends nothing has lost nothing', () => {
  const memory = new LossMemory(new FakeClock(0));
  memory.noteAnswered(at({ ssthresh: -1, retransmits: 0 }));
  memory.noteAnswered(undefined);
  memory.noteAnswered(at({ ssthresh: undefined, retransmits: undefined }));
  assert.equal(memory.lossyLately, false);
});

test('a lowered threshold, a pending resend or a late answer is loss; it is forgotten after the memory unless seen again', async () => {
  const clock = new FakeClock(0);
  const memory = new LossMemory(clock);
  memory.noteAnswered(at({ ssthresh: 7 }));
  assert.equal(memory.lossyLately, true, 'the threshold was lowered');
  await clock.advance(LOSS_MEMORY_MS);
  assert.equal(memory.lossyLately, false, 'forgotten');
  memory.noteAnswered(at({ ssthresh: 7 }));
  assert.equal(memory.lossyLately, false, 'the same threshold: no new loss since the last look');
  memory.noteAnswered(at({ ssthresh: 5 }));
  assert.equal(memory.lossyLately, true, 'lowered again');
  await clock.advance(LOSS_MEMORY_MS);
  memory.noteAnswered(at({ ssthresh: 5, retransmits: 1 }));
  assert.equal(memory.lossyLately, true, 'a resend was pending while the path worked');
  await clock.advance(LOSS_MEMORY_MS);
  memory.noteLoss();
  assert.equal(memory.lossyLately, true, 'a doubt that ended with an answer');
});

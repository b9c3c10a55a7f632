import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type DoubtEvidence, spareVerdict } from '../../src/core/session/spareDecision';

/** A cut flow as a router reboot leaves it: nothing acknowledged, a new connection as fast as ever. */
const cut: DoubtEvidence = { lossyLately: false, uploadMoving: false, everythingAcknowledged: false, missedDeadlineMs: 1000, spareRttMs: 3 };

test('a cut flow (nothing acknowledged, the new path fast): the second connection takes over at once', () => {
  assert.deepEqual(spareVerdict(cut), { kind: 'take-over' });
  assert.deepEqual(spareVerdict({ ...cut, spareRttMs: undefined, missedDeadlineMs: undefined }), { kind: 'take-over' });
});

test('a first connection that lost packets lately keeps its longer wait', () => {
  assert.equal(spareVerdict({ ...cut, lossyLately: true }).kind, 'longer-wait');
});

test('an upload ahead of the probe still acknowledged since the miss: the reply is queued behind it, the first keeps its longer wait', () => {
  const v = spareVerdict({ ...cut, uploadMoving: true });
  assert.equal(v.kind, 'longer-wait');
  assert.match(v.kind === 'longer-wait' ? v.why : '', /upload/);
});

test('a new connection whose round trip is half the missed deadline or more (a bloated queue): the first keeps its longer wait, and the reason names both figures', () => {
  const v = spareVerdict({ ...cut, spareRttMs: 2150.4, missedDeadlineMs: 1000 });
  assert.equal(v.kind, 'longer-wait');
  assert.match(v.kind === 'longer-wait' ? v.why : '', /2150 ms now, slow for the 1000 ms deadline/);
  assert.equal(spareVerdict({ ...cut, spareRttMs: 500, missedDeadlineMs: 1000 }).kind, 'longer-wait');
  assert.equal(spareVerdict({ ...cut, spareRttMs: 499, missedDeadlineMs: 1000 }).kind, 'take-over', 'a fast path: the miss is the flow’s, not the path’s');
});

test('everything acknowledged and nothing else (a stalled server process, or a reply being resent): a short grace, then the spare', () => {
  assert.equal(spareVerdict({ ...cut, everythingAcknowledged: true }).kind, 'grace');
  // Slower evidence wins over the grace: the longer wait.
  assert.equal(spareVerdict({ ...cut, everythingAcknowledged: true, lossyLately: true }).kind, 'longer-wait');
});

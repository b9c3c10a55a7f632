import assert from 'node:assert/strict';
import { test } from 'node:test';
import { IntervalLearner, memoryStore } from '../../src/core/liveness/intervalLearner';

test('an idle death at 15 s of silence: the next interval is safely below it, and said so', () => {
  let network = 'home';
  const learner = new IntervalLearner(memoryStore(), {}, () => network);
  assert.equal(learner.intervalFor(15_000), 15_000, 'nothing learned yet');
  const said = learner.onIdleDeath(15_000, 15_000);
  assert.equal(said, 'this network drops idle connections after at most 15 s; keepalive every 3.8 s');
  assert.equal(learner.intervalFor(15_000), 3750);
  // Remembered per network: another network starts from the configured interval.
  network = 'office';
  assert.equal(learner.intervalFor(15_000), 15_000);
  network = 'home';
  assert.equal(learner.intervalFor(15_000), 3750);
});

test('never below the floor; a silence too short to mean anything teaches nothing', () => {
  const learner = new IntervalLearner(memoryStore(), { floorMs: 2000 }, () => 'n');
  assert.equal(learner.onIdleDeath(1500, 15_000), undefined);
  learner.onIdleDeath(4000, 15_000);
  assert.equal(learner.intervalFor(15_000), 2000);
  // A configured interval below the learned one wins; 0 (off) stays off.
  assert.equal(learner.intervalFor(1000), 1000);
  assert.equal(learner.intervalFor(0), 0);
});

test('relaxes slowly while connections survive, up to half the silence known to kill', () => {
  const learner = new IntervalLearner(memoryStore(), { relaxAfterMs: 600_000, relaxFactor: 1.25 }, () => 'n');
  learner.onIdleDeath(20_000, 15_000);
  assert.equal(learner.intervalFor(15_000), 5000);
  learner.onSurvived(60_000);
  assert.equal(learner.intervalFor(15_000), 5000, 'a short connection proves little');
  learner.onSurvived(600_000);
  assert.equal(learner.intervalFor(15_000), 6250);
  for (let i = 0; i < 10; i++) learner.onSurvived(600_000);
  assert.equal(learner.intervalFor(15_000), 10_000, 'capped at half of 20 s');
  // It died again at 10 s: the bound tightens.
  learner.onIdleDeath(10_000, 15_000);
  assert.equal(learner.intervalFor(15_000), 2500);
});

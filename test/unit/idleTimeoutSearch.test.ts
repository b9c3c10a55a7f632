import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { IdleFlowOutcome } from '../../src/core/liveness/idleFlowProbe';
import {
  defaultIdleTimeoutSearchOptions,
  type IdleTimeoutBounds,
  roundSilences,
  searchIdleTimeout,
  type SilenceProbe,
} from '../../src/core/liveness/idleTimeoutSearch';
import { FakeClock } from '../harness/fakeClock';

/**
 * A NAT that forgets a flow after `natMs` of silence, seen through disposable-flow probes on a
 * fake clock: each probe answers after its silence plus `replyMs` (a dropped flow is known only
 * when the reply wait runs out), and an aborted probe answers 'unknown' at once.
 */
function natModel(clock: FakeClock, natMs: number, replyMs = 5000) {
  const log: Array<{ silenceMs: number; outcome: IdleFlowOutcome; at: number; startedAt: number }> = [];
  let open = 0;
  let maxOpen = 0;
  const probe: SilenceProbe = (silenceMs, signal) =>
    new Promise<IdleFlowOutcome>((resolve) => {
      open++;
      const startedAt = clock.now();
      maxOpen = Math.max(maxOpen, open);
      const done = (outcome: IdleFlowOutcome) => {
        open--;
        timer.dispose();
        log.push({ silenceMs, outcome, at: clock.now(), startedAt });
        resolve(outcome);
      };
      const timer = clock.timeout(() => done(silenceMs < natMs ? 'survived' : 'dropped'), silenceMs + (silenceMs < natMs ? 50 : replyMs));
      signal.addEventListener('abort', () => done('unknown'), { once: true });
    });
  return { probe, log, maxOpen: () => maxOpen };
}

async function run(natMs: number) {
  const clock = new FakeClock(0);
  const nat = natModel(clock, natMs);
  const progress: IdleTimeoutBounds[] = [];
  let result: IdleTimeoutBounds | undefined;
  void searchIdleTimeout(nat.probe, {}, (b) => progress.push(b)).then((b) => (result = b));
  for (let i = 0; i < 400 && !result; i++) await clock.advance(1000);
  assert.ok(result, 'the search ended');
  return { result, progress, nat, tookMs: clock.now() };
}

for (const natS of [20, 60]) {
  test(`a ${natS} s NAT: the survived silence is just under it, the dead one just over, within a few minutes`, async () => {
    const { result, tookMs, nat } = await run(natS * 1000);
    assert.ok(result.survivedMs < natS * 1000 && result.survivedMs >= natS * 1000 * 0.85, `survived ${result.survivedMs}`);
    assert.ok(
      result.diesAfterMs !== undefined && result.diesAfterMs >= natS * 1000 && result.diesAfterMs <= natS * 1000 * 1.15,
      `dies after ${result.diesAfterMs}`,
    );
    assert.ok(tookMs <= 3 * 60_000, `took ${tookMs} ms`);
    assert.ok(nat.maxOpen() <= 5, `at most 5 disposable flows at once (sshd's MaxStartups), saw ${nat.maxOpen()}`);
  });
}

test('as soon as one silence dies, the longer ones of its round are cancelled (they would die too)', async () => {
  const { nat } = await run(20_000);
  const firstDrop = nat.log.find((l) => l.outcome === 'dropped')!;
  const longer = nat.log.filter((l) => l.silenceMs > firstDrop.silenceMs && l.at <= firstDrop.at + 1);
  assert.ok(longer.length > 0, 'the first round had longer silences');
  assert.ok(
    longer.every((l) => l.outcome === 'unknown'),
    JSON.stringify(longer),
  );
  // Every cancelled flow ended the moment a shorter silence was seen to die: none sits open for nothing.
  const dropTimes = new Set(nat.log.filter((l) => l.outcome === 'dropped').map((l) => l.at));
  assert.ok(nat.log.every((l) => l.outcome !== 'unknown' || dropTimes.has(l.at)));
});

test('the interval grows with each survived silence (progress is reported at once, only upwards)', async () => {
  const { progress } = await run(60_000);
  const survived = progress.map((p) => p.survivedMs).filter((s) => s > 0);
  assert.ok(survived.length >= 3, JSON.stringify(progress));
  for (let i = 1; i < survived.length; i++) assert.ok(survived[i] >= survived[i - 1], `grows: ${survived.join(', ')}`);
});

test('a NAT that keeps flows past the cap (sshd LoginGraceTime) is "at least the cap", with no death', async () => {
  const { result } = await run(300_000);
  assert.equal(result.diesAfterMs, undefined);
  assert.equal(result.survivedMs, 115_000);
});

test('a shorter silence that died bounds everything: a longer one that survived (a flaky NAT) is not trusted', async () => {
  const clock = new FakeClock(0);
  // The first round's second silence (about 25 s) dies, every other one survives: the bounds
  // must stay ordered (survived < dies), so the longer survivals are not believed.
  const [first, second] = roundSilences({ survivedMs: 0, diesAfterMs: undefined }, defaultIdleTimeoutSearchOptions, true);
  const probe: SilenceProbe = (s) =>
    new Promise((resolve) => {
      clock.timeout(() => resolve(s === second ? 'dropped' : 'survived'), s + 100);
    });
  let result: IdleTimeoutBounds | undefined;
  void searchIdleTimeout(probe, { maxRounds: 1 }).then((b) => (result = b));
  for (let i = 0; i < 200 && !result; i++) await clock.advance(1000);
  assert.deepEqual(result, { survivedMs: first, diesAfterMs: second });
});

test('sshd answering nothing measurable (every probe unknown) ends the search with nothing learned', async () => {
  const clock = new FakeClock(0);
  let result: IdleTimeoutBounds | undefined;
  void searchIdleTimeout(() => Promise.resolve('unknown')).then((b) => (result = b));
  await clock.advance(1);
  assert.deepEqual(result, { survivedMs: 0, diesAfterMs: undefined });
});

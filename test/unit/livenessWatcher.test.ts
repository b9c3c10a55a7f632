import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Emitter } from '../../src/core/base/event';
import type { Liveness } from '../../src/core/liveness/liveness';
import { type LivenessSource, LivenessWatcher } from '../../src/core/liveness/livenessWatcher';
import type { ProbeResult } from '../../src/core/liveness/keepalive';
import type { SessionState } from '../../src/core/session/state';
import { FakeClock } from '../harness/fakeClock';

function fakeSession(clock: FakeClock) {
  const states = new Emitter<SessionState>();
  const probes = new Emitter<ProbeResult>();
  const s = {
    state: { kind: 'connected', since: clock.now(), rttMs: 2 } as SessionState,
    lastContact: clock.now() as number | undefined,
    rttMs: 2 as number | undefined,
    keepaliveIntervalMs: 15_000,
    onDidChangeState: states.event,
    onDidProbe: probes.event,
    probes: 0,
    noteActivity() {
      s.probes++;
    },
  };
  return { s, source: s as unknown as LivenessSource, probes };
}

test('turns unconfirmed when the alive window ends with no user action, probes at once when in use, and alive again on a reply', async () => {
  const clock = new FakeClock();
  const { s, source, probes } = fakeSession(clock);
  const seen = [] as Liveness[];
  const watcher = new LivenessWatcher(source, { inUse: () => true, clock });
  watcher.onDidChange((l) => seen.push(l));
  await clock.advance(15_900);
  assert.equal(seen.length, 0, 'still alive within interval + 1 s');
  await clock.advance(200);
  assert.equal(seen.length, 1, 'unconfirmed once the window ended');
  assert.equal(seen[0].kind, 'unconfirmed');
  assert.equal(s.probes, 1, 'one probe at once, since a terminal or forward is in use');
  await clock.advance(5000);
  assert.equal(s.probes, 1, 'one probe per turn to unconfirmed, not one a second');
  s.lastContact = clock.now();
  probes.fire({ rttMs: 2, kind: 'demand' });
  assert.equal(seen.at(-1)?.kind, 'alive');
  watcher.dispose();
});

test('not in use: unconfirmed is shown but nothing is probed', async () => {
  const clock = new FakeClock();
  const { s, source } = fakeSession(clock);
  const watcher = new LivenessWatcher(source, { inUse: () => false, clock });
  await clock.advance(20_000);
  assert.equal(watcher.liveness.kind, 'unconfirmed');
  assert.equal(s.probes, 0);
  watcher.dispose();
});

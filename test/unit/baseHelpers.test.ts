import assert from 'node:assert/strict';
import { test } from 'node:test';
import { orAfter } from '../../src/core/base/clock';
import { withDeadline } from '../../src/core/base/deadline';
import { DisposableStore } from '../../src/core/base/disposable';
import { Emitter, liveListenerCount } from '../../src/core/base/event';
import { bracketIPv6, formatHostPort, knownHostsName } from '../../src/core/base/hostPort';
import { FakeClock, turns } from '../harness/fakeClock';
import { CallCounter } from '../harness/mustCall';

/** The base helpers every rider uses (issue 8, item 4): events owned by a sink, one deadline, one host:port writer. */

test('an Event subscription given a sink (a store or an array) ends when its owner disposes', () => {
  const emitter = new Emitter<number>();
  const seen: string[] = [];
  const store = new DisposableStore();
  const list: { dispose(): void }[] = [];
  emitter.event((n) => seen.push(`store ${n}`), store);
  emitter.event((n) => seen.push(`array ${n}`), list);
  emitter.fire(1);
  store.dispose();
  list.forEach((d) => d.dispose());
  emitter.fire(2);
  assert.deepEqual(seen, ['store 1', 'array 1']);
  assert.equal(emitter.listenerCount, 0);
});

test('withDeadline: the first of callback, deadline and cancel settles; a late result is handed back to be closed', async (t) => {
  const calls = new CallCounter();
  t.after(() => calls.verify());
  const clock = new FakeClock(0);
  // The callback first: its result.
  let late: ((err: null, v: string) => void) | undefined;
  const timedOut = withDeadline<string>((done) => (late = done), {
    timeoutMs: 100,
    onTimeout: () => new Error('no answer within 100 ms'),
    discardLate: calls.mustNotCall('a result before the deadline is not discarded'),
    clock,
  });
  const outcome = timedOut.then(
    () => 'resolved',
    (e: Error) => e.message,
  );
  await clock.advance(99);
  late!(null, 'early?');
  assert.equal(await outcome, 'resolved', 'a callback before the deadline wins');
  // The deadline first: rejected with onTimeout's error, and the channel that opens later is discarded.
  const second = withDeadline<string>((done) => (late = done), {
    timeoutMs: 100,
    onTimeout: () => new Error('no answer within 100 ms'),
    discardLate: calls.mustCall((v: string) => assert.equal(v, 'late channel'), 1, 'discardLate of the late one'),
    clock,
  }).then(
    () => 'resolved',
    (e: Error) => e.message,
  );
  await clock.advance(100);
  assert.equal(await second, 'no answer within 100 ms');
  late!(null, 'late channel');
  assert.equal(clock.pending, 0, 'no timer left');
  // A synchronous throw (ssh2 throws when its socket is gone) is a rejection.
  await assert.rejects(
    withDeadline<string>(
      () => {
        throw new Error('Not connected');
      },
      { timeoutMs: 100, onTimeout: () => new Error('deadline'), clock },
    ),
    /Not connected/,
  );
  // cancelOn: the connection it rides on ended.
  const ended = new Emitter<void>();
  const cancelled = withDeadline<string>(() => undefined, {
    timeoutMs: 100,
    onTimeout: () => new Error('deadline'),
    cancelOn: { event: ended.event, error: () => new Error('the connection ended') },
    clock,
  });
  ended.fire();
  await assert.rejects(cancelled, /the connection ended/);
  assert.equal(ended.listenerCount, 0, 'its subscription is gone');
  await turns();
  assert.equal(clock.pending, 0, 'no timer left');
});

test('host and port are written one way: [v6]:port for people, known_hosts names bare on port 22', () => {
  assert.equal(formatHostPort('db', 5432), 'db:5432');
  assert.equal(formatHostPort('::1', 8080), '[::1]:8080');
  assert.equal(bracketIPv6('fe80::1'), '[fe80::1]');
  assert.equal(bracketIPv6('10.0.0.1'), '10.0.0.1');
  assert.equal(knownHostsName('host', 22), 'host');
  assert.equal(knownHostsName('host', 2222), '[host]:2222');
  assert.equal(knownHostsName('10.0.0.1', 2222), '[10.0.0.1]:2222');
});

test('orAfter: an answer in time ends the timer with it; no answer gives the fallback at the deadline', async () => {
  const clock = new FakeClock();
  const answered = orAfter(clock, Promise.resolve(7), 15_000, 'late');
  assert.equal(await answered, 7);
  // The soak found these: a probe answered in 2 ms left a 15 s timer armed behind it.
  assert.equal(clock.pending, 0, 'the deadline timer outlived the answer');

  const silent = orAfter(clock, new Promise<number>(() => undefined), 1000, 'late');
  await clock.advance(999);
  await clock.advance(1);
  assert.equal(await silent, 'late');
  assert.equal(clock.pending, 0);
});

test('liveListenerCount follows subscriptions across emitters: disposed handles and disposed emitters give theirs back', () => {
  const before = liveListenerCount();
  const a = new Emitter<number>();
  const b = new Emitter<number>();
  const h1 = a.event(() => undefined);
  a.event(() => undefined);
  b.event(() => undefined);
  assert.equal(liveListenerCount(), before + 3);
  h1.dispose();
  h1.dispose();
  assert.equal(liveListenerCount(), before + 2, 'a handle disposed twice gives back one listener');
  a.dispose();
  b.dispose();
  assert.equal(liveListenerCount(), before);
});

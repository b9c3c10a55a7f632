import assert from 'node:assert/strict';
import { test } from 'node:test';
import { eventForAttemptFailure, eventForLiveness, eventsForState } from '../../src/cli/events';
import { SessionError } from '../../src/core/session/errors';

test('--events: unconfirmed (with how long ago the server was heard) and alive again', () => {
  const e = eventForLiveness('lab', { kind: 'unconfirmed', lastHeard: 1, silentMs: 17_000 });
  assert.equal(e.event, 'unconfirmed');
  assert.equal(e.lastHeardMsAgo, 17_000);
  assert.equal(eventForLiveness('lab', { kind: 'alive' }).event, 'alive');
});

test('--events: a failed attempt with its cause, and connecting carries the previous cause', () => {
  const f = eventForAttemptFailure('lab', {
    error: new SessionError('dns-temporary', 'DNS is unreachable'),
    attempt: 3,
    firstOfKind: false,
    everConnected: false,
  });
  assert.deepEqual(
    { ...f, time: undefined },
    { event: 'attempt-failed', host: 'lab', time: undefined, attempt: 3, code: 'dns-temporary', reason: 'DNS is unreachable' },
  );
  const [c] = eventsForState('lab', { kind: 'connecting', attempt: 4, since: 0, lastError: 'DNS is unreachable' });
  assert.equal(c.lastError, 'DNS is unreachable');
});

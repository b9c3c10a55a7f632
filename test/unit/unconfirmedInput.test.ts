import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Deferred } from '../../src/core/base/deferred';
import { UnconfirmedInput } from '../../src/core/shell/unconfirmedInput';

/** A confirm function whose probes the test answers one by one. */
function probes() {
  const sent: Array<Deferred<boolean>> = [];
  const confirm = () => {
    const d = new Deferred<boolean>();
    sent.push(d);
    return d.promise;
  };
  return { sent, confirm };
}

const tick = () => new Promise<void>((r) => setImmediate(r));

test('keys are kept until a reply to a probe sent after them; one probe in flight at a time', async () => {
  const { sent, confirm } = probes();
  const keys = new UnconfirmedInput(confirm, () => true);
  keys.add('ab');
  keys.add('c');
  assert.equal(sent.length, 1, 'keys written while a probe is out wait for the next one');
  sent[0].resolve(true);
  await tick();
  // The first probe went out after 'ab' only; 'c' was written after it.
  assert.equal(keys.bytes, 1);
  assert.equal(sent.length, 2, 'a second probe for the key written meanwhile');
  sent[1].resolve(true);
  await tick();
  assert.equal(keys.bytes, 0);
  assert.equal(sent.length, 2, 'nothing left to prove: no more probes');
  assert.deepEqual(keys.take(), []);
});

test('no reply (the connection is gone): everything is kept, in order, for a replay', async () => {
  const { sent, confirm } = probes();
  const keys = new UnconfirmedInput(confirm, () => true);
  keys.add('echo ');
  keys.add('hi\r');
  sent[0].resolve(false);
  await tick();
  assert.equal(sent.length, 1, 'no probe after a failed one');
  assert.deepEqual(keys.take(), ['echo ', 'hi\r']);
  keys.add('late');
  assert.equal(keys.bytes, 0, 'nothing is tracked after take()');
});

test('keys still queued in the channel (its window full) are not proven by a probe that overtook them', async () => {
  const { sent, confirm } = probes();
  let flushed = false;
  const keys = new UnconfirmedInput(confirm, () => flushed);
  keys.add('x');
  sent[0].resolve(true);
  await tick();
  assert.equal(keys.bytes, 1, 'kept: the probe left before the key did');
  // The next probe also left while it was queued; the one after it went out behind it.
  flushed = true;
  sent[1].resolve(true);
  await tick();
  assert.equal(keys.bytes, 1);
  sent[2].resolve(true);
  await tick();
  assert.equal(keys.bytes, 0);
});

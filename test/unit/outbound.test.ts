import assert from 'node:assert/strict';
import * as net from 'node:net';
import { test } from 'node:test';
import { acknowledgedSince, sampleOutbound } from '../../src/core/liveness/outbound';

test('acknowledgedSince with kernel counters: bytes given to the kernel minus the growth of the unacknowledged ones', () => {
  const before = { handedOn: 1000, queued: 0, unacked: 800_000 };
  // An upload: 64 KiB more given, and the unacknowledged bytes grew by only 32 KiB: 32 KiB acknowledged.
  assert.equal(acknowledgedSince(before, { handedOn: 1000 + 65_536, queued: 0, unacked: 800_000 + 32_768 }), true);
  // A dead path: whatever was given is still unacknowledged.
  assert.equal(acknowledgedSince(before, { handedOn: 1000 + 65_536, queued: 0, unacked: 800_000 + 65_536 }), false);
  assert.equal(acknowledgedSince(before, before), false, 'nothing moved');
  assert.equal(acknowledgedSince(undefined, before), false, 'no sample: no evidence');
});

test('acknowledgedSince without kernel counters: a queue that was there and moved', () => {
  const at = (handedOn: number, queued: number) => ({ handedOn, queued, unacked: undefined });
  assert.equal(acknowledgedSince(at(1000, 5000), at(2000, 5000)), true);
  assert.equal(acknowledgedSince(at(1000, 0), at(2000, 0)), false, 'no queue: the kernel took it without waiting for an ACK');
  assert.equal(acknowledgedSince(at(1000, 5000), at(1000, 9000)), false, 'a queue that only grows');
});

test('sampleOutbound on a real socket: Linux reports its unacknowledged bytes; a plain stream gives nothing', async (t) => {
  const server = net.createServer((s) => s.resume());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  t.after(() => server.close());
  const sock = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  t.after(() => sock.destroy());
  await new Promise<void>((r) => sock.once('connect', () => r()));
  const before = sampleOutbound(sock);
  assert.ok(before);
  const { PassThrough } = await import('node:stream');
  assert.equal(sampleOutbound(new PassThrough()), undefined);
  if (process.platform !== 'linux') return;
  assert.equal(typeof before.unacked, 'number', 'found in /proc/net/tcp');
  sock.write(Buffer.alloc(10_000));
  // Loopback acknowledges at once: poll until the kernel says so.
  let after = sampleOutbound(sock);
  for (let i = 0; i < 100 && !acknowledgedSince(before, after); i++) {
    await new Promise((r) => setTimeout(r, 10));
    after = sampleOutbound(sock);
  }
  assert.equal(acknowledgedSince(before, after), true);
});

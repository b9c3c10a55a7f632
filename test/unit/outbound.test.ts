import assert from 'node:assert/strict';
import * as net from 'node:net';
import { test } from 'node:test';
import { acknowledgedSince, sampleOutbound, UPLOAD_AHEAD_BYTES } from '../../src/core/liveness/outbound';

test('acknowledgedSince with kernel counters: bytes given to the kernel minus the growth of the unacknowledged ones', () => {
  const before = { handedOn: 1000, queued: 0, unacked: 800_000 };
  // An upload: 64 KiB more given, and the unacknowledged bytes grew by only 32 KiB: 32 KiB acknowledged.
  assert.equal(acknowledgedSince(before, { handedOn: 1000 + 65_536, queued: 0, unacked: 800_000 + 32_768 }), true);
  // A dead path: whatever was given is still unacknowledged.
  assert.equal(acknowledgedSince(before, { handedOn: 1000 + 65_536, queued: 0, unacked: 800_000 + 65_536 }), false);
  assert.equal(acknowledgedSince(before, before), false, 'nothing moved');
  // A few keystrokes in flight: the first hop's ACK (a local proxy's) says nothing of the path beyond.
  const keys = { handedOn: 1000, queued: 0, unacked: 0 };
  assert.equal(acknowledgedSince(keys, { handedOn: 1100, queued: 0, unacked: 0 }), false);
  assert.equal(acknowledgedSince(undefined, before), false, 'no sample: no evidence');
});

test('acknowledgedSince without kernel counters: a queue that was there and moved', () => {
  const at = (handedOn: number, queued: number) => ({ handedOn, queued, unacked: undefined });
  assert.equal(acknowledgedSince(at(1000, 5000), at(2000, 5000)), true);
  assert.equal(acknowledgedSince(at(1000, 0), at(2000, 0)), false, 'no queue: the kernel took it without waiting for an ACK');
  assert.equal(acknowledgedSince(at(1000, 5000), at(1000, 9000)), false, 'a queue that only grows');
});

test('sampleOutbound on a real socket: Linux reports unacknowledged bytes and the RTO; a reader that resumes acknowledges an upload', async (t) => {
  let serverSide: net.Socket | undefined;
  const server = net.createServer((s) => {
    serverSide = s;
    s.pause(); // the far end stops reading: the upload piles up in our kernel
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  t.after(() => server.close());
  const sock = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  t.after(() => sock.destroy());
  await new Promise<void>((r) => sock.once('connect', () => r()));
  const { PassThrough } = await import('node:stream');
  assert.equal(sampleOutbound(new PassThrough()), undefined, 'not a socket: no evidence');
  const first = sampleOutbound(sock);
  assert.ok(first);
  if (process.platform !== 'linux') return;
  assert.equal(first.unacked, 0, 'found in /proc/net/tcp: nothing in flight');
  assert.ok((first.rtoMs ?? 0) >= 200, `the kernel's RTO (${first.rtoMs} ms)`);
  const chunk = Buffer.alloc(1024 * 1024);
  while (sock.write(chunk));
  // Until the far end's window is full (its buffer stops growing): then our kernel holds what it cannot send.
  let before = sampleOutbound(sock)!;
  for (let i = 0; i < 40; i++) {
    await new Promise((r) => setTimeout(r, 50));
    const now = sampleOutbound(sock)!;
    const stable = (now.unacked ?? 0) >= UPLOAD_AHEAD_BYTES && !acknowledgedSince(before, now);
    before = now;
    if (stable) break;
  }
  assert.ok((before.unacked ?? 0) >= UPLOAD_AHEAD_BYTES, `an upload in flight (${before.unacked} bytes)`);
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(acknowledgedSince(before, sampleOutbound(sock)), false, 'nothing acknowledged while the far end does not read');
  serverSide!.resume();
  let after = sampleOutbound(sock);
  for (let i = 0; i < 200 && !acknowledgedSince(before, after); i++) {
    await new Promise((r) => setTimeout(r, 10));
    after = sampleOutbound(sock);
  }
  assert.equal(acknowledgedSince(before, after), true, 'the far end reads again: acknowledged');
});

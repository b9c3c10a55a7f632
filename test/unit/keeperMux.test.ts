import assert from 'node:assert/strict';
import type { Duplex } from 'node:stream';
import { test } from 'node:test';
import { KeeperError } from '../../src/core/keeper/errors';
import { encode, FrameDecoder, FrameType, type Frame } from '../../src/core/keeper/frames';
import { KeeperMux } from '../../src/core/keeper/mux';
import { KeeperStream } from '../../src/core/keeper/stream';
import { duplexPair } from '../harness/duplexPair';

/** The keeper's side of one transport, scripted by the test. */
class FakeKeeper {
  readonly frames: Frame[] = [];
  private readonly decoder = new FrameDecoder();
  private waiters: Array<() => void> = [];
  constructor(readonly end: Duplex) {
    end.on('data', (d: Buffer) => {
      this.frames.push(...this.decoder.feed(d));
      for (const w of this.waiters.splice(0)) w();
    });
    end.on('error', () => undefined);
  }
  send(b: Buffer | Buffer[]): void {
    for (const x of Array.isArray(b) ? b : [b]) this.end.write(x);
  }
  welcome(streams: Array<{ id: number; recv: number; win?: number }> = [], resets: Array<{ id: number; reason: string }> = []): void {
    this.send(
      encode.json(FrameType.Welcome, {
        v: 1,
        keeper: 'k1',
        pid: 1,
        streams: streams.map((s) => ({ kind: 'pty', base: 0, meta: {}, win: 1 << 20, ...s })),
        resets: resets.map((r) => ({ message: '', ...r })),
      }),
    );
  }
  waitFor<T extends Frame>(what: string, pick: (f: Frame) => f is T, timeoutMs = 2000): Promise<T> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`fake keeper: timed out after ${timeoutMs} ms waiting for ${what}; got ${JSON.stringify(this.frames.map((f) => f.type))}`)),
        timeoutMs,
      );
      const check = () => {
        const f = this.frames.find(pick);
        if (f) {
          clearTimeout(timer);
          resolve(f);
        } else this.waiters.push(check);
      };
      check();
    });
  }
  dataFor(sid: number): string {
    return Buffer.concat(this.frames.flatMap((f) => (f.type === FrameType.Data && f.sid === sid ? [f.payload] : []))).toString();
  }
}

const isType =
  <T extends FrameType>(t: T) =>
  (f: Frame): f is Frame & { type: T } =>
    f.type === t;

async function attached(mux: KeeperMux, streams?: Array<{ id: number; recv: number; win?: number }>, resets?: Array<{ id: number; reason: string }>) {
  const [client, keeperEnd] = duplexPair();
  const keeper = new FakeKeeper(keeperEnd);
  const welcome = mux.attach(client);
  const hello = await keeper.waitFor('HELLO', isType(FrameType.Hello));
  keeper.welcome(streams, resets);
  await withTimeout(welcome, 2000, 'attach to finish after WELCOME');
  return { keeper, hello: hello.json, client, drop: () => client.destroy() };
}

function received(stream: KeeperStream): { text: () => string } {
  const chunks: Buffer[] = [];
  stream.onDidData((d) => chunks.push(d));
  return { text: () => Buffer.concat(chunks).toString() };
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<T>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms)));
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

const tick = (ms = 30) => new Promise((r) => setTimeout(r, ms));

test('resume: each side replays from what the other holds; duplicates are dropped; bytes written while detached follow', async () => {
  const mux = new KeeperMux({ secret: 's'.repeat(64), sessionId: 'sess1' });
  const one = await attached(mux);
  assert.equal(one.hello.secret, 's'.repeat(64));
  assert.equal(one.hello.session, 'sess1');
  const s = mux.open({ kind: 'pty', cols: 80, rows: 24 });
  const got = received(s);
  s.write('abcdef');
  await one.keeper.waitFor('OPEN', isType(FrameType.Open));
  await one.keeper.waitFor('DATA', isType(FrameType.Data));
  assert.equal(one.keeper.dataFor(s.id), 'abcdef');
  one.keeper.send(encode.opened(s.id, { pid: 9 }));
  one.keeper.send(encode.data(s.id, 0, 3, 1 << 20, Buffer.from('xyz')));
  await tick();
  assert.equal(got.text(), 'xyz');
  assert.equal(s.buffered, 3, 'bytes the keeper acknowledged are dropped');
  const detached = new Promise<string>((r) => mux.onDidDetach((e) => r(e.error.reason)));
  one.drop();
  assert.equal(await withTimeout(detached, 2000, 'the mux to detach'), 'transport-closed');
  s.write('gh');
  // The keeper had 'abcd' and sent 'xyzw' (the 'w' was lost with the old transport).
  const two = await attached(mux, [{ id: s.id, recv: 4 }]);
  assert.deepEqual(two.hello.streams, [{ id: s.id, recv: 3, win: 4 * 1024 * 1024 }]);
  await two.keeper.waitFor('replayed DATA', isType(FrameType.Data));
  await tick();
  assert.equal(two.keeper.dataFor(s.id), 'efgh', 'replay starts exactly at what the keeper has');
  const firstReplay = two.keeper.frames.find(isType(FrameType.Data))!;
  assert.equal(firstReplay.seq, 4);
  two.keeper.send(encode.data(s.id, 0, 8, 1 << 20, Buffer.from('xyzw')));
  await tick();
  assert.equal(got.text(), 'xyzw', 'the replayed xyz is not delivered twice');
  // A frame wholly replayed (nothing new in it) changes nothing; the next byte follows on.
  two.keeper.send(encode.data(s.id, 0, 8, 1 << 20, Buffer.from('xyz')));
  two.keeper.send(encode.data(s.id, 4, 8, 1 << 20, Buffer.from('v')));
  await tick();
  assert.equal(got.text(), 'xyzwv');
  assert.equal(mux.state, 'attached');
  mux.dispose();
});

test('the keeper window limits what is in flight; an ACK opens it', async () => {
  const mux = new KeeperMux({ secret: 'x'.repeat(64) });
  const { keeper } = await attached(mux);
  const s = mux.open({ kind: 'tcp-connect', host: 'h', port: 1 });
  await keeper.waitFor('OPEN', isType(FrameType.Open));
  keeper.send(encode.ack(s.id, 0, 10));
  await tick();
  s.write(Buffer.alloc(100, 0x61));
  await tick();
  assert.equal(keeper.dataFor(s.id).length, 10, 'no more than the window');
  keeper.send(encode.ack(s.id, 10, 1000));
  await tick();
  assert.equal(keeper.dataFor(s.id).length, 100);
  mux.dispose();
});

test('past the replay bound a stream is reset, never silently trimmed', () => {
  const mux = new KeeperMux({ secret: 'x'.repeat(64), streamBound: 1000 });
  const s = mux.open({ kind: 'pty', cols: 80, rows: 24 });
  let reset: string | undefined;
  s.onDidReset((r) => (reset = r.reason));
  assert.equal(s.write(Buffer.alloc(400)), true);
  assert.equal(s.write(Buffer.alloc(200)), false, 'past the high-water mark: wait for drain');
  assert.equal(s.write(Buffer.alloc(500)), false);
  assert.equal(reset, 'buffer-overflow');
  assert.equal(s.state, 'reset');
  assert.throws(() => s.write('x'), KeeperError);
  mux.dispose();
});

test('on re-attach a stream the keeper reset while detached is reset with its reason; an OPEN never delivered is sent again', async () => {
  const mux = new KeeperMux({ secret: 'x'.repeat(64) });
  const one = await attached(mux);
  const a = mux.open({ kind: 'tcp-connect', host: 'h', port: 1 });
  await one.keeper.waitFor('OPEN', isType(FrameType.Open));
  one.keeper.send(encode.opened(a.id, {}));
  await tick();
  one.drop();
  await tick();
  const b = mux.open({ kind: 'pty', cols: 80, rows: 24 });
  b.write('typed while detached');
  let aReset: string | undefined;
  a.onDidReset((r) => (aReset = r.reason));
  const two = await attached(mux, [], [{ id: a.id, reason: 'reset' }]);
  assert.deepEqual(two.hello.streams, [{ id: a.id, recv: 0, win: 4 * 1024 * 1024 }], 'only streams the keeper confirmed are resumed');
  assert.equal(aReset, 'reset');
  const open = await two.keeper.waitFor('OPEN of the new stream', isType(FrameType.Open));
  assert.equal(open.sid, b.id);
  await two.keeper.waitFor('its data', isType(FrameType.Data));
  assert.equal(two.keeper.dataFor(b.id), 'typed while detached');
  mux.dispose();
});

test('garbage from the keeper detaches with a protocol error; a refused secret rejects attach', async () => {
  const mux = new KeeperMux({ secret: 'x'.repeat(64) });
  const { keeper } = await attached(mux);
  const detached = new Promise<string>((r) => mux.onDidDetach((e) => r(`${e.error.reason}: ${e.error.message}`)));
  keeper.send(Buffer.from([0, 0, 0, 1, 0x77]));
  assert.match(await withTimeout(detached, 2000, 'the mux to detach on garbage'), /^protocol: unknown frame type 0x77/);
  const [client, keeperEnd] = duplexPair();
  const k2 = new FakeKeeper(keeperEnd);
  const pending = mux.attach(client);
  await k2.waitFor('HELLO', isType(FrameType.Hello));
  k2.send(encode.json(FrameType.Error, { code: 'secret', message: 'wrong secret' }));
  await assert.rejects(pending, (e: unknown) => e instanceof KeeperError && e.reason === 'secret');
  mux.dispose();
});

test('a keeper that never answers HELLO fails the attach at the deadline', async () => {
  const mux = new KeeperMux({ secret: 'x'.repeat(64), handshakeTimeoutMs: 100 });
  const [client] = duplexPair();
  await assert.rejects(mux.attach(client), (e: unknown) => e instanceof KeeperError && e.reason === 'timeout');
  mux.dispose();
});

test('make-before-break: attaching a new transport while the old one lives moves every stream to it', async () => {
  const mux = new KeeperMux({ secret: 'x'.repeat(64), sessionId: 'mbb' });
  const one = await attached(mux);
  const s = mux.open({ kind: 'pty', cols: 80, rows: 24 });
  const got = received(s);
  s.write('before');
  await one.keeper.waitFor('DATA on the old transport', isType(FrameType.Data));
  one.keeper.send(encode.opened(s.id, {}));
  await tick();
  s.write('+during');
  const two = await attached(mux, [{ id: s.id, recv: 0 }]);
  two.keeper.send(encode.data(s.id, 0, 0, 1 << 20, Buffer.from('out')));
  await tick();
  assert.equal(two.keeper.dataFor(s.id), 'before+during', 'everything unacknowledged goes out on the new transport');
  assert.equal(got.text(), 'out');
  assert.equal(one.client.destroyed, true, 'the old transport was let go');
  assert.equal(mux.state, 'attached');
  mux.dispose();
});

test('an accepted stream holds its data and its end until the consumer claims it, then hands both on in order', async () => {
  const mux = new KeeperMux({ secret: 's'.repeat(64), sessionId: 'sess-accept' });
  const { keeper } = await attached(mux);
  const accepted: KeeperStream[] = [];
  mux.onDidAccept(({ stream }) => accepted.push(stream));
  const sid = KeeperStream.KEEPER_ID_BASE + 1;
  keeper.send(encode.open(sid, { kind: 'tcp-accepted', listener: 7, peer: ['127.0.0.1', 40000] }));
  keeper.send(encode.data(sid, 0, 0, 1 << 20, Buffer.from('GET / ')));
  keeper.send(encode.close(sid, 6, 0, 1 << 20));
  await tick();
  assert.equal(accepted.length, 1);
  const s = accepted[0];
  // The consumer subscribes late (a -R forward connects its local target first).
  const got: string[] = [];
  s.onDidData((d) => got.push(d.toString()));
  s.onDidEnd(() => got.push('<end>'));
  await tick();
  assert.deepEqual(got, [], 'nothing is handed on before the claim');
  s.claim();
  assert.deepEqual(got, ['GET / ', '<end>']);
});

test('a stream whose OPEN and data died with the transport is opened again with every byte, from the first', async () => {
  const mux = new KeeperMux({ secret: 's'.repeat(64) });
  const one = await attached(mux);
  const s = mux.open({ kind: 'tcp-connect', host: 'h', port: 1 });
  s.write('GET / HTTP/1.1\r\n\r\n');
  await one.keeper.waitFor('the first DATA', isType(FrameType.Data));
  // The transport dies before the keeper read any of it (a router reboot): no OPENED came back.
  one.drop();
  await tick();
  const two = await attached(mux);
  assert.deepEqual(two.hello.streams, [], 'the keeper never confirmed it');
  const open = await two.keeper.waitFor('the OPEN again', isType(FrameType.Open));
  assert.equal(open.sid, s.id);
  await two.keeper.waitFor('the data again', isType(FrameType.Data));
  assert.equal(two.keeper.dataFor(s.id), 'GET / HTTP/1.1\r\n\r\n');
  mux.dispose();
});

test('a stream that ended cleanly sends its final ACK, and names its final position in the next HELLO', async () => {
  const mux = new KeeperMux({ secret: 's'.repeat(64) });
  const one = await attached(mux);
  const s = mux.open({ kind: 'tcp-connect', host: 'h', port: 1 });
  s.end();
  await one.keeper.waitFor('our CLOSE', isType(FrameType.Close));
  one.keeper.send(encode.opened(s.id, {}));
  one.keeper.send(encode.data(s.id, 0, 0, 1 << 20, Buffer.from('bye')));
  // The keeper closes too and acknowledges our CLOSE (seq 0, so ack 1).
  one.keeper.send(encode.close(s.id, 3, 1, 1 << 20));
  await tick();
  assert.equal(s.state, 'closed');
  const ack = await one.keeper.waitFor('the ACK of the keeper CLOSE', (f): f is Frame => f.type === FrameType.Ack && f.sid === s.id);
  assert.equal((ack as Frame & { ack: number }).ack, 4, 'everything up to and including its CLOSE');
  one.drop();
  await tick();
  const two = await attached(mux);
  assert.deepEqual(two.hello.streams, [{ id: s.id, recv: 4, win: 0 }], 'repeated in case the ACK died with the transport');
  two.drop();
  await tick();
  const three = await attached(mux);
  assert.deepEqual(three.hello.streams, [], 'once a WELCOME followed it, not again');
  mux.dispose();
});

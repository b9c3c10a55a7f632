/**
 * Fuzz: the keeper's stream decoder on both sides. The TypeScript FrameDecoder and the mux
 * behind it (frames.ts, attachedTransport.ts, mux.ts), and keeper.py's Decoder, driven by
 * test/harness/keeperDecode.py with every fast-check-generated input in one batch (one
 * python process per run). Properties: only the protocol error comes out and it names the
 * frame or field; both decoders agree on every input and chunking; neither holds more than
 * one frame; time is linear; the mux turns any frame sequence into a detach with a
 * KeeperError of its own, never an internal exception. keeperFrames.test.ts has the fixed
 * seeds and the round trips; this file adds chunkings, the mux and the timing.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { KeeperError } from '../../../src/core/keeper/errors';
import { encode, FrameDecoder, FrameType, MAX_FRAME } from '../../../src/core/keeper/frames';
import { KeeperMux } from '../../../src/core/keeper/mux';
import { assertLinear, chunked, chunkSizes, fuzzAsync, fuzzSample, mutatedBytes } from '../../harness/arbitraries';
import { keeperScriptPath } from '../../harness/keeperPeer';
import { duplexPair } from '../../harness/duplexPair';

const HARNESS = path.join(__dirname, '..', '..', '..', '..', 'test', 'harness', 'keeperDecode.py');

// ---------------------------------------------------------------- frames

const sid = fc.oneof(fc.constantFrom(0, 1, 2, 0x80000001, 0xffffffff), fc.nat({ max: 0xffffffff }));
const count = fc.oneof(fc.constantFrom(0, 1, 2 ** 53 - 1), fc.nat({ max: 1 << 20 }), fc.maxSafeNat());
const json = fc.oneof(
  fc.object({ maxDepth: 2 }).map((o) => o as Record<string, never>),
  fc.constantFrom(
    { v: 1, keeper: 'k', streams: [], resets: [] },
    { code: 'secret', message: 'no' },
    { reason: 'refused', message: 'x' },
    { kind: 'pty', cols: 80, rows: 24 },
  ),
);

/** One well-formed frame of any type, with field values anywhere in their range. */
const frame: fc.Arbitrary<Buffer> = fc.oneof(
  fc.tuple(fc.constantFrom(FrameType.Hello, FrameType.Welcome, FrameType.Error), json).map(([t, j]) => encode.json(t, j)),
  fc.tuple(sid, json).map(([s, j]) => encode.open(s, j)),
  fc.tuple(sid, json).map(([s, j]) => encode.opened(s, j)),
  fc.tuple(sid, json).map(([s, j]) => encode.reset(s, j)),
  fc
    .tuple(sid, count, count, fc.nat({ max: 0xffffffff }), fc.uint8Array({ minLength: 1, maxLength: 64 }))
    .map(([s, seq, ack, w, p]) => Buffer.concat(encode.data(s, Math.min(seq, 2 ** 53 - 1 - p.length), ack, w, Buffer.from(p)))),
  fc.tuple(sid, count, fc.nat({ max: 0xffffffff })).map(([s, a, w]) => encode.ack(s, a, w)),
  fc.tuple(sid, count, count, fc.nat({ max: 0xffffffff }), json).map(([s, seq, a, w, j]) => encode.close(s, Math.min(seq, 2 ** 53 - 2), a, w, j)),
  fc.tuple(sid, fc.nat({ max: 0xffff }), fc.nat({ max: 0xffff })).map(([s, c, r]) => encode.resize(s, c, r)),
  fc.tuple(fc.constantFrom(FrameType.Ping, FrameType.Pong), count).map(([t, n]) => encode.ping(t, n)),
  fc.constant(encode.shutdown()),
);

const stream: fc.Arbitrary<Buffer> = fc.oneof(
  { weight: 3, arbitrary: fc.array(frame, { minLength: 1, maxLength: 5 }).map((f) => Buffer.concat(f)) },
  { weight: 4, arbitrary: mutatedBytes(fc.array(frame, { minLength: 1, maxLength: 4 }).map((f) => Buffer.concat(f))) },
  { weight: 2, arbitrary: fc.uint8Array({ maxLength: 100 }).map((b) => Buffer.from(b)) },
);

/** A rejection names the frame (its type or name) or the field at fault. */
const NAMES_FRAME = /stream \d+|frame|HELLO|WELCOME|ERROR|OPEN|DATA|ACK|CLOSE|RESET|RESIZE|PING|PONG|SHUTDOWN|JSON|length|sequence/i;

interface Verdict {
  types: number[];
  error: string | null;
  exception: string | null;
  pending: number;
  ms: number;
}

function decodeTs(data: Buffer, sizes: readonly number[]): Verdict {
  const d = new FrameDecoder();
  const started = performance.now();
  const types: number[] = [];
  let pending = 0;
  let error: string | null = null;
  let exception: string | null = null;
  try {
    for (const chunk of chunked(data, sizes)) {
      types.push(...d.feed(chunk).map((f) => f.type));
      pending = Math.max(pending, d.pendingBytes);
    }
  } catch (err) {
    if (err instanceof KeeperError && err.reason === 'protocol') error = err.message;
    else exception = err instanceof Error ? (err.stack ?? err.message) : String(err);
  }
  return { types, error, exception, pending, ms: performance.now() - started };
}

function runHarness(cases: Array<{ hex: string; chunks: number[] }>): Promise<Verdict[]> {
  return new Promise((resolve, reject) => {
    const child = spawn('python3', [HARNESS, keeperScriptPath()], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`keeperDecode.py did not finish ${cases.length} cases within 60 s`));
    }, 60_000);
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code !== 0) return reject(new Error(`keeperDecode.py exited with ${code}: ${stderr}`));
      resolve(
        stdout
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l) as Verdict),
      );
    });
    child.stdin.end(cases.map((c) => JSON.stringify(c)).join('\n') + '\n');
  });
}

test('property: both decoders, any chunking: frames or a protocol error naming the frame, the same on both sides, one frame held at most', async () => {
  const cases = fuzzSample(fc.tuple(stream, chunkSizes), 1500);
  const py = await runHarness(cases.map(([data, sizes]) => ({ hex: data.toString('hex'), chunks: sizes })));
  assert.equal(py.length, cases.length);
  const failures: string[] = [];
  cases.forEach(([data, sizes], i) => {
    const ts = decodeTs(data, sizes);
    const whole = decodeTs(data, []);
    const p = py[i];
    const say = (what: string) => failures.length < 5 && failures.push(`${what}\n  input ${data.toString('hex')} chunks ${JSON.stringify(sizes)}`);
    if (p.exception) say(`python raised ${p.exception}`);
    if (ts.exception) say(`TypeScript threw ${ts.exception}`);
    if (p.error !== null && !NAMES_FRAME.test(p.error)) say(`python's error names no frame or field: ${p.error}`);
    if (ts.error !== null && !NAMES_FRAME.test(ts.error)) say(`TypeScript's error names no frame or field: ${ts.error}`);
    // Frames decoded in the same feed() as an error are dropped with it (on both sides: the
    // transport fails anyway), so with an error only the verdict must not depend on chunks.
    if ((ts.error === null) !== (whole.error === null) || (ts.error === null && ts.types.join() !== whole.types.join())) {
      say(`the chunking changed what TypeScript decoded: ${ts.error} / ${whole.error}`);
    }
    if ((ts.error === null) !== (p.error === null) || ts.types.join() !== p.types.join()) {
      say(`the decoders disagree: python ${JSON.stringify(p.types)} ${p.error}, TypeScript ${JSON.stringify(ts.types)} ${ts.error}`);
    }
    if (ts.pending > 4 + MAX_FRAME || p.pending > 4 + MAX_FRAME) say(`held ${ts.pending} / ${p.pending} bytes`);
  });
  assert.deepEqual(failures, []);
});

test('regression: a DATA frame ending exactly at the last safe sequence number is accepted, as keeper.py accepts it', () => {
  // seq + body.length overflowed 2^53 in floating point before DATA_HEADER was taken off.
  const frame = Buffer.concat(encode.data(1, 2 ** 53 - 9, 0, 0, Buffer.alloc(8)));
  const [f] = new FrameDecoder().feed(frame);
  assert.equal(f.type === FrameType.Data && f.seq, 2 ** 53 - 9);
  const over = Buffer.concat(encode.data(1, 2 ** 53 - 8, 0, 0, Buffer.alloc(8)));
  assert.throws(() => new FrameDecoder().feed(over), /DATA: sequence number out of range/);
});

test('decoding time grows linearly with the stream, on both sides', async () => {
  const frames = (n: number): Buffer => {
    const one = [encode.ack(1, 2, 3), Buffer.concat(encode.data(1, 0, 0, 0, Buffer.alloc(100, 1))), encode.json(FrameType.Error, { message: 'x'.repeat(50) })];
    return Buffer.concat(Array.from({ length: n }, (_, i) => one[i % 3]));
  };
  // A stream of small frames in 7-byte chunks, and one large frame in 1 KiB chunks.
  assertLinear('TypeScript: many frames', frames, (b) => decodeTs(b, [7]), 500);
  assertLinear(
    'TypeScript: one large frame',
    (n) => Buffer.concat(encode.data(1, 0, 0, 0, Buffer.alloc(n * 64))),
    (b) => decodeTs(b, [1024]),
    200,
  );
  // Python: the same inputs, timed inside the harness (best of three).
  const cases = [500, 4000].flatMap((n) => [0, 1, 2].map(() => ({ hex: frames(n).toString('hex'), chunks: [7] })));
  const big = [2000, 16000].flatMap((n) =>
    [0, 1, 2].map(() => ({ hex: Buffer.concat(encode.data(1, 0, 0, 0, Buffer.alloc(n * 64))).toString('hex'), chunks: [1024] })),
  );
  const py = await runHarness([...cases, ...big]);
  const best = (from: number) => Math.min(...py.slice(from, from + 3).map((v) => v.ms));
  for (const [what, small, large] of [
    ['python: many frames', best(0), best(3)],
    ['python: one large frame', best(6), best(9)],
  ] as const) {
    assert.ok(large <= 32 * small + 20, `${what}: 8x the input took ${large.toFixed(1)} ms against ${small.toFixed(1)} ms: worse than linear`);
  }
  assert.ok(py.every((v) => v.exception === null && v.error === null));
});

// ---------------------------------------------------------------- the mux

const welcome = fc.oneof(
  { weight: 4, arbitrary: fc.constant(encode.json(FrameType.Welcome, { v: 1, keeper: 'k', pid: 1, streams: [], resets: [] })) },
  {
    weight: 2,
    arbitrary: fc.tuple(fc.constantFrom(1, 2, 3), count, count, fc.constantFrom('refused', 'gone')).map(([id, recv, base, reason]) =>
      encode.json(FrameType.Welcome, {
        v: 1,
        keeper: 'k',
        pid: 1,
        streams: [{ id, kind: 'pty', recv, base, win: 1 << 20, meta: {} }],
        resets: [{ id: id + 1, reason, message: '' }],
      }),
    ),
  },
  { weight: 1, arbitrary: frame },
);

const flush = () => new Promise((r) => setImmediate(r));

test('property: whatever the keeper sends, the mux detaches with a KeeperError of its own or carries on; nothing escapes', async () => {
  await fuzzAsync(
    fc.asyncProperty(
      welcome,
      fc.array(fc.oneof({ weight: 5, arbitrary: frame }, { weight: 1, arbitrary: stream }), { maxLength: 8 }),
      chunkSizes,
      async (hello, frames, sizes) => {
        const mux = new KeeperMux({ secret: 's'.repeat(64), handshakeTimeoutMs: 5000, ackDelayMs: 1 });
        const [client, keeperEnd] = duplexPair();
        keeperEnd.on('data', () => undefined);
        const errors: KeeperError[] = [];
        mux.onDidDetach((e) => errors.push(e.error));
        try {
          mux.open({ kind: 'pty', cols: 80, rows: 24 });
          mux.open({ kind: 'tcp-connect', host: 'db', port: 5432 });
          const attached = mux.attach(client).then(
            () => undefined,
            (e: unknown) => e,
          );
          for (const chunk of chunked(Buffer.concat([hello, ...frames]), sizes)) {
            keeperEnd.write(chunk);
            await flush();
          }
          await flush();
          const refused = await Promise.race([attached, flush().then(() => 'pending')]);
          if (refused !== undefined && refused !== 'pending') {
            assert.ok(refused instanceof KeeperError, `attach rejected with ${String(refused)}`);
            errors.push(refused);
          }
          for (const e of errors) {
            assert.ok(e instanceof KeeperError && e.message.length > 0, String(e));
            // AttachedTransport wraps anything thrown while handling a frame as String(err): an
            // internal bug would show up here as "TypeError: ...".
            assert.doesNotMatch(
              e.message,
              /^\w*Error:|Cannot read propert|is not a function|is not iterable|call stack/,
              `an internal error surfaced as a detach: ${e.message}`,
            );
            // A keeper's ERROR frame carries the keeper's own words ("keeper: ...").
            if (e.reason === 'protocol' && !e.message.startsWith('keeper: ')) assert.match(e.message, NAMES_FRAME);
          }
        } finally {
          mux.dispose();
          client.destroy();
          keeperEnd.destroy();
        }
      },
    ),
    300,
  );
});

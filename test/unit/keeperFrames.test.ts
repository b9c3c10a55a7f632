import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import fc from 'fast-check';
import { KeeperError } from '../../src/core/keeper/errors';
import { encode, FrameDecoder, FrameType, MAX_FRAME, type Frame } from '../../src/core/keeper/frames';
import { keeperScriptPath } from '../harness/keeperPeer';

// fast-check: seeded, shrinking property tests; a failure prints the seed and the smallest input.
const SEED = 20261202;

function sampleFrames(): Buffer[] {
  return [
    encode.json(FrameType.Hello, { v: 1, secret: 'ab'.repeat(32), session: 's1', streams: [{ id: 1, recv: 5, win: 100 }] }),
    encode.json(FrameType.Welcome, { v: 1, keeper: 'k', streams: [], resets: [] }),
    encode.json(FrameType.Error, { code: 'secret', message: 'wrong secret' }),
    encode.open(7, { kind: 'pty', cols: 80, rows: 24 }),
    encode.opened(7, { pid: 123 }),
    Buffer.concat(encode.data(7, 2 ** 40, 12345, 4 << 20, Buffer.from('hello'))),
    encode.ack(7, 99, 1 << 20),
    encode.close(7, 1000, 2000, 0, { exit: 3 }),
    encode.reset(7, { reason: 'refused', message: 'no' }),
    encode.resize(7, 132, 43),
    encode.ping(FrameType.Ping, 42),
    encode.ping(FrameType.Pong, 42),
    encode.shutdown(),
  ];
}

function decodeChunked(data: Buffer, sizes: number[]): Frame[] {
  const d = new FrameDecoder();
  const frames: Frame[] = [];
  let pos = 0;
  let i = 0;
  while (pos < data.length) {
    const n = sizes.length ? Math.max(1, sizes[i++ % sizes.length]) : data.length;
    frames.push(...d.feed(data.subarray(pos, pos + n)));
    pos += n;
  }
  return frames;
}

test('every frame type round-trips, whole and split at every byte', () => {
  const all = Buffer.concat(sampleFrames());
  const whole = decodeChunked(all, []);
  assert.equal(whole.length, sampleFrames().length);
  assert.deepEqual(whole[5], { type: FrameType.Data, sid: 7, seq: 2 ** 40, ack: 12345, window: 4 << 20, payload: Buffer.from('hello') });
  assert.deepEqual(whole[7], { type: FrameType.Close, sid: 7, seq: 1000, ack: 2000, window: 0, info: { exit: 3 } });
  assert.deepEqual(whole[9], { type: FrameType.Resize, sid: 7, cols: 132, rows: 43 });
  for (let cut = 1; cut < 64; cut++) assert.deepEqual(decodeChunked(all, [cut]), whole, `chunks of ${cut}`);
});

test('garbage is rejected with a protocol error that says what is wrong', () => {
  const cases: Array<[Buffer, RegExp]> = [
    [Buffer.from([0, 0, 0, 0]), /frame length 0 out of range/],
    [Buffer.from([0xff, 0xff, 0xff, 0xff]), /frame length 4294967295 out of range/],
    [Buffer.from([0, 0, 0, 1, 0x7f]), /unknown frame type 0x7f/],
    [Buffer.from([0, 0, 0, 3, 0x01, 0x7b, 0x7d]).subarray(0, 6), /^$/], // incomplete: no frame, no error
    [Buffer.concat([Buffer.from([0, 0, 0, 3, 0x01]), Buffer.from('[]')]), /JSON is not an object/],
    [Buffer.concat([Buffer.from([0, 0, 0, 4, 0x01]), Buffer.from('NaN')]), /bad JSON/],
    [Buffer.concat([Buffer.from([0, 0, 0, 6, 0x01]), Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{}')]), /bad JSON/],
    [Buffer.from([0, 0, 0, 3, 0x13, 1, 2]), /ACK: body of 2 bytes, want 16/],
    [Buffer.from([0, 0, 0, 5, 0x12, 0, 0, 0, 1]), /DATA: body of 4 bytes is shorter than 25/],
    [Buffer.concat([Buffer.from([0, 0, 0, 9, 0x20]), Buffer.from('ffffffffffffffff', 'hex')]), /out of range/],
    [Buffer.from([0, 0, 0, 2, 0x22, 0]), /SHUTDOWN: body of 1 bytes, want 0/],
  ];
  for (const [bytes, re] of cases) {
    const d = new FrameDecoder();
    if (re.source === '^$') {
      assert.deepEqual(d.feed(bytes), []);
      continue;
    }
    assert.throws(
      () => d.feed(bytes),
      (e: unknown) => e instanceof KeeperError && e.reason === 'protocol' && re.test(e.message),
      `${bytes.toString('hex')} -> ${re}`,
    );
    // The framing is lost after an error: the decoder stays failed.
    assert.throws(() => d.feed(sampleFrames()[0]), KeeperError);
  }
});

test('a sequence number beyond 2^53 is refused rather than rounded', () => {
  const data = Buffer.concat(encode.data(1, 0, 0, 0, Buffer.from('x')));
  data.writeBigUInt64BE(2n ** 53n, 9);
  assert.throws(() => new FrameDecoder().feed(data), /out of range/);
});

test('property: random bytes in random chunks give frames or a protocol error, nothing else, bounded', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 600 }), fc.array(fc.integer({ min: 1, max: 80 }), { maxLength: 6 }), (bytes, sizes) => {
      const d = new FrameDecoder();
      const started = performance.now();
      let pos = 0;
      let i = 0;
      const data = Buffer.from(bytes);
      try {
        while (pos < data.length) {
          const n = sizes.length ? sizes[i++ % sizes.length] : data.length;
          d.feed(data.subarray(pos, pos + n));
          pos += n;
          assert.ok(d.pendingBytes <= 4 + MAX_FRAME, 'holds at most one partial frame');
        }
      } catch (e) {
        if (!(e instanceof KeeperError) || e.reason !== 'protocol' || e.message.length === 0) throw e;
      }
      assert.ok(performance.now() - started < 200, 'decoding 600 bytes takes well under 200 ms');
    }),
    { seed: SEED, numRuns: 3000 },
  );
});

test('property: valid frames with random mutations never throw anything but a protocol error', () => {
  const frames = sampleFrames();
  fc.assert(
    fc.property(
      fc.array(fc.integer({ min: 0, max: frames.length - 1 }), { minLength: 1, maxLength: 6 }),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 2 })), { maxLength: 4 }),
      fc.array(fc.integer({ min: 1, max: 40 }), { maxLength: 5 }),
      (picks, mutations, sizes) => {
        const original = Buffer.concat(picks.map((p) => frames[p]));
        const bytes = [...original];
        for (const [at, value, op] of mutations) {
          const i = at % (bytes.length + 1);
          if (op === 0 && bytes.length) bytes[Math.min(i, bytes.length - 1)] = value;
          else if (op === 1) bytes.splice(i, 0, value);
          else bytes.splice(i, 1 + (value % 7));
        }
        try {
          const got = decodeChunked(Buffer.from(bytes), sizes);
          if (mutations.length === 0) assert.equal(got.length, picks.length);
        } catch (e) {
          if (!(e instanceof KeeperError) || e.reason !== 'protocol') throw e;
          assert.ok(mutations.length > 0, `unmutated frames were rejected: ${(e as Error).message}`);
        }
      },
    ),
    { seed: SEED, numRuns: 3000 },
  );
});

test('keeper.py decoder survives its own seeded fuzzing (random and mutated frames)', async () => {
  const { stdout, code } = await runPython(['--selftest-fuzz', String(SEED), '20000'], '');
  assert.equal(code, 0, stdout);
  const verdict = JSON.parse(stdout) as { ok: boolean; iterations: number; rejected: number };
  assert.equal(verdict.ok, true, stdout);
  assert.ok(verdict.rejected > 1000 && verdict.rejected < 20000, `some but not all inputs rejected: ${stdout}`);
});

test('property: the python and TypeScript decoders agree frame for frame on the same bytes', async () => {
  const frames = sampleFrames();
  const inputs = fc.sample(
    fc.oneof(
      fc.uint8Array({ maxLength: 120 }).map((b) => Buffer.from(b)),
      fc
        .tuple(fc.array(fc.integer({ min: 0, max: frames.length - 1 }), { minLength: 1, maxLength: 4 }), fc.nat(), fc.integer({ min: 0, max: 255 }))
        .map(([picks, at, v]) => {
          const b = Buffer.concat(picks.map((p) => frames[p]));
          b[at % b.length] = v;
          return b;
        }),
      // A frame whose length field is a little off: every body-size check gets exercised.
      fc
        .tuple(fc.integer({ min: 0, max: frames.length - 1 }), fc.integer({ min: -3, max: 3 }), fc.uint8Array({ minLength: 3, maxLength: 3 }))
        .map(([pick, delta, tail]) => {
          const b = Buffer.concat([frames[pick], Buffer.from(tail)]);
          b.writeUInt32BE(Math.max(0, b.readUInt32BE(0) + delta), 0);
          return b;
        }),
    ),
    { seed: SEED, numRuns: 1500 },
  );
  // Edge cases random bytes rarely reach, where two JSON parsers could differ.
  const jsonFrame = (text: Buffer | string) => {
    const body = Buffer.from(text);
    const head = Buffer.alloc(5);
    head.writeUInt32BE(1 + body.length, 0);
    head[4] = FrameType.Hello;
    return Buffer.concat([head, body]);
  };
  for (const text of [
    'NaN',
    '{"a":NaN}',
    '{"a":Infinity}',
    '{"a":-Infinity}',
    '{"a":1e400}',
    '{"a":"\ud800"}',
    ' {} ',
    '{"a":1,"a":2}',
    '{"a":"\u0000"}',
    '{"a":"\t"}',
  ]) {
    inputs.push(jsonFrame(text));
  }
  inputs.push(jsonFrame(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{}')])));
  inputs.push(jsonFrame(Buffer.from([0x7b, 0x22, 0xed, 0xa0, 0x80, 0x22, 0x3a, 0x31, 0x7d])));
  const { stdout, code } = await runPython(['--decode-lines'], inputs.map((b) => b.toString('hex')).join('\n') + '\n');
  assert.equal(code, 0);
  const verdicts = stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { frames: number; error: string | null; exception?: string });
  assert.equal(verdicts.length, inputs.length);
  let disagreements = 0;
  const examples: string[] = [];
  inputs.forEach((input, i) => {
    const py = verdicts[i];
    assert.equal(py.exception, undefined, `python raised on ${input.toString('hex')}: ${py.exception}`);
    const d = new FrameDecoder();
    let count = 0;
    let error: string | null = null;
    try {
      count = d.feed(input).length;
    } catch (e) {
      error = (e as Error).message;
    }
    // An error ends decoding, so frames decoded before it count too; both must agree on both.
    if (py.frames !== count && error === null) disagreements++;
    if ((py.error === null) !== (error === null)) {
      disagreements++;
      if (examples.length < 3) examples.push(`${input.toString('hex')}: python ${py.error}, ts ${error}`);
    }
  });
  assert.equal(disagreements, 0, examples.join('\n'));
});

function runPython(args: string[], input: string): Promise<{ stdout: string; code: number | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn('python3', [keeperScriptPath(), ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
    let stdout = '';
    const timer = setTimeout(() => {
      child.kill();
      reject(new Error(`python3 keeper.py ${args.join(' ')} did not finish within 60 s`));
    }, 60_000);
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ stdout, code });
    });
    child.stdin.end(input);
  });
}

/**
 * Fuzz: the -D SOCKS4/4a/5 handshake parser (core/forward/socksServer.ts) on random,
 * truncated and bit-flipped requests fed in random chunkings. Properties: it never throws;
 * how TCP splits the bytes changes nothing; every refusal names the byte or field at fault;
 * a well-formed request comes out exactly as sent, with the bytes after it; and it decides
 * within a bounded number of bytes (a client cannot make it buffer without end).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { SocksHandshake, type HandshakeStep } from '../../../src/core/forward/socksServer';
import { chunked, chunkSizes, fuzz, mutatedBytes } from '../../harness/arbitraries';

/** The most a complete handshake can take: SOCKS5 greeting 2+255, request 4+1+255+2; SOCKS4a 8+256+256. */
const MOST_BYTES = 520;

interface Model {
  version: 4 | 5;
  addressType: 'ipv4' | 'ipv6' | 'domain';
  host: Buffer;
  port: number;
  methods: number[];
  user: Buffer;
}

const nonNul = (max: number, min = 0) => fc.uint8Array({ min: 1, max: 255, minLength: min, maxLength: max }).map((b) => Buffer.from(b));
const domain = fc.oneof(
  fc.domain().map((d) => Buffer.from(d)),
  fc.uint8Array({ min: 0x21, max: 0x7e, minLength: 1, maxLength: 255 }).map((b) => Buffer.from(b)),
);

const model: fc.Arbitrary<Model> = fc.oneof(
  fc.record({
    version: fc.constant(5 as const),
    addressType: fc.constantFrom('ipv4' as const, 'ipv6' as const, 'domain' as const),
    host: domain,
    port: fc.integer({ min: 0, max: 65535 }),
    methods: fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 255 }).map((m) => (m.includes(0) ? m : [...m, 0])),
    user: fc.constant(Buffer.alloc(0)),
  }),
  fc.record({
    version: fc.constant(4 as const),
    addressType: fc.constantFrom('ipv4' as const, 'domain' as const),
    host: fc.domain().map((d) => Buffer.from(d)),
    port: fc.integer({ min: 0, max: 65535 }),
    methods: fc.constant<number[]>([]),
    user: nonNul(255),
  }),
);

const ipv4 = Buffer.from([10, 1, 2, 3]);
const ipv6 = Buffer.from('20010db8000000000000000000000001', 'hex');

function encode(m: Model): Buffer {
  const port = Buffer.from([m.port >> 8, m.port & 0xff]);
  if (m.version === 5) {
    const addr =
      m.addressType === 'ipv4'
        ? Buffer.concat([Buffer.from([1]), ipv4])
        : m.addressType === 'ipv6'
          ? Buffer.concat([Buffer.from([4]), ipv6])
          : Buffer.concat([Buffer.from([3, m.host.length]), m.host]);
    return Buffer.concat([Buffer.from([5, m.methods.length, ...m.methods]), Buffer.from([5, 1, 0]), addr, port]);
  }
  const ip = m.addressType === 'ipv4' ? ipv4 : Buffer.from([0, 0, 0, 9]);
  const tail = m.addressType === 'domain' ? Buffer.concat([m.host, Buffer.from([0])]) : Buffer.alloc(0);
  return Buffer.concat([Buffer.from([4, 1]), port, ip, m.user, Buffer.from([0]), tail]);
}

function expectedHost(m: Model): string {
  if (m.version === 5 && m.addressType === 'ipv6') return '2001:db8::1';
  return m.addressType === 'ipv4' ? '10.1.2.3' : m.host.toString('utf8');
}

interface Outcome {
  steps: HandshakeStep[];
  /** Bytes after the request: its `rest` and every chunk fed after it. */
  after: Buffer;
}

function feed(data: Buffer, sizes: readonly number[]): Outcome {
  const h = new SocksHandshake();
  const steps: HandshakeStep[] = [];
  const after: Buffer[] = [];
  let requested = false;
  for (const chunk of chunked(data, sizes)) {
    if (h.done) {
      if (requested) after.push(chunk);
      assert.deepEqual(h.feed(chunk), [], 'input after the end of the handshake is ignored');
      continue;
    }
    for (const step of h.feed(chunk)) {
      steps.push(step);
      if (step.kind === 'request') {
        requested = true;
        after.push(step.rest);
      }
    }
  }
  return { steps, after: Buffer.concat(after) };
}

/** A refusal's reason names the byte or field: a value, a quoted name, or what is missing. */
const NAMES_FIELD = /0x[0-9a-f]{2}|command \d+|address type \d+|version \d+|host name in .*: ".*"|offers no method|too long/;

const input = fc.oneof(
  { weight: 3, arbitrary: model.map(encode) },
  { weight: 4, arbitrary: mutatedBytes(model.map(encode)) },
  { weight: 2, arbitrary: fc.uint8Array({ maxLength: 80 }).map((b) => Buffer.from(b)) },
  {
    weight: 1,
    arbitrary: fc.tuple(fc.constantFrom(4, 5), fc.uint8Array({ minLength: 100, maxLength: 700 })).map(([v, b]) => Buffer.concat([Buffer.from([v]), b])),
  },
  // A SOCKS4 or 4a CONNECT whose user id (or 4a host name) never ends.
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.constantFrom([4, 1, 0, 80, 10, 0, 0, 1], [4, 1, 0, 80, 0, 0, 0, 9]), fc.option(nonNul(255)), nonNul(700, MOST_BYTES))
      .map(([head, user, endless]) => Buffer.concat([Buffer.from(head), ...(user === null ? [] : [user, Buffer.from([0])]), endless])),
  },
);

test('property: random, truncated and bit-flipped requests: no throw, chunking changes nothing, refusals name the field, bounded', () => {
  fuzz(
    fc.property(input, chunkSizes, (data, sizes) => {
      const whole = feed(data, []);
      const split = feed(data, sizes);
      assert.deepEqual(split.steps.map(withoutRest), whole.steps.map(withoutRest), 'the chunking changed the outcome');
      assert.deepEqual(split.after, whole.after, 'the bytes after the request differ with the chunking');
      for (const step of whole.steps) {
        if (step.kind === 'refuse') assert.match(step.reason, NAMES_FIELD);
      }
      const final = whole.steps.find((s) => s.kind !== 'send');
      if (data.length >= MOST_BYTES) assert.ok(final, `${data.length} bytes and still no decision: the buffer grows without bound`);
    }),
    1500,
  );
});

function withoutRest(step: HandshakeStep): unknown {
  return step.kind === 'request' ? { kind: step.kind, request: step.request } : step;
}

test('property: a well-formed request comes out as sent, whatever the chunking, with the bytes after it', () => {
  fuzz(
    fc.property(model, fc.uint8Array({ maxLength: 20 }), chunkSizes, (m, extra, sizes) => {
      const { steps, after } = feed(Buffer.concat([encode(m), Buffer.from(extra)]), sizes);
      const last = steps[steps.length - 1];
      assert.equal(last?.kind, 'request', JSON.stringify(steps));
      if (last.kind !== 'request') return;
      assert.deepEqual(last.request, {
        version: m.version,
        command: 'connect',
        addressType: m.version === 4 && m.addressType === 'domain' ? 'domain' : m.addressType,
        host: expectedHost(m),
        port: m.port,
      });
      assert.deepEqual(after, Buffer.from(extra));
      if (m.version === 5) assert.deepEqual(steps[0], { kind: 'send', data: Buffer.from([5, 0]) });
    }),
    1000,
  );
});

test('a truncated well-formed request asks for more bytes, never decides early', () => {
  fuzz(
    fc.property(model, fc.nat(), (m, cut) => {
      const data = encode(m);
      const short = data.subarray(0, cut % data.length);
      const { steps } = feed(short, [1]);
      assert.ok(
        steps.every((s) => s.kind === 'send'),
        `decided on ${short.length} of ${data.length} bytes: ${JSON.stringify(steps)}`,
      );
    }),
    500,
  );
});

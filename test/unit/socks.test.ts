import assert from 'node:assert/strict';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { describe, test } from 'node:test';
import { socksReplyForOpenError } from '../../src/core/forward/dynamicForward';
import {
  encodeReply,
  ipv6ToString,
  negotiateSocks,
  socks4Reply,
  socks5Reply,
  SocksHandshake,
  SocksHandshakeError,
  SocksReply,
  type HandshakeStep,
} from '../../src/core/forward/socksServer';
import { within } from '../harness/bounded';

/** Feeds one byte at a time, the worst TCP can do, and collects every step. */
function feedBytewise(bytes: number[] | Buffer): HandshakeStep[] {
  const h = new SocksHandshake();
  const steps: HandshakeStep[] = [];
  for (const b of Buffer.from(bytes)) steps.push(...h.feed(Buffer.from([b])));
  return steps;
}

function feedAll(bytes: number[] | Buffer): HandshakeStep[] {
  return new SocksHandshake().feed(Buffer.from(bytes));
}

const greeting = [5, 1, 0];
const port = (p: number) => [p >> 8, p & 0xff];
const connect5 = (atyp: number, addr: number[]) => [5, 1, 0, atyp, ...addr];

describe('SOCKS5 handshake parser', () => {
  test('IPv4 CONNECT fed byte by byte: method selection, then the request', () => {
    const steps = feedBytewise([...greeting, ...connect5(1, [127, 0, 0, 1]), ...port(8080)]);
    assert.equal(steps.length, 2);
    assert.deepEqual(steps[0], { kind: 'send', data: Buffer.from([5, 0]) });
    assert.equal(steps[1].kind, 'request');
    const r = steps[1];
    assert.deepEqual(r.request, { version: 5, command: 'connect', addressType: 'ipv4', host: '127.0.0.1', port: 8080 });
    assert.equal(r.rest.length, 0);
  });

  test('no step before a message is complete', () => {
    const h = new SocksHandshake();
    assert.deepEqual(h.feed(Buffer.from([5])), []);
    assert.deepEqual(h.feed(Buffer.from([2, 2])), [], 'two methods announced, one seen');
    assert.deepEqual(h.feed(Buffer.from([0])), [{ kind: 'send', data: Buffer.from([5, 0]) }]);
    assert.deepEqual(h.feed(Buffer.from([5, 1, 0, 3, 9, ...Buffer.from('exam')])), []);
    const steps = h.feed(Buffer.from([...Buffer.from('ple.'), ...Buffer.from('o'), ...port(443)]));
    assert.equal(steps.length, 1);
    assert.equal(steps[0].kind, 'request');
    assert.equal(h.done, true);
    assert.deepEqual(h.feed(Buffer.from([1, 2, 3])), [], "input after the handshake is not the parser's");
  });

  test('domain name CONNECT, byte by byte', () => {
    const name = Buffer.from('localhost');
    const steps = feedBytewise([...greeting, ...connect5(3, [name.length, ...name]), ...port(80)]);
    const r = steps[1] as Extract<HandshakeStep, { kind: 'request' }>;
    assert.deepEqual(r.request, { version: 5, command: 'connect', addressType: 'domain', host: 'localhost', port: 80 });
  });

  test('IPv6 CONNECT, byte by byte, in RFC 5952 text', () => {
    const loopback = [...Array(15).fill(0), 1];
    const steps = feedBytewise([...greeting, ...connect5(4, loopback), ...port(22)]);
    const r = steps[1] as Extract<HandshakeStep, { kind: 'request' }>;
    assert.deepEqual(r.request, { version: 5, command: 'connect', addressType: 'ipv6', host: '::1', port: 22 });
  });

  test('greeting, request and early stream bytes in one chunk: the rest is kept', () => {
    const steps = feedAll([...greeting, ...connect5(1, [10, 0, 0, 1]), ...port(80), ...Buffer.from('GET / HTTP/1.0\r\n')]);
    assert.equal(steps.length, 2);
    const r = steps[1] as Extract<HandshakeStep, { kind: 'request' }>;
    assert.equal(r.rest.toString(), 'GET / HTTP/1.0\r\n');
  });

  test('several methods offered: "no authentication" is picked', () => {
    const steps = feedBytewise([5, 3, 2, 1, 0, ...connect5(1, [1, 2, 3, 4]), ...port(1)]);
    assert.deepEqual(steps[0], { kind: 'send', data: Buffer.from([5, 0]) });
  });

  test('no acceptable method: 05 FF and close', () => {
    const steps = feedBytewise([5, 1, 2]);
    assert.equal(steps.length, 1);
    assert.equal(steps[0].kind, 'refuse');
    assert.deepEqual(steps[0].data, Buffer.from([5, 0xff]));
    assert.equal(feedBytewise([5, 0]).at(-1)?.kind, 'refuse', 'zero methods is no acceptable method');
  });

  test('BIND and UDP ASSOCIATE: command not supported (07)', () => {
    for (const cmd of [2, 3]) {
      const steps = feedBytewise([...greeting, 5, cmd, 0, 1, 127, 0, 0, 1, ...port(80)]);
      const last = steps.at(-1) as Extract<HandshakeStep, { kind: 'refuse' }>;
      assert.equal(last.kind, 'refuse');
      assert.deepEqual(last.data, socks5Reply(SocksReply.commandNotSupported));
      assert.equal(last.data[1], 0x07);
      assert.match(last.reason, /not supported/);
    }
  });

  test('unknown address type: address type not supported (08)', () => {
    const steps = feedBytewise([...greeting, 5, 1, 0, 9, 1, 2, 3]);
    const last = steps.at(-1) as Extract<HandshakeStep, { kind: 'refuse' }>;
    assert.equal(last.kind, 'refuse');
    assert.equal(last.data![1], 0x08);
  });

  test('empty or control-character host names are refused', () => {
    for (const name of ['', 'a b', 'x\u0000y']) {
      const n = Buffer.from(name);
      const steps = feedBytewise([...greeting, ...connect5(3, [n.length, ...n]), ...port(80)]);
      assert.equal(steps.at(-1)?.kind, 'refuse', JSON.stringify(name));
    }
  });

  test('not SOCKS at all (an HTTP request): refused without a reply', () => {
    const steps = feedAll(Buffer.from('GET / HTTP/1.1\r\n'));
    assert.deepEqual(
      steps.map((s) => s.kind),
      ['refuse'],
    );
    assert.equal((steps[0] as Extract<HandshakeStep, { kind: 'refuse' }>).data, undefined);
  });
});

describe('SOCKS4 / 4a handshake parser', () => {
  test('SOCKS4 CONNECT with a user id, byte by byte', () => {
    const steps = feedBytewise([4, 1, ...port(8080), 192, 168, 1, 2, ...Buffer.from('alice'), 0]);
    assert.equal(steps.length, 1, 'SOCKS4 has no method selection');
    const r = steps[0] as Extract<HandshakeStep, { kind: 'request' }>;
    assert.deepEqual(r.request, { version: 4, command: 'connect', addressType: 'ipv4', host: '192.168.1.2', port: 8080 });
  });

  test('SOCKS4a: 0.0.0.x means a host name follows the user id', () => {
    const bytes = [4, 1, ...port(80), 0, 0, 0, 1, 0, ...Buffer.from('example.org'), 0];
    const steps = feedBytewise(bytes);
    const r = steps[0] as Extract<HandshakeStep, { kind: 'request' }>;
    assert.deepEqual(r.request, { version: 4, command: 'connect', addressType: 'domain', host: 'example.org', port: 80 });
    const whole = feedAll([...bytes, ...Buffer.from('early')])[0] as Extract<HandshakeStep, { kind: 'request' }>;
    assert.equal(whole.rest.toString(), 'early', 'bytes after the request in the same chunk belong to the stream');
  });

  test('SOCKS4 BIND is rejected with 5B', () => {
    const steps = feedBytewise([4, 2, ...port(80), 1, 2, 3, 4, 0]);
    const last = steps[0] as Extract<HandshakeStep, { kind: 'refuse' }>;
    assert.equal(last.kind, 'refuse');
    assert.deepEqual(last.data, Buffer.from([0, 0x5b, 0, 0, 0, 0, 0, 0]));
  });

  test('a user id without its NUL cannot grow the buffer forever', () => {
    const steps = feedAll([4, 1, ...port(80), 1, 2, 3, 4, ...Buffer.alloc(300, 0x41)]);
    assert.equal(steps.at(-1)?.kind, 'refuse');
    const h = new SocksHandshake();
    assert.deepEqual(h.feed(Buffer.from([4, 1, ...port(80), 1, 2, 3, 4, 0x41])), [], 'short ids just wait');
  });
});

describe('SOCKS serializers', () => {
  test('replies', () => {
    assert.deepEqual(socks5Reply(SocksReply.succeeded), Buffer.from([5, 0, 0, 1, 0, 0, 0, 0, 0, 0]));
    assert.deepEqual(socks5Reply(SocksReply.hostUnreachable), Buffer.from([5, 4, 0, 1, 0, 0, 0, 0, 0, 0]));
    assert.deepEqual(socks4Reply(true), Buffer.from([0, 0x5a, 0, 0, 0, 0, 0, 0]));
    assert.deepEqual(encodeReply(4, SocksReply.connectionRefused), socks4Reply(false));
    assert.deepEqual(encodeReply(5, SocksReply.connectionRefused), socks5Reply(SocksReply.connectionRefused));
  });

  test('IPv6 text: longest zero run compressed, single zero groups kept, no leading zeros', () => {
    const v6 = (groups: number[]) => {
      const b = Buffer.alloc(16);
      groups.forEach((g, i) => b.writeUInt16BE(g, i * 2));
      return ipv6ToString(b);
    };
    assert.equal(v6([0, 0, 0, 0, 0, 0, 0, 0]), '::');
    assert.equal(v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 1]), '2001:db8::1');
    assert.equal(v6([0x2001, 0xdb8, 0, 1, 1, 1, 1, 1]), '2001:db8:0:1:1:1:1:1');
    assert.equal(v6([1, 0, 0, 1, 0, 0, 0, 1]), '1:0:0:1::1');
    assert.equal(v6([0xfe80, 0, 0, 0, 0xabc, 0, 0, 0]), 'fe80::abc:0:0:0');
    assert.equal(v6([1, 2, 3, 4, 5, 6, 7, 0]), '1:2:3:4:5:6:7:0');
  });

  test('channel open failures map to SOCKS reply codes', () => {
    assert.equal(socksReplyForOpenError({ reason: 2, message: '(SSH) Channel open failure: Connection refused' }), SocksReply.connectionRefused);
    assert.equal(socksReplyForOpenError({ reason: 2, message: '(SSH) Channel open failure: No route to host' }), SocksReply.hostUnreachable);
    assert.equal(socksReplyForOpenError({ reason: 2, message: '(SSH) Channel open failure: Name or service not known' }), SocksReply.hostUnreachable);
    assert.equal(socksReplyForOpenError({ reason: 2, message: '(SSH) Channel open failure: Network is unreachable' }), SocksReply.networkUnreachable);
    assert.equal(socksReplyForOpenError({ reason: 1, message: '(SSH) Channel open failure: administratively prohibited' }), SocksReply.notAllowed);
    assert.equal(socksReplyForOpenError({ message: 'opening a channel timed out' }), SocksReply.generalFailure);
  });
});

describe('negotiateSocks over a real socket', () => {
  async function pair(): Promise<{ server: Socket; client: Socket; close(): void }> {
    return within(
      new Promise((resolve) => {
        const srv = createServer({ pauseOnConnect: true }, (server) => {
          resolve({ server, client, close: () => (srv.close(), client.destroy(), server.destroy()) });
        });
        let client: Socket;
        srv.listen(0, '127.0.0.1', () => {
          client = connect((srv.address() as AddressInfo).port, '127.0.0.1');
        });
      }),
      5000,
      'a loopback socket pair',
    );
  }

  test('early bytes after the request stay in the stream, in order', async (t) => {
    const p = await pair();
    t.after(() => p.close());
    const negotiation = negotiateSocks(p.server, 2000);
    p.client.write(Buffer.from([...greeting, ...connect5(1, [127, 0, 0, 1]), ...port(80), ...Buffer.from('hello ')]));
    const n = await within(negotiation, 5000, 'the SOCKS negotiation to finish');
    assert.equal(n.request.port, 80);
    p.client.write('world');
    const got: Buffer[] = [];
    p.server.on('data', (d: Buffer) => got.push(d));
    const replies: Buffer[] = [];
    p.client.on('data', (d: Buffer) => replies.push(d));
    n.reply(SocksReply.succeeded);
    p.server.resume();
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(Buffer.concat(got).toString(), 'hello world');
    assert.deepEqual(Buffer.concat(replies), Buffer.concat([Buffer.from([5, 0]), socks5Reply(SocksReply.succeeded)]));
  });

  test('a client that sends nothing is closed at the handshake deadline', async (t) => {
    const p = await pair();
    t.after(() => p.close());
    const started = Date.now();
    const closed = new Promise<void>((r) => p.client.once('close', () => r()));
    await assert.rejects(negotiateSocks(p.server, 200), (e: Error) => e instanceof SocksHandshakeError && /within 200 ms/.test(e.message));
    await within(closed, 5000, 'the silent client to be closed at the handshake deadline');
    assert.ok(Date.now() - started < 1500);
  });

  test('a refused request gets its reply, then the connection closes', async (t) => {
    const p = await pair();
    t.after(() => p.close());
    const data: Buffer[] = [];
    p.client.on('data', (d: Buffer) => data.push(d));
    const closed = new Promise<void>((r) => p.client.once('close', () => r()));
    const negotiation = negotiateSocks(p.server, 2000);
    p.client.write(Buffer.from([...greeting, 5, 2, 0, 1, 127, 0, 0, 1, ...port(80)]));
    await assert.rejects(negotiation, /not supported/);
    await within(closed, 5000, 'the refused client to be closed after its reply');
    assert.deepEqual(Buffer.concat(data), Buffer.concat([Buffer.from([5, 0]), socks5Reply(SocksReply.commandNotSupported)]));
  });
});

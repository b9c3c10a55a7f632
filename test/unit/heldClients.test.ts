import assert from 'node:assert/strict';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { after, before, test, type TestContext } from 'node:test';
import { nullLogger } from '../../src/core/base/logger';
import { DynamicForward } from '../../src/core/forward/dynamicForward';
import { LocalForward } from '../../src/core/forward/localForward';
import { noPrompter } from '../../src/core/session/prompter';
import { Session, sessionOptionsFor, type SessionOptions } from '../../src/core/session/session';
import { eventWithin, sleep, until } from '../harness/bounded';
import { startFaultProxy, type FaultProxy } from '../../tools/peers/faultProxy';
import { startMiniServer, type MiniServer } from '../harness/miniServer';
import { fastSession } from '../harness/fastOptions';

/**
 * A client that connects to a forward while the session is down is held, not refused, and
 * served once the session is back (without root: the outage is a userland fault proxy
 * between the session and the server).
 */

let server: MiniServer;
let echoPort: number;
const closers: Array<() => unknown> = [];
before(async () => {
  server = await startMiniServer();
  const echo = createServer((s) => s.on('error', () => undefined).pipe(s));
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
  echoPort = (echo.address() as AddressInfo).port;
  closers.push(() => echo.close());
});
after(async () => {
  for (const close of closers.reverse()) await close();
  await server.close();
});

const fast: Partial<SessionOptions> = { ...fastSession, reconnectTcpTimeoutMs: 300 };
const hold = { holdMs: 15_000, channelOpenMs: 3000 };

async function connectedThroughProxy(t: TestContext): Promise<{ session: Session; proxy: FaultProxy }> {
  const proxy = await startFaultProxy('127.0.0.1', server.port);
  const host = server.resolvedHost(proxy.port);
  const session = new Session(host, sessionOptionsFor(host, fast), { prompter: noPrompter, logger: nullLogger });
  t.after(async () => {
    session.dispose();
    await proxy.close();
  });
  const up = eventWithin(session.onDidChangeState, (s) => s.kind === 'connected', 5000, 'the first connection');
  void session.start().catch(() => undefined);
  await up;
  return { session, proxy };
}

/** The outage: the live connection dies and new ones are accepted but never answered. */
async function outage(session: Session, proxy: FaultProxy): Promise<void> {
  const lost = eventWithin(session.onDidChangeState, (s) => s.kind === 'lost', 3000, 'the session to notice the outage');
  proxy.blackhole();
  proxy.reset();
  await lost;
}

/** A client socket that records what it receives and whether it was closed. */
function client(port: number): { socket: Socket; received: () => Buffer; closed: () => boolean } {
  const socket = connect(port, '127.0.0.1');
  const chunks: Buffer[] = [];
  let closed = false;
  socket.on('data', (d: Buffer) => chunks.push(d));
  socket.on('error', () => undefined);
  socket.on('close', () => (closed = true));
  return { socket, received: () => Buffer.concat(chunks), closed: () => closed };
}

test('-L: a client that connects during an outage is held, then served when the session is back', async (t) => {
  const { session, proxy } = await connectedThroughProxy(t);
  const fwd = new LocalForward({ bindPort: 0, host: '127.0.0.1', hostPort: echoPort }, session, nullLogger, hold);
  t.after(() => fwd.dispose());
  await fwd.listen();
  await outage(session, proxy);

  const c = client(fwd.port!);
  t.after(() => c.socket.destroy());
  c.socket.write('sent during the outage');
  await sleep(800);
  assert.notEqual(session.state.kind, 'connected', 'the outage lasts while the client waits');
  assert.equal(c.closed(), false, 'the client is held, not refused');
  assert.equal(c.received().length, 0, 'nothing answers during the outage');

  proxy.resume();
  await until(() => c.received().toString() === 'sent during the outage' || c.closed(), 10_000, 'the held -L client to get its echo after the outage');
  assert.equal(c.received().toString(), 'sent during the outage');
  assert.equal(fwd.counters.totalConnections, 1);
});

test('-D: a SOCKS request made during an outage gets no reply until the session is back, then succeeds', async (t) => {
  const { session, proxy } = await connectedThroughProxy(t);
  const fwd = new DynamicForward({ bindPort: 0 }, session, nullLogger, { ...hold, handshakeMs: 15_000 });
  t.after(() => fwd.dispose());
  await fwd.listen();
  await outage(session, proxy);

  const c = client(fwd.port!);
  t.after(() => c.socket.destroy());
  // SOCKS5: no authentication, then CONNECT 127.0.0.1:echoPort, then payload.
  c.socket.write(Buffer.from([5, 1, 0, 5, 1, 0, 1, 127, 0, 0, 1, echoPort >> 8, echoPort & 0xff, ...Buffer.from('early')]));
  await sleep(800);
  assert.notEqual(session.state.kind, 'connected', 'the outage lasts while the client waits');
  assert.equal(c.closed(), false, 'the client is held, not refused');
  assert.equal(c.received().length, 2, 'only the method selection is answered during the outage');

  proxy.resume();
  const full = 2 + 10 + 'early'.length;
  await until(() => c.received().length >= full || c.closed(), 10_000, 'the held SOCKS request to be answered after the outage');
  const reply = c.received();
  assert.deepEqual([...reply.subarray(0, 4)], [5, 0, 5, 0], 'method selection, then success');
  assert.equal(reply.subarray(12).toString(), 'early', 'bytes sent before the reply went through');
});

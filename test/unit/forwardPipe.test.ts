import assert from 'node:assert/strict';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { after, before, test, type TestContext } from 'node:test';
import { nullLogger } from '../../src/core/base/logger';
import { LocalForward } from '../../src/core/forward/localForward';
import { noPrompter } from '../../src/core/session/prompter';
import { Session, sessionOptionsFor } from '../../src/core/session/session';
import { until, within } from '../harness/bounded';
import { fastSession } from '../harness/fastOptions';
import { startMiniServer, type MiniServer } from '../harness/miniServer';

/**
 * A forwarded connection as the user sees it: bytes both ways are counted (the status shows
 * them), and when either end goes away the other is closed, so that neither the local
 * client nor the server side is left open.
 */

let server: MiniServer;
let targetPort: number;
const targetSockets = new Set<Socket>();
const closers: Array<() => unknown> = [];
before(async () => {
  server = await startMiniServer();
  // The target echoes, and "bye" makes it hang up (the far end closing first).
  const target = createServer((s) => {
    targetSockets.add(s);
    s.on('close', () => targetSockets.delete(s));
    s.on('error', () => undefined);
    s.on('data', (d: Buffer) => (d.toString() === 'bye' ? s.destroy() : s.write(d)));
  });
  await new Promise<void>((r) => target.listen(0, '127.0.0.1', r));
  targetPort = (target.address() as AddressInfo).port;
  closers.push(() => target.close());
});
after(async () => {
  for (const close of closers.reverse()) await close();
  await server.close();
});

async function forward(t: TestContext): Promise<LocalForward> {
  const host = server.resolvedHost();
  const session = new Session(host, sessionOptionsFor(host, fastSession), { prompter: noPrompter, logger: nullLogger });
  t.after(() => session.dispose());
  await within(session.start(), 5000, 'the session to connect to the mini server');
  const fwd = new LocalForward({ bindPort: 0, host: '127.0.0.1', hostPort: targetPort }, session, nullLogger);
  t.after(() => fwd.dispose());
  await fwd.listen();
  return fwd;
}

function client(port: number): { socket: Socket; received: () => string; closed: () => boolean } {
  const socket = connect(port, '127.0.0.1');
  let text = '';
  let closed = false;
  socket.on('data', (d: Buffer) => (text += d.toString()));
  socket.on('error', () => undefined);
  socket.on('close', () => (closed = true));
  return { socket, received: () => text, closed: () => closed };
}

test('-L counts the bytes each way and the open connection, and the client leaving closes the far end', async (t) => {
  const fwd = await forward(t);
  const c = client(fwd.port!);
  t.after(() => c.socket.destroy());
  c.socket.write('hello, world');
  await until(() => c.received() === 'hello, world', 5000, 'the echo through the -L forward');
  assert.equal(fwd.counters.bytesOut, 12, 'bytes sent by the client');
  assert.equal(fwd.counters.bytesIn, 12, 'bytes received by the client');
  assert.equal(fwd.counters.openConnections, 1);
  assert.equal(targetSockets.size, 1);

  c.socket.destroy();
  await until(() => targetSockets.size === 0, 5000, 'the far end to be closed after the client left');
  await until(() => fwd.counters.openConnections === 0, 5000, 'the forward to count the connection closed');
  assert.equal(fwd.counters.totalConnections, 1);
});

test('-L: the far end hanging up closes the local client', async (t) => {
  const fwd = await forward(t);
  const c = client(fwd.port!);
  t.after(() => c.socket.destroy());
  c.socket.write('ping');
  await until(() => c.received() === 'ping', 5000, 'the echo through the -L forward');
  c.socket.write('bye');
  await until(() => c.closed(), 5000, 'the local client to be closed after the far end hung up');
  await until(() => fwd.counters.openConnections === 0, 5000, 'the forward to count the connection closed');
});

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { connect, createServer, type AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { Client } from 'ssh2';
import { waitForEvent } from '../../src/core/base/event';
import { nullLogger } from '../../src/core/base/logger';
import type { ResolvedHost } from '../../src/core/config/types';
import { LocalForward } from '../../src/core/forward/localForward';
import { sendProbe } from '../../src/core/liveness/probe';
import { ConnectionScope } from '../../src/core/session/connection';
import { noPrompter } from '../../src/core/session/prompter';
import { KICK_GAP_MS, Session, sessionOptionsFor, type SessionOptions } from '../../src/core/session/session';
import type { SessionState } from '../../src/core/session/state';
import { runOneOff } from '../../src/cli/oneOff';
import { FakeClock, turns, until } from '../harness/fakeClock';
import { startMiniServer, type MiniServer } from '../harness/miniServer';
import { CallCounter } from '../harness/mustCall';
import { fastSession } from '../harness/fastOptions';

let server: MiniServer;
const sessions: Session[] = [];

before(async () => {
  server = await startMiniServer();
});
after(async () => {
  sessions.forEach((s) => s.dispose());
  await server.close();
});

// A backoff far longer than the gap: an attempt inside it can only come from a kick.
const fast: Partial<SessionOptions> = { ...fastSession, backoff: { initialMs: 5000, maxMs: 5000, factor: 1, minMs: 5000 } };

function makeSession(host: ResolvedHost, overrides: Partial<SessionOptions> = {}) {
  const clock = new FakeClock();
  const session = new Session(host, { ...sessionOptionsFor(host, fast), ...overrides }, { prompter: noPrompter, logger: nullLogger, clock });
  sessions.push(session);
  const states: SessionState[] = [];
  session.onDidChangeState((s) => states.push(s));
  return { session, states, clock };
}

test('a connection scope: end listeners see why, then what riders added is disposed last first', async (t) => {
  const calls = new CallCounter();
  t.after(() => calls.verify());
  const conn = new ConnectionScope(new Client(), false, 1);
  const order: string[] = [];
  conn.onDidEnd(
    calls.mustCall((end) => {
      order.push(`end:${end.reason}`);
      assert.equal(conn.isEnded, true);
    }),
  );
  conn.add({ dispose: calls.mustCall(() => order.push('first added')) });
  conn.add({ dispose: calls.mustCall(() => order.push('second added')) });
  conn.end({ kind: 'lost', reason: 'gone' });
  conn.end({ kind: 'lost', reason: 'twice' }); // ends once
  assert.deepEqual(order, ['end:gone', 'second added', 'first added']);
  // Added after the end: disposed at once, never leaked.
  conn.add({ dispose: calls.mustCall(() => order.push('late')) });
  assert.equal(order.at(-1), 'late');
  calls.verify();
});

test('subscribing to an ended connection calls back later, and not at all once unsubscribed', async (t) => {
  const calls = new CallCounter();
  t.after(() => calls.verify());
  const conn = new ConnectionScope(new Client(), false, 1);
  conn.end({ kind: 'lost', reason: 'gone' });
  const late = conn.onDidEnd(calls.mustCall(() => undefined, 1, 'late subscriber'));
  const cancelled = conn.onDidEnd(calls.mustNotCall('a subscription disposed before its queued call ran'));
  cancelled.dispose();
  await turns(1);
  late.dispose();
  calls.verify();
});

test('a user action right after a failed attempt is deferred to the end of the gap, not dropped', async () => {
  // A refused port: each attempt fails at once and then waits out a one-second cycle.
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const deadPort = (probe.address() as AddressInfo).port;
  await new Promise<void>((r) => probe.close(() => r()));
  const { session, states, clock } = makeSession(server.resolvedHost(deadPort));
  void session.start().catch(() => undefined);
  await waitForEvent(session.onDidChangeState, (s) => s.kind === 'waiting', 3000, 'the first failed attempt');
  const waiting = session.state as Extract<SessionState, { kind: 'waiting' }>;
  assert.ok(waiting.delayMs >= 800, `the next attempt is about a second away (${waiting.delayMs} ms)`);
  const attempts = () => states.filter((s) => s.kind === 'connecting').length;
  const before = attempts();
  // A person opens a forwarded port at once: a user action, well within the gap.
  void session.whenUsable({ userAction: true, timeoutMs: 60_000 }).catch(() => undefined);
  await clock.advance(KICK_GAP_MS - 10);
  assert.equal(attempts(), before, 'no attempt sooner than the gap after the previous one');
  await clock.advance(10);
  await until('the deferred kick to start an attempt', () => attempts() > before);
  assert.ok(clock.now() - waiting.until < 0, 'the attempt came before the backoff ran out');
  session.dispose();
});

test('a server that authenticates and never answers the first keepalive is not connected', async (t) => {
  server.stallAfterAuth = true;
  t.after(() => (server.stallAfterAuth = false));
  const { session, states, clock } = makeSession(server.resolvedHost());
  void session.start().catch(() => undefined);
  // Logged in: the keepalive exists and its first probe waits for a reply (fake timers pending).
  await until('the login to finish', () => server.connections.size > 0 && clock.nextIn !== undefined);
  // Logged in but not measured: nobody sees this connection yet (no client, no scope).
  const kindThen: string = session.state.kind;
  assert.equal(kindThen, 'connecting');
  assert.equal(session.client, undefined, 'no client while the first probe is unanswered');
  assert.equal(session.connection, undefined, 'no connection scope while the first probe is unanswered');
  await clock.advance(3000); // the first probe's deadline: max(2 s, ConnectTimeout)
  await until('the attempt to fail', () => session.state.kind === 'waiting');
  assert.ok(!states.some((s) => s.kind === 'connected'), `never connected: ${states.map((s) => s.kind).join(' ')}`);
  assert.match((session.state as Extract<SessionState, { kind: 'waiting' }>).lastError, /did not answer a first keepalive/);
  // It retries as a lost path would, and a server that answers again is connected.
  server.stallAfterAuth = false;
  const connected = waitForEvent(session.onDidChangeState, (s) => s.kind === 'connected', 5000, 'connected');
  await clock.advance(5000);
  await connected;
  session.dispose();
});

test('a probe pending when the connection closes is not counted as answered (ssh2 calls back with an Error)', async (t) => {
  server.stallAfterAuth = true;
  t.after(() => (server.stallAfterAuth = false));
  const client = new Client();
  client.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    client.once('ready', resolve);
    client.once('error', reject);
    client.connect({ host: '127.0.0.1', port: server.port, username: 'tester', privateKey: readFileSync(server.clientKeyPath), hostVerifier: () => true });
  });
  const reply = sendProbe(client);
  assert.ok(reply, 'a probe was sent');
  client.destroy();
  assert.equal(await reply, undefined, 'no reply came; the close must not look like one');
});

test('an -L listener error after binding does not mark the forward failed', async (t) => {
  const { session } = makeSession(server.resolvedHost());
  await session.start();
  const forward = new LocalForward({ bindPort: 0, host: '127.0.0.1', hostPort: 9 }, session, nullLogger);
  t.after(() => forward.dispose());
  await forward.start();
  assert.equal(forward.state.kind, 'active');
  const listening = (forward as unknown as { server: { emit(e: string, err: Error): void } }).server;
  listening.emit('error', new Error('EMFILE: too many open files, accept'));
  assert.equal(forward.state.kind, 'active', `a later server error is logged, not a bind failure: ${JSON.stringify(forward.state)}`);
  // The listener still serves: a connection is accepted.
  const socket = connect(forward.port!, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  socket.destroy();
  forward.dispose();
  session.dispose();
});

test('a one-off command whose connection was lost before it started: one line, exit 255', async () => {
  const { session } = makeSession(server.resolvedHost());
  const lines: string[] = [];
  const code = await runOneOff(session, { command: 'true', pty: false }, (l) => lines.push(l));
  assert.equal(code, 255);
  assert.equal(lines.length, 1);
  assert.match(lines[0], /^ssh-keepalive: connection to mini lost before the command could start/);
  session.dispose();
});

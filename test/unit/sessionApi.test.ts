import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { after, before, test, type TestContext } from 'node:test';
import type { ResolvedHost } from '../../src/core/config/types';
import { SessionError } from '../../src/core/session/errors';
import { noPrompter, type Prompter } from '../../src/core/session/prompter';
import { Session, sessionOptionsFor, type SessionOptions } from '../../src/core/session/session';
import type { SessionState } from '../../src/core/session/state';
import { eventWithin, within } from '../harness/bounded';
import { FakeClock, turns } from '../harness/fakeClock';
import { startMiniServer, type MiniServer } from '../harness/miniServer';
import { recordingLogger, type RecordingLogger } from '../harness/recordingLogger';

/** The Session's public surface in each state: what callers get, and what it logs. */

let server: MiniServer;
before(async () => {
  server = await startMiniServer();
});
after(() => server.close());

const fast: Partial<SessionOptions> = {
  keepalive: { intervalMs: 0, countMax: 3, demandMinMs: 400, demandRttFactor: 4, quietMs: 100 },
  backoff: { initialMs: 100, maxMs: 400, factor: 2, minMs: 50 },
  pathDownRetryMs: { min: 10, max: 20 },
  pathDownMinCycleMs: 60,
  reconnectTcpTimeoutMs: 500,
  connectTimeoutMs: 3000,
};

function make(
  t: TestContext,
  host: ResolvedHost,
  prompter: Prompter = noPrompter,
  clock?: FakeClock,
): { session: Session; states: SessionState[]; logger: RecordingLogger } {
  const logger = recordingLogger();
  const session = new Session(host, sessionOptionsFor(host, fast), { prompter, logger, clock });
  t.after(() => session.dispose());
  const states: SessionState[] = [];
  session.onDidChangeState((s) => states.push(s));
  return { session, states, logger };
}

async function refusedPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const port = (probe.address() as AddressInfo).port;
  await new Promise<void>((r) => probe.close(() => r()));
  return port;
}

const isCancelled = (e: unknown) => e instanceof SessionError && e.code === 'cancelled';

test('connected: RTT (0.1 ms), last contact, a client; a restore says how long it took', async (t) => {
  const { session, states } = make(t, server.resolvedHost());
  const connects: boolean[] = [];
  session.onDidConnect((c) => connects.push(c.restored));
  assert.equal(session.client, undefined, 'no client before connecting');
  assert.equal(session.rttMs, undefined);
  await within(session.start(), 5000, 'the first connection');
  const first = states.at(-1) as Extract<SessionState, { kind: 'connected' }>;
  assert.equal(first.kind, 'connected');
  assert.equal(typeof first.rttMs, 'number');
  assert.equal(first.rttMs, Math.round(first.rttMs! * 10) / 10);
  assert.equal(first.restoredAfterMs, undefined, 'a first connection is not a restore');
  assert.equal(typeof session.rttMs, 'number');
  assert.ok(Math.abs(session.lastContact! - Date.now()) < 2000, 'last contact is recent');
  assert.ok(session.client, 'a client when connected');
  await within(session.reconnect('test'), 5000, 'the reconnect');
  const restored = states.at(-1) as Extract<SessionState, { kind: 'connected' }>;
  assert.ok(typeof restored.restoredAfterMs === 'number' && restored.restoredAfterMs >= 0 && restored.restoredAfterMs < 5000, JSON.stringify(restored));
  assert.deepEqual(connects, [false, true]);
  assert.deepEqual(states.map((s) => s.kind).slice(2, 4), ['lost', 'waiting'], 'a requested reconnect goes through lost');
  assert.match((states[2] as { reason: string }).reason, /^test$/);
});

test('closed: start, reconnect and whenUsable are cancelled; dispose is idempotent', async (t) => {
  const { session, states } = make(t, server.resolvedHost());
  await within(session.start(), 5000, 'the first connection');
  session.dispose();
  session.dispose();
  assert.equal(session.state.kind, 'closed');
  assert.equal(states.filter((s) => s.kind === 'closed').length, 1, 'closed once');
  assert.equal(session.client, undefined);
  assert.equal(session.rttMs, undefined);
  await assert.rejects(session.reconnect(), isCancelled);
  await assert.rejects(session.whenUsable({ timeoutMs: 100 }), isCancelled);
  const fresh = make(t, server.resolvedHost()).session;
  const starting = fresh.start();
  fresh.dispose();
  await assert.rejects(within(starting, 2000, 'start() to be cancelled'), isCancelled);
});

test('failed: whenUsable throws the failure; reconnect() tries again (the user may have fixed it)', async (t) => {
  const empty = `${server.dir}/api_empty_known_hosts`;
  writeFileSync(empty, '');
  let accept = false;
  const prompter: Prompter = { ...noPrompter, confirmHostKey: async () => accept };
  const clock = new FakeClock();
  const { session, states } = make(t, server.resolvedHost(undefined, { userKnownHostsFiles: [empty], strictHostKeyChecking: 'ask' }), prompter, clock);
  const err = await within(
    session.start().then(
      () => undefined,
      (e: unknown) => e,
    ),
    5000,
    'the refused host key',
  );
  assert.ok(err instanceof SessionError && err.code === 'host-key-unknown', String(err));
  await assert.rejects(session.whenUsable({ timeoutMs: 100 }), (e: unknown) => e === err);
  assert.equal(clock.pending, 0, 'a failed session holds no timer that could retry');
  await clock.advance(60_000);
  assert.equal(session.state.kind, 'failed', 'no retry by itself');
  accept = true;
  await within(session.reconnect(), 5000, 'the reconnect after the key was accepted');
  assert.equal(session.state.kind, 'connected');
  assert.deepEqual(
    states.map((s) => s.kind),
    ['connecting', 'failed', 'connecting', 'connected'],
  );
});

test('whenUsable on an idle session starts it; on one that cannot connect it times out saying so', async (t) => {
  const { session } = make(t, server.resolvedHost());
  const conn = await within(session.whenUsable({ timeoutMs: 5000 }), 6000, 'whenUsable on an idle session');
  assert.equal(conn, session.connection);
  const clock = new FakeClock();
  const dead = make(t, server.resolvedHost(await refusedPort()), noPrompter, clock).session;
  const result: { outcome: unknown } = { outcome: 'pending' };
  dead.whenUsable({ timeoutMs: 300 }).then(
    () => (result.outcome = 'usable'),
    (e: unknown) => (result.outcome = e),
  );
  await eventWithin(dead.onDidChangeState, (s) => s.kind === 'waiting', 3000, 'the first refused attempt');
  await clock.advance(299);
  assert.equal(result.outcome, 'pending', 'still waiting before its deadline');
  await clock.advance(1);
  await turns();
  const outcome = result.outcome as unknown; // (narrowed to "pending" by the assert above)
  assert.ok(
    outcome instanceof SessionError && outcome.code === 'timeout' && /waited 300 ms|within \d+ ms/.test(outcome.message),
    `gave up at its deadline, saying so: ${String(outcome)}`,
  );
});

test('a long outage: the first failure of its kind is a warning (seen at the default verbosity), the next attempts info, later ones debug', async (t) => {
  const { session, logger } = make(t, server.resolvedHost(await refusedPort()));
  void session.start().catch(() => undefined);
  await eventWithin(session.onDidChangeState, (s) => s.kind === 'waiting' && s.attempt >= 7, 5000, 'six refused attempts');
  const failed = logger.lines.filter((l) => /^attempt \d+ failed/.test(l.message));
  const level = (n: number) => failed.find((l) => l.message.startsWith(`attempt ${n} failed`))?.level;
  assert.deepEqual([1, 2, 3, 4, 5, 6].map(level), ['warn', 'info', 'info', 'debug', 'debug', 'debug'], logger.text());
});

test('noteActivity probes a quiet connection at once; right after contact only when nothing answers the action', async (t) => {
  const clock = new FakeClock();
  const { session } = make(t, server.resolvedHost(), noPrompter, clock);
  await within(session.start(), 5000, 'the first connection');
  const probes: string[] = [];
  session.onDidProbe((p) => probes.push(p.kind));
  // Just heard from (the initial probe): no probe at once...
  session.noteActivity();
  const answered = new Promise<void>((r) => session.onDidProbe(() => r()));
  await clock.advance(99);
  assert.deepEqual(probes, [], 'no probe while the action may still be answered');
  // ...but nothing answers the action (this server sends nothing by itself): probed at quietMs.
  await clock.advance(1);
  await within(answered, 2000, 'the probe of an unanswered action');
  assert.deepEqual(probes, ['demand']);
  await clock.advance(100); // quiet for quietMs
  session.noteActivity();
  assert.equal(probes.length, 1, 'the probe is on its way, not answered yet');
  await within(new Promise<void>((r) => session.onDidProbe(() => r())), 2000, 'the demand probe after activity on a quiet connection');
  assert.deepEqual(probes, ['demand', 'demand']);
});

test('a connection ends once, with its reason, disposing what riders added; a late subscriber still hears', async (t) => {
  const { session } = make(t, server.resolvedHost());
  await within(session.start(), 5000, 'the first connection');
  const conn = session.connection!;
  assert.equal(conn.client, session.client);
  assert.equal(conn.restored, false);
  assert.equal(conn.seq, 1);
  const ends: string[] = [];
  conn.onDidEnd((e) => ends.push(`${e.kind}: ${e.reason}`));
  let disposed = 0;
  conn.add({ dispose: () => disposed++ });
  await turns();
  assert.deepEqual(ends, [], 'still live');
  assert.equal(conn.isEnded, false);
  await within(session.reconnect('test drop'), 5000, 'the reconnect');
  assert.deepEqual(ends, ['lost: test drop']);
  assert.equal(disposed, 1);
  assert.equal(conn.isEnded, true);
  assert.equal(session.connection!.seq, 2);
  assert.equal(session.connection!.restored, true);
  let late = 0;
  conn.onDidEnd(() => late++);
  assert.equal(late, 0, 'never re-entrantly');
  await turns(1);
  assert.equal(late, 1, 'an ended connection calls a late subscriber back');
  conn.add({ dispose: () => disposed++ });
  assert.equal(disposed, 2, 'added after the end: disposed at once');
  const second = session.connection!;
  const closed: string[] = [];
  second.onDidEnd((e) => closed.push(e.kind));
  session.dispose();
  assert.deepEqual(closed, ['closed']);
});

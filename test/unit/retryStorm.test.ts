import assert from 'node:assert/strict';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { after, before, test, type TestContext } from 'node:test';
import { Emitter } from '../../src/core/base/event';
import { nullLogger } from '../../src/core/base/logger';
import { type SessionError } from '../../src/core/session/errors';
import { noPrompter } from '../../src/core/session/prompter';
import { KICK_GAP_MS, Session, sessionOptionsFor } from '../../src/core/session/session';
import type { SessionState } from '../../src/core/session/state';
import { within } from '../harness/bounded';
import { FakeClock, until } from '../harness/fakeClock';
import { startMiniServer, type MiniServer } from '../harness/miniServer';
import { seededRandom } from '../harness/seededRandom';

/**
 * No retry storms, with the product's default timings (sessionOptionsFor with no overrides):
 * - a refused login is tried once; nothing but a person (reconnect()) tries it again, not a
 *   wake-up, a network change, a forward's client or 10 minutes of waiting;
 * - while the path is down (the port refuses: the fastest failure there is) attempts start at
 *   most once per pathDownMinCycleMs (1 s): at most 60 in the first minute after the loss and
 *   60 in any minute after, whatever the random numbers (a person acting is bounded apart,
 *   by KICK_GAP_MS);
 * - 50 sessions that lost their server at the same moment do not all come back at the same
 *   moment: their first attempts after the port opens again are spread.
 * Time is the fake clock's; the connects and refusals are real loopback I/O.
 */

let server: MiniServer;
before(async () => {
  server = await startMiniServer({ password: 'the-right-one' });
});
after(() => server.close());

/**
 * In front of the mini server: counts connections and relays them while open; closed, the
 * port refuses (nothing listens) and every relayed connection is cut. Reopens on the same port.
 */
interface Gate {
  port: number;
  connections: number;
  open(): Promise<void>;
  close(): Promise<void>;
}

async function startGate(): Promise<Gate> {
  const live = new Set<Socket>();
  let listener: Server | undefined;
  const gate: Gate = {
    port: 0,
    connections: 0,
    open: async () => {
      const s = createServer((client) => {
        gate.connections++;
        const upstream = connect(server.port, '127.0.0.1');
        for (const sock of [client, upstream]) {
          live.add(sock);
          sock.on('error', () => undefined);
          sock.on('close', () => {
            live.delete(sock);
            client.destroy();
            upstream.destroy();
          });
        }
        client.pipe(upstream).pipe(client);
      });
      await new Promise<void>((r) => s.listen(gate.port, '127.0.0.1', r));
      gate.port = (s.address() as AddressInfo).port;
      listener = s;
    },
    close: async () => {
      const s = listener;
      listener = undefined;
      live.forEach((sock) => sock.destroy());
      if (s) await new Promise<void>((r) => s.close(() => r()));
    },
  };
  await gate.open();
  return gate;
}

test('a refused login is tried once; only a person tries again', async (t) => {
  const clock = new FakeClock();
  const gate = await startGate();
  t.after(() => gate.close());
  const wake = new Emitter<unknown>();
  const network = new Emitter<unknown>();
  let asked = 0;
  const host = server.resolvedHost(gate.port, { identityFiles: [] });
  const session = new Session(host, sessionOptionsFor(host), {
    prompter: {
      ...noPrompter,
      password: async () => {
        asked++;
        return 'a-wrong-one';
      },
    },
    logger: nullLogger,
    clock,
    onDidWake: wake.event,
    onDidChangeNetwork: network.event,
  });
  t.after(() => session.dispose());
  await within(
    assert.rejects(session.start(), (e: SessionError) => e.code === 'auth-failed' && e.fatal),
    10_000,
    'the refused login',
  );
  assert.equal(gate.connections, 1);
  const askedOnce = asked;

  // Everything that restarts a waiting session, and 10 minutes of time.
  wake.fire(undefined);
  network.fire(undefined);
  session.noteActivity();
  await within(
    assert.rejects(session.whenUsable({ userAction: true, timeoutMs: 5000 }), (e: SessionError) => e.code === 'auth-failed'),
    5000,
    'a forward client asking for the failed session',
  );
  for (let i = 0; i < 20; i++) await clock.advance(30_000);
  assert.equal(gate.connections, 1, 'no attempt without a person, in 10 minutes, after a wake-up, a network change and a client');
  assert.equal(asked, askedOnce, 'nobody was asked again');
  assert.equal(session.state.kind, 'failed');

  // A person acts: exactly one more attempt.
  await within(
    assert.rejects(session.reconnect(), (e: SessionError) => e.code === 'auth-failed'),
    10_000,
    'the login refused again after reconnect()',
  );
  for (let i = 0; i < 4; i++) await clock.advance(30_000);
  assert.equal(gate.connections, 2, 'one attempt per person acting');
});

type Started = { at: number; session: number };

/**
 * Connects `n` sessions through one gate, closes the gate (all lose their server at once and
 * the port refuses), reopens it after `downMs` of fake time. Returns when every session
 * connected again, with every attempt's start time.
 */
async function outage(t: TestContext, n: number, downMs: number, random: (i: number) => () => number, reopen = true) {
  const clock = new FakeClock();
  const gate = await startGate();
  t.after(() => gate.close());
  const host = server.resolvedHost(gate.port);
  const attempts: Started[] = [];
  const sessions = Array.from({ length: n }, (_, i) => {
    const s = new Session(host, sessionOptionsFor(host), { prompter: noPrompter, logger: nullLogger, clock, random: random(i) });
    t.after(() => s.dispose());
    s.onDidChangeState((st: SessionState) => {
      if (st.kind === 'connecting') attempts.push({ at: clock.now(), session: i });
    });
    return s;
  });
  await within(Promise.all(sessions.map((s) => s.start())), 30_000, `${n} sessions to connect`);
  const settled = () => sessions.every((s) => s.state.kind === 'waiting' || s.state.kind === 'connected');
  attempts.length = 0;
  await gate.close();
  const lostAt = clock.now();
  await until(`all ${n} sessions to lose their server`, () => sessions.every((s) => s.state.kind !== 'connected'));
  const openAt = lostAt + downMs;
  let opened = false;
  for (;;) {
    // Each attempt is real I/O: time moves on only once every session waits again.
    await until('every attempt in flight to finish', settled);
    if (opened && sessions.every((s) => s.state.kind === 'connected')) break;
    const next = clock.nextIn;
    assert.ok(next !== undefined, 'a waiting session has a timer');
    if (!opened && reopen && clock.now() + next >= openAt) {
      await clock.advance(openAt - clock.now());
      await gate.open();
      opened = true;
      continue;
    }
    if (!reopen && clock.now() + next > openAt) break;
    await clock.advance(next);
  }
  return { attempts, lostAt, openAt, sessions };
}

/** Attempts per minute after the loss: [first minute, second minute, ...]. */
function perMinute(attempts: Started[], lostAt: number, minutes: number): number[] {
  return Array.from({ length: minutes }, (_, m) => attempts.filter((a) => a.at >= lostAt + m * 60_000 && a.at < lostAt + (m + 1) * 60_000).length);
}

/** The most attempts that start within any `windowMs` (sliding). */
function densest(times: number[], windowMs: number): number {
  const sorted = [...times].sort((a, b) => a - b);
  let best = 0;
  for (let i = 0, j = 0; i < sorted.length; i++) {
    while (sorted[i] - sorted[j] >= windowMs) j++;
    best = Math.max(best, i - j + 1);
  }
  return best;
}

for (const [name, random] of [
  ['shortest jitter (random 0)', () => () => 0],
  ['longest jitter (random 1)', () => () => 0.999999],
  ['seeded random', (i: number) => seededRandom(4711 + i)],
] as const) {
  test(`a refused port: at most one attempt a second, 60 a minute, for two minutes (${name})`, async (t) => {
    const { attempts, lostAt } = await outage(t, 1, 120_000, random, false);
    const [first, second] = perMinute(attempts, lostAt, 2);
    t.diagnostic(`attempts: first minute ${first}, second minute ${second}`);
    assert.ok(first <= 60 && second <= 60, `at most 60 a minute: ${first}, ${second}`);
    assert.ok(first >= 40 && second >= 40, `still about one a second (a healed path is found at once): ${first}, ${second}`);
    assert.equal(
      densest(
        attempts.map((a) => a.at),
        1000,
      ),
      1,
      'never two attempts within one second',
    );
  });
}

test('50 sessions whose server comes back at the same moment spread their first attempts', async (t) => {
  const n = 50;
  const { attempts, openAt, sessions } = await outage(t, n, 10_000, (i) => seededRandom(1000 + i));
  assert.ok(sessions.every((s) => s.state.kind === 'connected'));
  const firstAfter = Array.from({ length: n }, (_, i) => attempts.find((a) => a.session === i && a.at >= openAt)!.at - openAt).sort((a, b) => a - b);
  const p = (q: number) => firstAfter[Math.min(n - 1, Math.floor(q * n))];
  const busiest = densest(firstAfter, 100);
  const during = attempts.filter((a) => a.at < openAt).length;
  t.diagnostic(
    `first attempt after the port opened, ms: min ${p(0)} p10 ${p(0.1)} p50 ${p(0.5)} p90 ${p(0.9)} max ${firstAfter[n - 1]}; ` +
      `most in any 100 ms: ${busiest} of ${n}; attempts during the 10 s outage: ${during} (${(during / n).toFixed(1)} per session)`,
  );
  assert.ok(during <= n * 11, `at most one attempt a second per session while down: ${during}`);
  assert.ok(firstAfter[n - 1] <= 1500, `every session is back within 1.5 s: ${firstAfter[n - 1]} ms`);
  assert.ok(p(0.9) - p(0.1) >= 400, `spread over at least 400 ms between p10 and p90: ${p(0.1)}..${p(0.9)}`);
  assert.ok(busiest <= n / 4, `no 100 ms holds more than a quarter of them: ${busiest}`);
});

test('a person acting during an outage: at most one attempt per KICK_GAP_MS', async (t) => {
  // The bound with someone hammering a forwarded port: every 10 ms a client wants the session.
  const clock = new FakeClock();
  const gate = await startGate();
  t.after(() => gate.close());
  const host = server.resolvedHost(gate.port);
  const session = new Session(host, sessionOptionsFor(host), { prompter: noPrompter, logger: nullLogger, clock });
  t.after(() => session.dispose());
  const starts: number[] = [];
  session.onDidChangeState((s) => s.kind === 'connecting' && starts.push(clock.now()));
  await within(session.start(), 10_000, 'the first connection');
  starts.length = 0;
  await gate.close();
  await until('the session to lose its server', () => session.state.kind !== 'connected');
  const end = clock.now() + 10_000;
  while (clock.now() < end) {
    await until('the attempt in flight to finish', () => session.state.kind === 'waiting');
    void session.whenUsable({ userAction: true, timeoutMs: 60_000 }).catch(() => undefined);
    await clock.advance(10);
  }
  t.diagnostic(`${starts.length} attempts in 10 s with a client every 10 ms`);
  assert.ok(starts.length <= 10_000 / KICK_GAP_MS + 1, `at most one per ${KICK_GAP_MS} ms: ${starts.length}`);
  assert.equal(densest(starts, KICK_GAP_MS), 1, `never two within ${KICK_GAP_MS} ms`);
});

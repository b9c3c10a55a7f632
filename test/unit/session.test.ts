import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { connect, createServer, type AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { utils } from 'ssh2';
import { WakeDetector } from '../../src/core/base/environment';
import { Emitter, waitForEvent } from '../../src/core/base/event';
import { nullLogger } from '../../src/core/base/logger';
import type { ResolvedHost } from '../../src/core/config/types';
import { type SessionError } from '../../src/core/session/errors';
import { noPrompter } from '../../src/core/session/prompter';
import { LocalForward } from '../../src/core/forward/localForward';
import type { KeeperLink } from '../../src/core/keeper/keeperLink';
import { IntervalLearner, memoryStore } from '../../src/core/liveness/intervalLearner';
import { DEMAND_MAX_MS, doubtWaitMs } from '../../src/core/liveness/keepalive';
import { ACKED_GRACE_MS, Session, sessionOptionsFor, type SessionOptions } from '../../src/core/session/session';
import type { SessionState } from '../../src/core/session/state';
import { startFaultProxy, type FaultProxy } from '../../tools/peers/faultProxy';
import { FakeClock, until } from '../harness/fakeClock';
import { startMiniServer, type MiniServer } from '../harness/miniServer';
import { usableEd25519 } from '../harness/keys';
import { fastSession } from '../harness/fastOptions';

let server: MiniServer;
const sessions: Session[] = [];
const proxies: FaultProxy[] = [];

before(async () => {
  server = await startMiniServer();
});
after(async () => {
  sessions.forEach((s) => s.dispose());
  await Promise.all(proxies.map((p) => p.close()));
  await server.close();
});

const fast = fastSession;

/**
 * A session on a fake clock: its backoff sleeps, keepalive intervals and probe deadlines move
 * only with `clock.advance`, while the bytes go through a real loopback ssh2 server.
 */
function makeSession(
  host: ResolvedHost,
  overrides: Partial<SessionOptions> = {},
  deps: { onDidWake?: Emitter<unknown>; onDidChangeNetwork?: Emitter<unknown>; intervalLearner?: IntervalLearner } = {},
) {
  const clock = new FakeClock();
  const session = new Session(
    host,
    { ...sessionOptionsFor(host, fast), ...overrides },
    {
      prompter: noPrompter,
      logger: nullLogger,
      clock,
      onDidWake: deps.onDidWake?.event,
      onDidChangeNetwork: deps.onDidChangeNetwork?.event,
      intervalLearner: deps.intervalLearner,
    },
  );
  sessions.push(session);
  const states: SessionState[] = [];
  session.onDidChangeState((s) => states.push(s));
  return { session, states, clock };
}

const stateIs = (session: Session, kind: SessionState['kind']) => () => session.state.kind === kind;

const kinds = (states: SessionState[]) => states.map((s) => s.kind);

test('connects, measures an RTT, and the client carries an exec', async () => {
  const { session, states } = makeSession(server.resolvedHost());
  await session.start();
  const connected = states.at(-1);
  assert.equal(connected?.kind, 'connected');
  assert.equal(typeof (connected as { rttMs?: number }).rttMs, 'number');
  assert.deepEqual(kinds(states), ['connecting', 'connected']);
  const { client } = await session.whenUsable({ userAction: true, timeoutMs: 2000 });
  const out = await new Promise<string>((resolve, reject) => {
    client.exec('hello', (err, ch) => {
      if (err) return reject(err);
      let data = '';
      ch.on('data', (d: Buffer) => (data += d));
      ch.on('close', () => resolve(data));
    });
  });
  assert.equal(out, 'ran hello\n');
  session.dispose();
  assert.equal(session.state.kind, 'closed');
});

test('authentication failure is fatal and never retried', async () => {
  const other = usableEd25519();
  const keyPath = `${server.dir}/wrong_key`;
  writeFileSync(keyPath, other.private, { mode: 0o600 });
  const before = server.authAttempts;
  const { session, states, clock } = makeSession(server.resolvedHost(undefined, { identityFiles: [keyPath] }));
  await assert.rejects(session.start(), (e: SessionError) => e.code === 'auth-failed' && e.fatal);
  const attemptsAfterFailure = server.authAttempts - before;
  assert.equal(clock.pending, 0, 'a failed session holds no timer that could retry');
  await clock.advance(10 * 60_000);
  assert.equal(server.authAttempts - before, attemptsAfterFailure, 'no background retries after a fatal error');
  assert.deepEqual(kinds(states), ['connecting', 'failed']);
});

test('an unknown host key is refused under StrictHostKeyChecking=yes, a changed one always', async () => {
  const empty = `${server.dir}/empty_known_hosts`;
  writeFileSync(empty, '');
  const a = makeSession(server.resolvedHost(undefined, { userKnownHostsFiles: [empty] }));
  await assert.rejects(a.session.start(), (e: SessionError) => e.code === 'host-key-unknown');

  const wrong = usableEd25519();
  const pub = utils.parseKey(wrong.public);
  if (pub instanceof Error) throw pub;
  const changed = `${server.dir}/changed_known_hosts`;
  writeFileSync(changed, `[127.0.0.1]:${server.port} ${pub.type} ${pub.getPublicSSH().toString('base64')}\n`);
  const b = makeSession(server.resolvedHost(undefined, { userKnownHostsFiles: [changed], strictHostKeyChecking: 'no' }));
  await assert.rejects(
    b.session.start(),
    (e: SessionError) => e.code === 'host-key-changed' && /CHANGED/.test(e.message) && e.location?.file === changed && e.location.line === 1,
  );
});

test('a reset connection is lost, then restored through waiting', async () => {
  const proxy = await startFaultProxy('127.0.0.1', server.port);
  proxies.push(proxy);
  const { session, states, clock } = makeSession(server.resolvedHost(proxy.port));
  await session.start();
  proxy.reset();
  await until('the reset to be noticed', stateIs(session, 'waiting'));
  const restoring = waitForEvent(session.onDidChangeState, (s) => s.kind === 'connected', 5000, 'the restore');
  await clock.advance(200); // the first retry comes after 50-200 ms
  const restored = await restoring;
  assert.equal(typeof (restored as { restoredAfterMs?: number }).restoredAfterMs, 'number');
  assert.deepEqual(kinds(states).slice(0, 5), ['connecting', 'connected', 'lost', 'waiting', 'connecting']);
});

test('keepalive declares a blackholed path dead after countMax intervals', async () => {
  const proxy = await startFaultProxy('127.0.0.1', server.port);
  proxies.push(proxy);
  const { session, clock } = makeSession(server.resolvedHost(proxy.port));
  await session.start();
  const t0 = clock.now();
  proxy.pause();
  const lost = waitForEvent(session.onDidChangeState, (s) => s.kind === 'lost', 3000, 'lost');
  // interval 300 ms, countMax 2: probes at 300 and 600 go unanswered, the tick at 900 gives up.
  await clock.advance(600);
  assert.equal(session.state.kind, 'connected', 'not dead before countMax intervals went unanswered');
  await clock.advance(300);
  const elapsed = clock.now() - t0;
  assert.match(((await lost) as { reason: string }).reason, /no reply to 2 keepalives/);
  assert.ok(elapsed < 1500, `detected after ${elapsed} ms, expected about interval x count (600-900 ms)`);
  proxy.resume();
});

test('a user action on a quiet, dead path: checking at the demand probe’s deadline, lost after six more (no keeper)', async () => {
  const proxy = await startFaultProxy('127.0.0.1', server.port);
  proxies.push(proxy);
  // Periodic keepalive off: only the demand probe can notice.
  const { session, states, clock } = makeSession(server.resolvedHost(proxy.port), {
    keepalive: { intervalMs: 0, countMax: 3, demandMinMs: 800, demandRttFactor: 4, quietMs: 200 },
  });
  await session.start();
  await clock.advance(300); // quiet for longer than quietMs
  // The "NAT" forgets the flow: its packets vanish from now on; new flows (the reconnect) pass.
  proxy.forgetAll();
  const t0 = clock.now();
  let usable = false;
  const whenUsable = session.whenUsable({ userAction: true, timeoutMs: 10_000 }).finally(() => (usable = true));
  await clock.advance(800); // the demand probe's deadline
  await until('the missed demand probe to put the path in doubt', () => session.state.kind === 'connected' && !!session.state.checking);
  assert.ok(!kinds(states).includes('lost'), 'in doubt, not lost: a lossy path answers late');
  await clock.advance(4800); // six deadlines more
  await until('the silent path to be declared lost', () => kinds(states).includes('lost'));
  await clock.advance(200); // the first retry
  await until(`usable again (${kinds(states).join(' ')})`, () => usable);
  const client = await whenUsable;
  const elapsed = clock.now() - t0;
  assert.ok(client);
  assert.ok(kinds(states).includes('lost'), 'the dead path was noticed');
  assert.ok(elapsed < 6400, `usable again after ${elapsed} ms`);
});

/**
 * A connected session whose riders resume on another connection (as the session keeper's do),
 * periodic keepalive off (only a demand probe notices), quiet for longer than quietMs.
 */
async function keptSessionOnQuietPath(overrides: Partial<SessionOptions> = {}) {
  const proxy = await startFaultProxy('127.0.0.1', server.port);
  proxies.push(proxy);
  const made = makeSession(server.resolvedHost(proxy.port), {
    keepalive: { intervalMs: 0, countMax: 3, demandMinMs: 800, demandRttFactor: 4, quietMs: 200 },
    ...overrides,
  });
  made.session.onDidConnect((conn) => conn.preferMakeBeforeBreak());
  await made.session.start();
  await made.clock.advance(300);
  return { proxy, ...made };
}

test('make-before-break: when the second connection fails too, the first still gets the longer wait; a stall that ends within it cuts nothing', async () => {
  const { proxy, session, states, clock } = await keptSessionOnQuietPath();
  // A stall, as behind a bloated queue: bytes wait, and a new connection's handshake too.
  proxy.blackhole();
  void session.whenUsable({ userAction: true, timeoutMs: 10_000 }).catch(() => undefined);
  await clock.advance(800); // the demand probe's deadline
  await until('the missed probe to put the path in doubt', () => session.state.kind === 'connected' && !!session.state.checking);
  // The second connection is accepted but never answered: its banner deadline (500 ms, a
  // real-time timer with no event of its own) ends it.
  await new Promise((r) => setTimeout(r, 1000));
  assert.ok(!kinds(states).includes('lost'), `not lost while the longer wait runs (${kinds(states).join(' ')})`);
  proxy.resume();
  await until('the first connection to answer again', () => session.state.kind === 'connected' && !session.state.checking);
  await clock.advance(4800); // past the longer wait
  await new Promise((r) => setImmediate(r));
  assert.ok(!kinds(states).includes('lost'), `kept, nothing cut (${kinds(states).join(' ')})`);
  assert.equal(session.state.kind, 'connected');
});

test('make-before-break: when the longer wait ends while a second connection is still connecting, the path is lost then, not when that attempt ends', async () => {
  // A second connection that hangs in its handshake for 10 s (accepted, never answered).
  const { proxy, session, states, clock } = await keptSessionOnQuietPath({ reconnectTcpTimeoutMs: 10_000 });
  proxy.blackhole();
  void session.whenUsable({ userAction: true, timeoutMs: 30_000 }).catch(() => undefined);
  await clock.advance(800); // the demand probe's deadline
  await until('the missed probe to put the path in doubt', () => session.state.kind === 'connected' && !!session.state.checking);
  await new Promise((r) => setTimeout(r, 100)); // the spare's connect is under way
  await clock.advance(doubtWaitMs(800, false)); // the longer wait ends in silence
  const endedAt = Date.now();
  await until('the path to be lost', () => kinds(states).includes('lost'));
  const ms = Date.now() - endedAt;
  assert.ok(ms < 2000, `lost ${ms} ms after the longer wait ended (the spare's attempt runs 10 s)`);
  const lost = states.find((s) => s.kind === 'lost') as { reason: string } | undefined;
  assert.match(lost?.reason ?? '', /a second connection was not up either/);
  proxy.resume();
});

test('make-before-break: a second connection that fails is tried again while in doubt, so a path back within the wait is taken at once', async () => {
  const { proxy, session, states, clock } = await keptSessionOnQuietPath();
  // A router reboot during an outage: the old flow is forgotten for good, and the path is dark.
  proxy.forgetAll();
  proxy.blackhole();
  void session.whenUsable({ userAction: true, timeoutMs: 10_000 }).catch(() => undefined);
  const t0 = clock.now();
  await clock.advance(800);
  await until('the missed probe to put the path in doubt', () => session.state.kind === 'connected' && !!session.state.checking);
  // The first spare is accepted but never answered: its banner deadline (real time) ends it.
  await new Promise((r) => setTimeout(r, 1000));
  // The path is back (the old flow stays forgotten): the next try, about a second later, must
  // take over, not wait out the old connection's whole doubt (six deadlines, 4.8 s).
  proxy.resume();
  await clock.advance(1400);
  // The fault proxy reads and drops a forgotten flow's bytes, so its kernel acknowledges them
  // (a rebooted router would not): the first connection gets the acknowledged grace too.
  await new Promise((r) => setTimeout(r, 500));
  await clock.advance(ACKED_GRACE_MS);
  await until('a second connection to take over', () => session.state.kind === 'connected' && !session.state.checking);
  assert.ok(clock.now() - t0 < 4800, `taken over ${clock.now() - t0} ms after the miss, before the longer wait ended`);
  assert.ok(!kinds(states).includes('lost'), `nothing cut: the riders moved to the new connection (${kinds(states).join(' ')})`);
});

test('make-before-break: a first connection whose bytes are still acknowledged keeps its place a moment after the spare is up, then the spare takes over', async () => {
  const { proxy, session, states, clock } = await keptSessionOnQuietPath();
  const first = session.connection;
  // As a stalled server process (or a reply lost and being resent): the next TCP hop still
  // takes our bytes (the proxy reads and drops them), no reply comes. New connections pass.
  proxy.forgetAll();
  void session.whenUsable({ userAction: true, timeoutMs: 10_000 }).catch(() => undefined);
  await clock.advance(800);
  await until('the missed probe to put the path in doubt', () => session.state.kind === 'connected' && !!session.state.checking);
  // The spare connects on loopback in real time; without the grace it would take over at once.
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal(session.connection, first, 'the spare did not take over while the first still carried our bytes');
  assert.ok(session.state.kind === 'connected' && session.state.checking, 'still in doubt');
  await clock.advance(ACKED_GRACE_MS);
  await until('the spare to take over after the grace', () => session.state.kind === 'connected' && !session.state.checking);
  assert.notEqual(session.connection, first, 'the second connection took over');
  assert.ok(!kinds(states).includes('lost'), `nothing cut (${kinds(states).join(' ')})`);
});

test('make-before-break: a first connection that lost packets lately (it answered late once) keeps its whole longer wait after the spare is up; then the spare takes over', async () => {
  const { proxy, session, states, clock } = await keptSessionOnQuietPath();
  const first = session.connection;
  // A lossy moment: the path stalls, a probe misses, and the first connection answers late.
  proxy.blackhole();
  void session.whenUsable({ userAction: true, timeoutMs: 10_000 }).catch(() => undefined);
  await clock.advance(800);
  await until('the first miss', () => session.state.kind === 'connected' && !!session.state.checking);
  proxy.resume();
  await until('the late answer', () => session.state.kind === 'connected' && !session.state.checking);
  assert.equal(session.connection, first);
  // Now the flow is forgotten for good (new connections pass): on this connection, a miss is
  // more likely the next lossy moment than a cut, so the spare waits for the longer wait.
  await clock.advance(300);
  proxy.forgetAll();
  void session.whenUsable({ userAction: true, timeoutMs: 20_000 }).catch(() => undefined);
  // The late answer widened the demand deadline (TCP's RTO over the probes' round trips).
  await clock.advance(DEMAND_MAX_MS);
  await until('the second miss', () => session.state.kind === 'connected' && !!session.state.checking);
  const checking = session.state.kind === 'connected' ? session.state.checking : undefined;
  const deadline = Number(/within (\d+) ms/.exec(checking?.reason ?? '')?.[1]);
  assert.ok(deadline >= 800, `the miss says its deadline (${checking?.reason})`);
  const longerWait = doubtWaitMs(deadline, true); // the lossy connection's longer wait
  await new Promise((r) => setTimeout(r, 1500)); // the spare connects in real time
  await clock.advance(ACKED_GRACE_MS);
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(session.connection, first, 'the spare did not take over before the longer wait ended');
  await clock.advance(longerWait - ACKED_GRACE_MS);
  await until('the spare to take over when the longer wait ends in silence', () => session.state.kind === 'connected' && !session.state.checking);
  assert.notEqual(session.connection, first);
  assert.ok(!kinds(states).includes('lost'), `nothing cut (${kinds(states).join(' ')})`);
});

/**
 * A session with the interval learner, periodic probes every 3 s (2 unanswered: dead), quiet:
 * its path then dies after 3 s of silence, which the learner may take for an idle timeout.
 */
async function learningSessionDiesAfterSilence(cut: (proxy: FaultProxy) => void) {
  const proxy = await startFaultProxy('127.0.0.1', server.port);
  proxies.push(proxy);
  const learner = new IntervalLearner(memoryStore(), {}, () => 'test-network');
  const made = makeSession(
    server.resolvedHost(proxy.port),
    { keepalive: { intervalMs: 3000, countMax: 2, demandMinMs: 800, demandRttFactor: 4, quietMs: 200 } },
    { intervalLearner: learner },
  );
  await made.session.start();
  cut(proxy);
  await made.clock.advance(3000 * 3); // probes at 3 and 6 s go unanswered, the tick at 9 s gives up
  await until('the keepalive death', () => kinds(made.states).includes('lost'));
  return { proxy, learner, ...made };
}

test('a keepalive death whose next connection goes through at the first try is an idle timeout: learned', async () => {
  const { learner, session, clock } = await learningSessionDiesAfterSilence((p) => p.forgetAll());
  await clock.advance(200);
  await until('the restore', () => session.state.kind === 'connected');
  assert.equal(learner.learned?.diesAfterMs, 3000, 'the silence the flow did not survive');
  assert.equal(session.keepaliveIntervalMs, learner.learned?.intervalMs, 'the new connection probes at the learned interval');
});

test('a keepalive death followed by failed attempts was an outage after a quiet moment: nothing learned', async () => {
  const { proxy, learner, session, clock, states } = await learningSessionDiesAfterSilence((p) => p.blackhole());
  await clock.advance(200);
  // The first attempt is accepted and never answered: its banner deadline (real time) ends it.
  await until('a failed attempt', () => states.some((s) => s.kind === 'waiting' && s.attempt === 2), 10_000);
  proxy.resume();
  await clock.advance(1500);
  await until('the restore', () => session.state.kind === 'connected', 10_000);
  assert.equal(learner.learned, undefined, 'an outage says nothing about idle timeouts');
  assert.equal(session.keepaliveIntervalMs, 3000);
});

test('a client of a forward whose session keeper is still starting is a user action at once: the path is probed, not after the keeper’s start', async (t) => {
  const proxy = await startFaultProxy('127.0.0.1', server.port);
  proxies.push(proxy);
  const { session, clock } = makeSession(server.resolvedHost(proxy.port), {
    keepalive: { intervalMs: 0, countMax: 3, demandMinMs: 800, demandRttFactor: 4, quietMs: 200 },
  });
  await session.start();
  // The keeper's start (an exec over the connection) never finishes: the path died under it.
  const starting = { state: { kind: 'pending' }, whenDecided: () => new Promise<boolean>(() => undefined) } as unknown as KeeperLink;
  const forward = new LocalForward({ bindPort: 0, host: '127.0.0.1', hostPort: 9 }, session, nullLogger, undefined, () => Promise.resolve(starting));
  t.after(() => forward.dispose());
  await forward.start();
  await clock.advance(300); // quiet
  proxy.forgetAll();
  const client = connect(forward.port!, '127.0.0.1');
  client.on('error', () => undefined);
  t.after(() => client.destroy());
  await new Promise<void>((r) => client.once('connect', () => r()));
  await new Promise((r) => setTimeout(r, 50)); // the forward accepts it
  await clock.advance(800); // the demand probe's deadline
  await until('the client’s probe to put the path in doubt', () => session.state.kind === 'connected' && !!session.state.checking);
});

test('exactly one connect attempt in flight: reconnect() joins it', async () => {
  const { session, states } = makeSession(server.resolvedHost());
  const first = session.start();
  const joins = [session.reconnect(), session.reconnect(), session.reconnect()];
  await Promise.all([first, ...joins]);
  assert.equal(kinds(states).filter((k) => k === 'connecting').length, 1);
});

test('a refused port is retried cheaply, about once a second and never faster', async () => {
  const proxy = await startFaultProxy('127.0.0.1', server.port);
  const deadPort = proxy.port;
  await proxy.close();
  const { session } = makeSession(server.resolvedHost(deadPort));
  void session.start().catch(() => undefined);
  await waitForEvent(session.onDidChangeState, (s) => s.kind === 'waiting', 3000);
  const w = session.state as Extract<SessionState, { kind: 'waiting' }>;
  assert.match(w.lastError, /refused/);
  // The rest of the 1 s cycle, plus the path-down jitter above its minimum (0-400 ms by default).
  assert.ok(w.delayMs >= 800 && w.delayMs <= 1400, `a refused attempt waits out the rest of a 1 s cycle and its jitter, got ${w.delayMs} ms`);
  session.dispose();
});

test('a server that drops the handshake is retried with growing backoff, and reconnect() in waiting retries at once', async (t) => {
  const rude = createServer((s) => s.destroy());
  await new Promise<void>((r) => rude.listen(0, '127.0.0.1', r));
  t.after(() => rude.close());
  const rudePort = (rude.address() as AddressInfo).port;
  const { session, states, clock } = makeSession(server.resolvedHost(rudePort), { backoff: { initialMs: 5000, maxMs: 5000, factor: 1, minMs: 5000 } });
  void session.start().catch(() => undefined);
  await waitForEvent(session.onDidChangeState, (s) => s.kind === 'waiting', 3000);
  const w = session.state as Extract<SessionState, { kind: 'waiting' }>;
  assert.equal(w.delayMs, 5000, 'an attempt that reached the server backs off');
  await clock.advance(300);
  void session.reconnect().catch(() => undefined);
  await waitForEvent(session.onDidChangeState, (s) => s.kind === 'connecting', 500);
  assert.ok(kinds(states).filter((k) => k === 'connecting').length >= 2);
  session.dispose();
});

test('a wake-up or a network change ends a pending backoff at once', async (t) => {
  const rude = createServer((s) => s.destroy());
  await new Promise<void>((r) => rude.listen(0, '127.0.0.1', r));
  t.after(() => rude.close());
  const rudePort = (rude.address() as AddressInfo).port;
  const wake = new Emitter<unknown>();
  const network = new Emitter<unknown>();
  const { session, clock } = makeSession(
    server.resolvedHost(rudePort),
    { backoff: { initialMs: 60_000, maxMs: 60_000, factor: 1, minMs: 60_000 } },
    { onDidWake: wake, onDidChangeNetwork: network },
  );
  void session.start().catch(() => undefined);
  await waitForEvent(session.onDidChangeState, (s) => s.kind === 'waiting', 3000);
  await clock.advance(300);
  wake.fire({ sleptMs: 30_000 });
  await waitForEvent(session.onDidChangeState, (s) => s.kind === 'connecting', 500);
  await waitForEvent(session.onDidChangeState, (s) => s.kind === 'waiting', 3000);
  await clock.advance(300);
  network.fire(undefined);
  await waitForEvent(session.onDidChangeState, (s) => s.kind === 'connecting', 500);
  session.dispose();
});

test('WakeDetector fires when its timer runs much later than scheduled', async () => {
  const detector = new WakeDetector(50, 200);
  const woke = waitForEvent(detector.onDidWake, () => true, 3000);
  // Block the event loop: to the detector this looks exactly like a suspended machine.
  const until = Date.now() + 600;
  while (Date.now() < until) {
    /* busy */
  }
  const e = await woke;
  assert.ok(e.sleptMs >= 200, `slept ${e.sleptMs} ms`);
  detector.dispose();
});

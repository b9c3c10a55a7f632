import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { test, type TestContext } from 'node:test';
import type { Client } from 'ssh2';
import { Keepalive, type KeepaliveOptions, type ProbeResult } from '../../src/core/liveness/keepalive';
import type { OutboundSample } from '../../src/core/liveness/outbound';
import { FakeClock, turns } from '../harness/fakeClock';

/**
 * Keepalive against a stand-in for ssh2's client internals (the global-request callback
 * queue and ping), so that each rule of liveness is checked on its own and fast: what
 * counts as a miss, when the path is declared dead, how the RTT is smoothed, what a demand
 * probe waits for. The real protocol is covered by the session tests.
 *
 * Time is a FakeClock: the keepalive's timers, its RTTs and the stand-in server's answers all
 * move with `clock.advance`, so each rule is checked to the millisecond without sleeping.
 */

interface FakeServer {
  client: Client;
  transport: PassThrough;
  clock: FakeClock;
  /** Pings sent so far. */
  pings(): number;
  /** Answer later pings after `ms` (of the fake clock), or never. */
  answerAfter(ms: number | 'never'): void;
  /** The transport stops being writable, as after a socket error. */
  breakSocket(): void;
  /** Some bytes arrive (any packet proves the path). */
  receive(): void;
  /** The connection closes: ssh2 calls every pending callback with an Error (not a reply). */
  close(): void;
}

function fakeServer(answerMs: number | 'never'): FakeServer {
  const clock = new FakeClock(0);
  const callbacks: Array<(outcome: boolean | Error) => void> = [];
  const sock = { writable: true };
  let pings = 0;
  let delayMs: number | 'never' = answerMs;
  const transport = new PassThrough();
  const protocol = {
    ping() {
      pings++;
      if (delayMs === 'never') return;
      clock.timeout(() => callbacks.shift()?.(false), delayMs);
    },
  };
  return {
    client: { _callbacks: callbacks, _protocol: protocol, _sock: sock } as unknown as Client,
    transport,
    clock,
    pings: () => pings,
    answerAfter: (ms) => void (delayMs = ms),
    breakSocket: () => void (sock.writable = false),
    receive: () => void transport.emit('data', Buffer.from('x')),
    close: () => callbacks.splice(0).forEach((cb) => cb(new Error('No response from server'))),
  };
}

const options = (o: Partial<KeepaliveOptions> = {}): KeepaliveOptions => ({
  intervalMs: 0,
  countMax: 3,
  demandMinMs: 150,
  demandRttFactor: 4,
  quietMs: 100,
  ...o,
});

function keepalive(t: TestContext, server: FakeServer, o: Partial<KeepaliveOptions> = {}) {
  const ka = new Keepalive(server.client, server.transport, options(o), server.clock);
  t.after(() => ka.dispose());
  const probes: ProbeResult[] = [];
  const deaths: string[] = [];
  ka.onDidProbe((p) => probes.push(p));
  ka.onDidDie((r) => deaths.push(r));
  return { ka, probes, deaths, clock: server.clock };
}

const pending = Symbol('pending');

/** What `p` has settled with once the event loop has turned, or `pending`. */
async function settled<T>(p: Promise<T>): Promise<T | typeof pending> {
  let out: T | typeof pending = pending;
  void p.then((v) => (out = v));
  await turns();
  return out;
}

test('measure: one probe, its RTT reported and smoothed (3/4 old + 1/4 new), rounded to 0.1 ms', async (t) => {
  const server = fakeServer(200);
  const { ka, probes, clock } = keepalive(t, server);
  assert.equal(ka.rttMs, undefined, 'no RTT before the first reply');
  const first = ka.measure('initial', 2000);
  await clock.advance(199);
  assert.equal(await settled(first), pending, 'no reply before 200 ms');
  await clock.advance(1);
  assert.equal(await settled(first), 200, 'the first RTT');
  assert.equal(ka.rttMs, 200, 'the first RTT is the smoothed RTT');
  // A second RTT far from the first and not whole, so that the weights, the sign of each term
  // and the rounding show.
  server.answerAfter(41.34);
  const second = ka.measure('periodic', 2000);
  await clock.advance(41.34);
  const rtt = await settled(second);
  assert.ok(typeof rtt === 'number' && Math.abs(rtt - 41.34) < 1e-9, `second RTT ${String(rtt)}, answered after 41.34 ms`);
  assert.equal(ka.rttMs, 160.3, 'smoothed: 0.75 x 200 + 0.25 x 41.34 = 160.335, rounded to 0.1 ms');
  assert.deepEqual(
    probes.map((p) => [p.kind, p.rttMs]),
    [
      ['initial', 200],
      ['periodic', 41.3],
    ],
    'each probe event carries its own RTT, rounded to 0.1 ms',
  );
  assert.equal(server.pings(), 2);
});

test('measure: no reply within its timeout is undefined, and no probe event', async (t) => {
  const server = fakeServer('never');
  const { ka, probes, deaths, clock } = keepalive(t, server);
  const m = ka.measure('initial', 200);
  await clock.advance(199);
  assert.equal(await settled(m), pending, 'still waiting before its timeout');
  await clock.advance(1);
  assert.equal(await settled(m), undefined, 'gave up at its timeout');
  assert.deepEqual(probes, []);
  assert.deepEqual(deaths, [], 'a slow measurement alone does not declare the path dead');
});

test('measure on a socket that is not writable sends nothing', async (t) => {
  const server = fakeServer(0);
  server.breakSocket();
  const { ka } = keepalive(t, server);
  assert.equal(await settled(ka.measure()), undefined);
  assert.equal(server.pings(), 0);
});

test('periodic: countMax unanswered intervals in a row declare the path dead, once', async (t) => {
  const server = fakeServer('never');
  const { deaths, clock } = keepalive(t, server, { intervalMs: 60, countMax: 3 });
  // First probe at 1 interval; misses counted at 2, 3, 4 intervals.
  await clock.advance(239);
  assert.deepEqual(deaths, [], 'alive until the third miss');
  assert.equal(server.pings(), 3);
  await clock.advance(1);
  assert.deepEqual(deaths, ['no reply to 3 keepalives (silent for 0.2 s)']);
  const pings = server.pings();
  await clock.advance(600);
  assert.equal(deaths.length, 1, 'declared dead once');
  assert.equal(server.pings(), pings, 'no probes once dead');
});

test('retune: a connection made before the network was learned probes at the learned interval from then on', async (t) => {
  const server = fakeServer(1);
  const { ka, clock } = keepalive(t, server, { intervalMs: 5000, countMax: 3 });
  await clock.advance(100);
  assert.equal(server.pings(), 0, 'nothing yet at the configured 5 s');
  ka.retune(60);
  await clock.advance(0);
  assert.equal(server.pings(), 1, 'silent for longer than the learned 60 ms already: a probe at once');
  // Each reply comes 1 ms after its probe; the next probe 60 ms after that reply: 161, 222, 283, 344.
  await clock.advance(300);
  assert.equal(server.pings(), 5, `probes at the learned 60 ms: ${server.pings()}`);
});

test('periodic: a reply before countMax resets the count', async (t) => {
  const server = fakeServer('never');
  const { deaths, probes, clock } = keepalive(t, server, { intervalMs: 50, countMax: 3 });
  await clock.advance(130); // probes at 50 and 100, unanswered: one miss counted at 100
  assert.equal(server.pings(), 2);
  server.answerAfter(0);
  await clock.advance(20); // 150: the second miss, a third probe, and the oldest ping is answered
  assert.deepEqual(
    probes.map((p) => p.kind),
    ['periodic'],
  );
  server.answerAfter('never');
  await clock.advance(180); // 330: misses again at 250 and 300 only; without the reset, 3 in a row
  assert.deepEqual(deaths, []);
  await clock.advance(20); // 350: the third miss since the reply
  assert.equal(deaths.length, 1);
});

test('periodic: any bytes received prove the path, replies or not', async (t) => {
  const server = fakeServer('never');
  const { deaths, clock } = keepalive(t, server, { intervalMs: 40, countMax: 2 });
  const feed = clock.interval(() => server.receive(), 15);
  t.after(() => feed.dispose());
  await clock.advance(400);
  assert.deepEqual(deaths, [], 'traffic keeps the path alive');
  // As OpenSSH: traffic received restarts the ServerAliveInterval wait, so a busy path is not probed.
  assert.equal(server.pings(), 0, 'no periodic probes while bytes keep arriving');
});

test('periodic: the first probe goes out intervalMs after the last bytes received, as with OpenSSH', async (t) => {
  const server = fakeServer(5);
  const { probes, clock } = keepalive(t, server, { intervalMs: 80, countMax: 3 });
  const feed = clock.interval(() => server.receive(), 20);
  await clock.advance(300); // the last bytes at 300
  feed.dispose();
  assert.equal(server.pings(), 0, `probes while traffic flowed: ${server.pings()}`);
  await clock.advance(79);
  assert.equal(server.pings(), 0, 'no probe before intervalMs of silence');
  await clock.advance(1);
  assert.equal(server.pings(), 1, 'the probe at 80 ms after the last bytes');
  await clock.advance(5);
  assert.deepEqual(
    probes.map((p) => [p.kind, p.rttMs]),
    [['periodic', 5]],
  );
});

test('periodic: answered probes keep it alive and report RTTs', async (t) => {
  const server = fakeServer(5);
  const { deaths, probes, clock } = keepalive(t, server, { intervalMs: 40, countMax: 1 });
  await clock.advance(400);
  assert.deepEqual(deaths, []);
  // One probe 40 ms after each reply: sent at 40, 85, 130 ... 355, each answered 5 ms later.
  assert.equal(probes.length, 8, `${probes.length} probes`);
  assert.ok(
    probes.every((p) => p.kind === 'periodic' && p.rttMs === 5),
    JSON.stringify(probes),
  );
});

test('intervalMs 0: no periodic probes at all', async (t) => {
  const server = fakeServer('never');
  const { deaths, clock } = keepalive(t, server, { intervalMs: 0 });
  assert.equal(clock.pending, 0, 'no timer');
  await clock.advance(200);
  assert.equal(server.pings(), 0);
  assert.deepEqual(deaths, []);
});

test('demand probe: answered is true; concurrent callers share one probe', async (t) => {
  const server = fakeServer(30);
  const { ka, probes, deaths, clock } = keepalive(t, server);
  const a = ka.demandProbe();
  const b = ka.demandProbe();
  assert.equal(a, b, 'one shared probe');
  await clock.advance(30);
  assert.equal(await settled(a), true);
  assert.equal(server.pings(), 1);
  assert.deepEqual(
    probes.map((p) => p.kind),
    ['demand'],
  );
  // The next one is a new probe.
  const c = ka.demandProbe();
  await clock.advance(30);
  assert.equal(await settled(c), true);
  assert.equal(server.pings(), 2);
  assert.deepEqual(deaths, []);
});

test('demand probe: no reply within its deadline puts the path in doubt; still silent six deadlines later, it is dead (false)', async (t) => {
  const server = fakeServer('never');
  const { ka, deaths, clock } = keepalive(t, server, { demandMinMs: 150 });
  const suspicions: string[] = [];
  ka.onDidSuspect((r) => suspicions.push(r));
  assert.equal(ka.demandDeadlineMs, 150, 'no RTT yet: the floor');
  // Last heard well before the probe: at the deadline, nothing has arrived since it was sent.
  await clock.advance(50);
  const probe = ka.demandProbe();
  await clock.advance(149);
  assert.equal(await settled(probe), pending, 'still waiting before its deadline');
  await clock.advance(1);
  assert.deepEqual(suspicions, ['no reply to a demand probe within 150 ms'], 'in doubt at its deadline');
  assert.equal(ka.isSuspect, true);
  assert.deepEqual(deaths, [], 'not dead yet: a lossy path answers late');
  await clock.advance(899);
  assert.equal(await settled(probe), pending, 'still waiting before six deadlines more');
  await clock.advance(1);
  assert.equal(await settled(probe), false, 'gave up three deadlines after the probe');
  assert.deepEqual(deaths, ['no reply to a demand probe within 150 ms, nor in 900 ms more']);
  // Dead: later probes are false at once and send nothing.
  const pings = server.pings();
  assert.equal(await ka.demandProbe(), false);
  assert.equal(server.pings(), pings);
});

test('demand deadline is TCP’s RTO over the probe RTTs: SRTT + 4 RTTVAR (RFC 6298), between the floor and the cap', async (t) => {
  const server = fakeServer(100);
  const { ka, clock } = keepalive(t, server, { demandMinMs: 50, demandRttFactor: 4, demandMaxMs: 2000 });
  const sample = async (ms: number) => {
    server.answerAfter(ms);
    const m = ka.measure();
    await clock.advance(ms);
    await settled(m);
  };
  await sample(100);
  assert.equal(ka.demandDeadlineMs, 300, 'first sample: SRTT = R, RTTVAR = R/2, so 100 + 4 x 50');
  await sample(100);
  // RTTVAR = 3/4 x 50 + 1/4 x |100 - 100| = 37.5; SRTT = 100.
  assert.equal(ka.demandDeadlineMs, 250);
  for (let i = 0; i < 30; i++) await sample(100);
  assert.ok(ka.demandDeadlineMs <= 101, `a steady path is judged near its RTT (${ka.demandDeadlineMs} ms), not at 4 x RTT`);
  // One reply 600 ms late (a TCP retransmission): RTTVAR = ~0 + 1/4 x 600 = 150, SRTT = 100 + 1/8 x 600 = 175.
  await sample(700);
  assert.ok(Math.abs(ka.demandDeadlineMs - 775) <= 1, `room for the wandering: ${ka.demandDeadlineMs} ms`);
  for (let i = 0; i < 10; i++) await sample(i % 2 ? 1900 : 100);
  assert.equal(ka.demandDeadlineMs, 2000, 'at most the cap');
});

test('demand deadline: one slow first round trip (TCP resent it) does not make a person wait 9 s: at most 3 s by default', async (t) => {
  const server = fakeServer(3000);
  const { ka, clock } = keepalive(t, server, { demandMinMs: 1000 });
  const m = ka.measure();
  await clock.advance(3000);
  await settled(m);
  assert.equal(ka.demandDeadlineMs, 3000, 'SRTT + 4 RTTVAR would be 9 s');
});

test('demand deadline: the floor holds on a fast path', async (t) => {
  const server = fakeServer(2);
  const { ka, clock } = keepalive(t, server, { demandMinMs: 1000 });
  const m = ka.measure();
  await clock.advance(2);
  await settled(m);
  assert.equal(ka.demandDeadlineMs, 1000);
});

test('demand probe: bytes that arrive while it waits prove the path', async (t) => {
  const server = fakeServer('never');
  const { ka, deaths, clock } = keepalive(t, server, { demandMinMs: 200 });
  await clock.advance(300); // quiet: nothing heard since the start
  const probe = ka.demandProbe();
  await clock.advance(150);
  server.receive();
  await clock.advance(50);
  assert.equal(await settled(probe), true);
  assert.deepEqual(deaths, []);
});

test('demand probe on a socket that is not writable: dead at once', async (t) => {
  const server = fakeServer(0);
  server.breakSocket();
  const { ka, deaths } = keepalive(t, server);
  assert.equal(await settled(ka.demandProbe()), false);
  assert.deepEqual(deaths, ['transport is not writable']);
});

test('recentlyHeard and lastContact follow received bytes', async (t) => {
  const server = fakeServer(0);
  const { ka, clock } = keepalive(t, server, { quietMs: 100 });
  const created = clock.now();
  assert.equal(ka.recentlyHeard, true, 'a new connection counts as just heard');
  await clock.advance(99);
  assert.equal(ka.recentlyHeard, true, 'heard within quietMs');
  await clock.advance(1);
  assert.equal(ka.recentlyHeard, false, 'quiet for quietMs');
  server.receive();
  assert.equal(ka.recentlyHeard, true);
  assert.equal(ka.lastContact, created + 100, 'lastContact moved with the bytes');
});

test('dispose: no more probes, no death, transport listener and timers removed', async (t) => {
  const server = fakeServer('never');
  const before = server.transport.listenerCount('data');
  const { ka, deaths, clock } = keepalive(t, server, { intervalMs: 30, countMax: 1 });
  assert.equal(server.transport.listenerCount('data'), before + 1);
  ka.dispose();
  assert.equal(server.transport.listenerCount('data'), before);
  assert.equal(clock.pending, 0, 'no timer left');
  await clock.advance(150);
  assert.equal(server.pings(), 0);
  assert.deepEqual(deaths, []);
});

test('periodic: bytes that arrived after a probe went out do not keep a path alive that went silent since', async (t) => {
  // A probe goes out, some output arrives before its reply would, then the path dies: every
  // later interval is silent, and countMax of them must declare it dead.
  const server = fakeServer('never');
  const { deaths, clock } = keepalive(t, server, { intervalMs: 60, countMax: 3 });
  await clock.advance(60);
  assert.equal(server.pings(), 1, 'the first periodic probe');
  await clock.advance(10);
  server.receive(); // at 70: after the probe, before its (never coming) reply
  // The next probe goes out 60 ms after those bytes (130); misses at 190, 250 and 310.
  await clock.advance(239);
  assert.deepEqual(deaths, []);
  await clock.advance(1);
  assert.equal(deaths.length, 1);
  assert.match(deaths[0], /^no reply to 3 keepalives/);
});

test('measure() without arguments is an initial probe; once dead, bytes arriving do not restart probing', async (t) => {
  const server = fakeServer(0);
  const { ka, probes, deaths, clock } = keepalive(t, server, { intervalMs: 40, countMax: 1 });
  const m = ka.measure();
  await clock.advance(0);
  assert.equal(await settled(m), 0);
  assert.deepEqual(
    probes.map((p) => p.kind),
    ['initial'],
  );
  server.answerAfter('never');
  await clock.advance(80); // a periodic probe at 40, unanswered at 80
  assert.equal(deaths.length, 1, 'the path is declared dead');
  const pings = server.pings();
  server.receive();
  await clock.advance(150);
  assert.equal(server.pings(), pings, 'no probes after death');
});

test('a probe ended by the connection closing is no reply: no RTT, no event, the misses go on', async (t) => {
  const server = fakeServer('never');
  const { ka, probes, deaths, clock } = keepalive(t, server, { intervalMs: 50, countMax: 3 });
  const measuring = ka.measure('initial', 2000);
  server.close();
  assert.equal(await settled(measuring), undefined, 'measure ends with the connection');
  assert.equal(ka.rttMs, undefined);
  // Periodic probes closed out the same way do not count as replies: misses at 100, 150, 200.
  const closer = clock.interval(() => server.close(), 10);
  t.after(() => closer.dispose());
  await clock.advance(199);
  assert.deepEqual(deaths, []);
  await clock.advance(1);
  assert.deepEqual(probes, []);
  assert.equal(deaths.length, 1);
});

test('a demand probe still in flight when the periodic check declares the path dead: dead once', async (t) => {
  const server = fakeServer('never');
  const { ka, deaths, clock } = keepalive(t, server, { intervalMs: 40, countMax: 1, demandMinMs: 400 });
  await clock.advance(20);
  const demand = ka.demandProbe();
  await clock.advance(20); // 40: the periodic check counts the demand probe as missed
  assert.equal(deaths.length, 1, 'the periodic check declared the path dead');
  await clock.advance(400);
  assert.equal(await settled(demand), false, 'the demand probe ends false');
  assert.equal(deaths.length, 1, deaths.join(' | '));
});

test('a client without the expected ssh2 internals is not probed, and nothing throws', async (t) => {
  const clock = new FakeClock(0);
  for (const internals of [{ _callbacks: [] }, { _protocol: { ping() {} } }]) {
    const ka = new Keepalive(internals as unknown as Client, new PassThrough(), options({ intervalMs: 0 }), clock);
    t.after(() => ka.dispose());
    assert.equal(await settled(ka.measure()), undefined, JSON.stringify(Object.keys(internals)));
  }
  // Without a socket object, writability is unknown: probe anyway.
  const callbacks: Array<(r: boolean) => void> = [];
  const client = { _callbacks: callbacks, _protocol: { ping: () => clock.timeout(() => callbacks.shift()?.(false), 3) } } as unknown as Client;
  const ka = new Keepalive(client, new PassThrough(), options(), clock);
  t.after(() => ka.dispose());
  const m = ka.measure();
  await clock.advance(3);
  assert.equal(await settled(m), 3);
});

test('noteActivity on a quiet path: a demand probe at once', async (t) => {
  const server = fakeServer('never');
  const { ka, clock } = keepalive(t, server, { quietMs: 100 });
  await clock.advance(100);
  ka.noteActivity();
  assert.equal(server.pings(), 1, 'probed at once');
});

test('noteActivity right after traffic: no probe while the action is answered; a probe when nothing answers it in time', async (t) => {
  const server = fakeServer('never');
  const { ka, deaths, clock } = keepalive(t, server, { quietMs: 100, demandMinMs: 150 });
  // Alive a moment ago (a new connection counts as just heard), a key goes out, its echo comes back.
  ka.noteActivity();
  assert.equal(server.pings(), 0, 'no probe at once: the path was heard a moment ago');
  await clock.advance(20);
  server.receive();
  await clock.advance(140);
  assert.equal(server.pings(), 0, 'the echo answered the key: no probe');
  // The path dies right after more output (a router reboot): the next key gets no echo.
  server.receive();
  ka.noteActivity();
  ka.noteActivity(); // more keys: one check covers them
  // Without an RTT the wait is a quarter of demandMinMs (37.5 ms), at most quietMs.
  await clock.advance(37);
  assert.equal(server.pings(), 0);
  await clock.advance(1);
  assert.equal(server.pings(), 1, 'nothing answered the key in time: probed');
  await clock.advance(150);
  assert.equal(ka.isSuspect, true, 'in doubt at the deadline');
  await clock.advance(900);
  assert.deepEqual(deaths, ['no reply to a demand probe within 150 ms, nor in 900 ms more'], 'and the dead path is declared');
});

test('confirmDelivery: a probe sent now; true on its reply, false when the connection closes first', async (t) => {
  const server = fakeServer(20);
  const { ka, probes, clock } = keepalive(t, server);
  const delivered = ka.confirmDelivery();
  assert.equal(server.pings(), 1, 'one probe, sent at once');
  await clock.advance(20);
  assert.equal(await settled(delivered), true);
  assert.deepEqual(
    probes.map((p) => p.kind),
    ['delivery'],
  );
  server.answerAfter('never');
  const lost = ka.confirmDelivery();
  server.close();
  assert.equal(await settled(lost), false, 'the delivery probe fails with the connection');
});

test('suspectOnMiss: a missed demand probe puts the path in doubt, not to death; the next bytes settle it (true), once', async (t) => {
  const server = fakeServer('never');
  const { ka, deaths, clock } = keepalive(t, server, { demandMinMs: 150 });
  ka.suspectOnMiss = () => true;
  const suspicions: string[] = [];
  let recoveries = 0;
  ka.onDidSuspect((r) => suspicions.push(r));
  ka.onDidRecover(() => recoveries++);
  await clock.advance(50);
  const answer = ka.demandProbe();
  await clock.advance(150);
  assert.deepEqual(suspicions, ['no reply to a demand probe within 150 ms']);
  assert.deepEqual(deaths, [], 'not declared dead');
  assert.equal(ka.isSuspect, true);
  assert.equal(await settled(answer), pending, 'the caller waits for the doubt to be settled');
  // A second user action while in doubt waits for the same answer and sends no new probe.
  const pings = server.pings();
  const again = ka.demandProbe();
  assert.equal(server.pings(), pings);
  server.receive();
  assert.equal(await settled(answer), true, 'the first caller’s answer');
  assert.equal(await settled(again), true, 'the second caller’s answer');
  assert.equal(recoveries, 1);
  assert.equal(ka.isSuspect, false);
  server.receive();
  assert.equal(recoveries, 1, 'bytes after the doubt is settled are no news');
});

test('suspectOnMiss: in doubt, the periodic rule still declares the path dead, and the waiting callers get false', async (t) => {
  const server = fakeServer('never');
  const { ka, deaths, clock } = keepalive(t, server, { demandMinMs: 100, intervalMs: 120, countMax: 3 });
  ka.suspectOnMiss = () => true;
  let suspected = false;
  ka.onDidSuspect(() => (suspected = true));
  await clock.advance(30);
  const answer = ka.demandProbe();
  await clock.advance(100);
  assert.equal(suspected, true, 'the miss put the path in doubt');
  // Misses at 120, 240 and 360.
  await clock.advance(229);
  assert.equal(await settled(answer), pending);
  await clock.advance(1);
  assert.equal(await settled(answer), false, 'the answer once the periodic rule gives up');
  assert.equal(deaths.length, 1);
  assert.match(deaths[0], /no reply to 3 keepalives/);
});

test('suspectOnMiss false (nothing else settles the doubt): a lossy path’s late reply, within six deadlines more, is not a death', async (t) => {
  // At 15 % loss a probe or its reply is sometimes lost three times in a row, and TCP resends
  // it after 200, 400 and 800 ms: the reply comes 1.4 s late though the path works.
  const server = fakeServer(1400);
  const { ka, deaths, clock } = keepalive(t, server, { demandMinMs: 1000 });
  const suspicions: string[] = [];
  let recoveries = 0;
  ka.onDidSuspect((r) => suspicions.push(r));
  ka.onDidRecover(() => recoveries++);
  await clock.advance(1500); // quiet
  const probe = ka.demandProbe();
  await clock.advance(1000);
  assert.deepEqual(suspicions, ['no reply to a demand probe within 1000 ms']);
  assert.equal(await settled(probe), pending);
  await clock.advance(400);
  server.receive(); // the reply's bytes reach the transport with it
  await clock.advance(0);
  assert.equal(await settled(probe), true, 'answered late: alive');
  assert.equal(recoveries, 1);
  assert.deepEqual(deaths, [], 'not cut');
  await clock.advance(5000);
  assert.deepEqual(deaths, [], 'and no verdict comes later');
});

test('suspectOnMiss false: a second doubt gets its own longer wait; dispose in doubt ends the wait', async (t) => {
  const server = fakeServer('never');
  const { ka, deaths, clock } = keepalive(t, server, { demandMinMs: 100 });
  await clock.advance(200);
  const first = ka.demandProbe();
  await clock.advance(150);
  server.receive();
  assert.equal(await settled(first), true);
  await clock.advance(200);
  const second = ka.demandProbe();
  await clock.advance(100);
  assert.equal(ka.isSuspect, true);
  ka.dispose();
  assert.equal(await settled(second), false);
  await clock.advance(1000);
  assert.deepEqual(deaths, [], 'no verdict after dispose');
});

test('dispose while in doubt: the waiting callers get false', async (t) => {
  const server = fakeServer('never');
  const { ka, clock } = keepalive(t, server, { demandMinMs: 100 });
  ka.suspectOnMiss = () => true;
  let suspected = false;
  ka.onDidSuspect(() => (suspected = true));
  await clock.advance(30);
  const answer = ka.demandProbe();
  await clock.advance(100);
  assert.equal(suspected, true, 'the miss put the path in doubt');
  ka.dispose();
  assert.equal(await settled(answer), false, 'the answer after dispose');
});

test('demand probe (no kernel counters): our own queue draining while it waits proves the path (a probe queued behind an upload); a queue that does not move proves nothing', async (t) => {
  const server = fakeServer('never');
  // A socket's counters: bytesWritten counts what it was given (queued included).
  let given = 5_000_000;
  const queued = 600_000;
  Object.defineProperty(server.transport, 'bytesWritten', { get: () => given });
  Object.defineProperty(server.transport, 'writableLength', { get: () => queued });
  const { ka, deaths, clock } = keepalive(t, server, { demandMinMs: 100 });
  const suspicions: string[] = [];
  ka.onDidSuspect((r) => suspicions.push(r));
  await clock.advance(200); // quiet downlink: an upload gets no replies for a while
  const probe = ka.demandProbe();
  // The server acknowledges: the kernel takes 64 KiB of the queue, the upload adds as much.
  await clock.advance(50);
  given += 65_536;
  await clock.advance(50);
  assert.equal(await settled(probe), true, 'the queue moved: alive');
  assert.deepEqual(suspicions, []);
  // The path dies: the queue stays where it is.
  const stuck = ka.demandProbe();
  await clock.advance(100);
  assert.deepEqual(suspicions, ['no reply to a demand probe within 100 ms'], 'a stuck queue proves nothing');
  await clock.advance(600);
  assert.equal(await settled(stuck), false);
  assert.equal(deaths.length, 1);
});

/**
 * A socket as the kernel describes it (outbound.ts), changed by the test: a probe's few bytes
 * unacknowledged and being resent, or nothing in flight and nothing unread.
 */
function kernelSays(sample: Partial<OutboundSample> = {}) {
  const now: OutboundSample = { handedOn: 1000, queued: 0, unacked: 0, unread: 0, rtoMs: 200, ...sample };
  return { now, sampler: () => ({ ...now }) };
}

function keepaliveWithKernel(t: TestContext, server: FakeServer, sampler: () => OutboundSample, o: Partial<KeepaliveOptions> = {}) {
  const ka = new Keepalive(server.client, server.transport, options(o), server.clock, sampler);
  t.after(() => ka.dispose());
  const deaths: string[] = [];
  ka.onDidDie((r) => deaths.push(r));
  return { ka, deaths, clock: server.clock };
}

/**
 * A demand probe answered on a working path after `answerMs` (held up on the wire when that is
 * past the loss look: lossMemory.ts); then the path is cut: the next probe's bytes stay in our
 * kernel, resent after 200, 400 ms..., and at the miss the kernel's next resend is 300 ms away,
 * its RTO 800 ms after.
 */
async function answeredThenCut(t: TestContext, answerMs: number) {
  const server = fakeServer(answerMs);
  const kernel = kernelSays();
  const { ka, deaths, clock } = keepaliveWithKernel(t, server, kernel.sampler, { demandMinMs: 1000 });
  await clock.advance(1500);
  void ka.demandProbe();
  await clock.advance(answerMs);
  const lossyBefore = ka.lossyLately;
  server.answerAfter('never');
  await clock.advance(1500);
  Object.assign(kernel.now, { handedOn: 1100, unacked: 100, retransmitInMs: 300, rtoMs: 800 });
  return { ka, deaths, clock, server, lossyBefore, probe: ka.demandProbe() };
}

test('a missed probe whose few bytes stay unacknowledged through the kernel’s next resend, on a connection that never lost a segment, is a cut: given up then, not after the longer wait', async (t) => {
  // The router reboots after a probe answered in 20 ms.
  const { ka, deaths, clock, lossyBefore, probe } = await answeredThenCut(t, 20);
  assert.equal(lossyBefore, false, 'nothing lost before the cut');
  await clock.advance(1000); // the miss
  assert.equal(ka.isSuspect, true);
  await clock.advance(1099);
  assert.deepEqual(deaths, [], 'not before the resend and its RTO');
  await clock.advance(1);
  assert.deepEqual(deaths, ['no reply to a demand probe within 1000 ms, and the server acknowledged none of our bytes within 1100 ms more']);
  assert.equal(await settled(probe), false);
});

test('the same miss on a connection that lost segments lately (a lossy line): no early verdict, the longer wait; its late answer keeps it', async (t) => {
  // The probe before the cut was answered 220 ms late with nothing waiting in the kernel: lost once and resent.
  const { deaths, clock, server, lossyBefore, probe } = await answeredThenCut(t, 220);
  assert.equal(lossyBefore, true, 'a reply held up on the wire, then answered');
  await clock.advance(1000 + 1100);
  assert.deepEqual(deaths, [], 'the cut check is not made on a lossy connection');
  await clock.advance(2000);
  server.receive(); // the resend got through at last
  await clock.advance(0);
  assert.equal(await settled(probe), true);
  assert.deepEqual(deaths, []);
});

test('a real cut of a connection that lost packets lately is lost after twelve deadlines, not six: its resends get four more chances', async (t) => {
  const { deaths, clock, probe } = await answeredThenCut(t, 220);
  await clock.advance(1000 + 6 * 1000);
  assert.deepEqual(deaths, [], 'six deadlines are a clean path’s wait');
  await clock.advance(6 * 1000 - 1);
  assert.deepEqual(deaths, []);
  await clock.advance(1);
  assert.deepEqual(deaths, ['no reply to a demand probe within 1000 ms, nor in 12000 ms more']);
  assert.equal(await settled(probe), false);
});

test('a probe held up on the wire that is never answered is the cut’s doing, not history: the cut check still applies', async (t) => {
  const server = fakeServer('never');
  const kernel = kernelSays({ handedOn: 1100, unacked: 100, retransmitInMs: 100, rtoMs: 400 });
  const { ka, deaths, clock } = keepaliveWithKernel(t, server, kernel.sampler, { demandMinMs: 1000 });
  await clock.advance(1500);
  void ka.demandProbe();
  await clock.advance(1000);
  assert.equal(ka.lossyLately, false);
  await clock.advance(1000);
  assert.equal(deaths.length, 1);
  assert.match(deaths[0], /acknowledged none of our bytes within 1000 ms more/);
});

test('in doubt: the missed deadline is known, and an upload ahead of the probe that the server keeps acknowledging is seen as moving; both end with the doubt', async (t) => {
  const server = fakeServer('never');
  // 200 KiB of ours in flight ahead of the probe (an upload), its acknowledgements slow.
  const kernel = kernelSays({ handedOn: 500_000, unacked: 200_000, retransmitInMs: 300, rtoMs: 800 });
  const { ka, clock } = keepaliveWithKernel(t, server, kernel.sampler, { demandMinMs: 1000 });
  await clock.advance(1500);
  assert.equal(ka.missedDeadlineMs, undefined, 'not in doubt');
  assert.equal(ka.uploadMovingSinceMiss, false);
  void ka.demandProbe();
  await clock.advance(1000);
  assert.equal(ka.isSuspect, true);
  assert.equal(ka.missedDeadlineMs, 1000);
  assert.equal(ka.uploadMovingSinceMiss, false, 'nothing acknowledged since the miss yet');
  kernel.now.unacked = 200_000 - 1448; // the server's TCP acknowledged a segment of the upload
  assert.equal(ka.uploadMovingSinceMiss, true);
  server.receive();
  await clock.advance(0);
  assert.equal(ka.isSuspect, false);
  assert.equal(ka.missedDeadlineMs, undefined, 'the doubt is over');
  assert.equal(ka.uploadMovingSinceMiss, false);
});

import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { test, type TestContext } from 'node:test';
import type { Client } from 'ssh2';
import { Keepalive, type KeepaliveOptions, type ProbeResult } from '../../src/core/liveness/keepalive';
import { eventWithin, sleep, within } from '../harness/bounded';

/**
 * Keepalive against a stand-in for ssh2's client internals (the global-request callback
 * queue and ping), so that each rule of liveness is checked on its own and fast: what
 * counts as a miss, when the path is declared dead, how the RTT is smoothed, what a demand
 * probe waits for. The real protocol is covered by the session tests.
 */

interface FakeServer {
  client: Client;
  transport: PassThrough;
  /** Pings sent so far. */
  pings(): number;
  /** Answer later pings after `ms`, or never. */
  answerAfter(ms: number | 'never'): void;
  /** The transport stops being writable, as after a socket error. */
  breakSocket(): void;
  /** Some bytes arrive (any packet proves the path). */
  receive(): void;
  /** The connection closes: ssh2 calls every pending callback with an Error (not a reply). */
  close(): void;
}

function fakeServer(answerMs: number | 'never'): FakeServer {
  const callbacks: Array<(outcome: boolean | Error) => void> = [];
  const sock = { writable: true };
  let pings = 0;
  let delayMs: number | 'never' = answerMs;
  const transport = new PassThrough();
  const protocol = {
    ping() {
      pings++;
      if (delayMs === 'never') return;
      setTimeout(() => callbacks.shift()?.(false), delayMs);
    },
  };
  return {
    client: { _callbacks: callbacks, _protocol: protocol, _sock: sock } as unknown as Client,
    transport,
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

function keepalive(t: TestContext, server: FakeServer, o: Partial<KeepaliveOptions> = {}): { ka: Keepalive; probes: ProbeResult[]; deaths: string[] } {
  const ka = new Keepalive(server.client, server.transport, options(o));
  t.after(() => ka.dispose());
  const probes: ProbeResult[] = [];
  const deaths: string[] = [];
  ka.onDidProbe((p) => probes.push(p));
  ka.onDidDie((r) => deaths.push(r));
  return { ka, probes, deaths };
}

const near = (actual: number | undefined, expected: number, slack: number, what: string) =>
  assert.ok(actual !== undefined && Math.abs(actual - expected) <= slack, `${what}: ${actual}, expected ${expected} ± ${slack}`);

test('measure: one probe, its RTT reported and smoothed (3/4 old + 1/4 new), rounded to 0.1 ms', async (t) => {
  const server = fakeServer(200);
  const { ka, probes } = keepalive(t, server);
  assert.equal(ka.rttMs, undefined, 'no RTT before the first reply');
  const first = await within(ka.measure('initial', 2000), 3000, 'the first measurement');
  near(first, 200, 60, 'first RTT');
  near(ka.rttMs, first!, 0.05, 'the first RTT is the smoothed RTT');
  // A second RTT far from 0, so that the weights and the sign of each term show.
  server.answerAfter(40);
  const second = await within(ka.measure('periodic', 2000), 3000, 'the second measurement');
  assert.ok(second! >= 30, `second RTT ${second} ms, answered after 40 ms`);
  near(ka.rttMs, 0.75 * first! + 0.25 * second!, 0.1, 'smoothed RTT');
  assert.equal(ka.rttMs, Math.round(ka.rttMs! * 10) / 10, 'rounded to 0.1 ms');
  assert.deepEqual(
    probes.map((p) => p.kind),
    ['initial', 'periodic'],
  );
  near(probes[0].rttMs, first!, 0.05, 'the probe event carries the RTT');
  assert.equal(probes[0].rttMs, Math.round(probes[0].rttMs * 10) / 10, 'event RTT rounded to 0.1 ms');
  assert.equal(server.pings(), 2);
});

test('measure: no reply within its timeout is undefined, and no probe event', async (t) => {
  const server = fakeServer('never');
  const { ka, probes, deaths } = keepalive(t, server);
  const started = Date.now();
  assert.equal(await within(ka.measure('initial', 200), 2000, 'measure to give up'), undefined);
  near(Date.now() - started, 200, 150, 'gave up after its timeout');
  assert.deepEqual(probes, []);
  assert.deepEqual(deaths, [], 'a slow measurement alone does not declare the path dead');
});

test('measure on a socket that is not writable sends nothing', async (t) => {
  const server = fakeServer(0);
  server.breakSocket();
  const { ka } = keepalive(t, server);
  assert.equal(await within(ka.measure(), 1000, 'measure'), undefined);
  assert.equal(server.pings(), 0);
});

test('periodic: countMax unanswered intervals in a row declare the path dead, once', async (t) => {
  const server = fakeServer('never');
  const started = Date.now();
  const { ka, deaths } = keepalive(t, server, { intervalMs: 60, countMax: 3 });
  const reason = await eventWithin(ka.onDidDie, () => true, 2000, 'the keepalive to declare the path dead');
  const elapsed = Date.now() - started;
  // First probe at 1 interval; misses counted at 2, 3, 4 intervals.
  assert.ok(elapsed >= 4 * 60 - 20 && elapsed < 4 * 60 + 250, `dead after ${elapsed} ms, expected about 240`);
  assert.match(reason, /^no reply to 3 keepalives \(silent for 0\.\d s\)$/);
  await sleep(200);
  assert.equal(deaths.length, 1, 'declared dead once');
  const pings = server.pings();
  await sleep(150);
  assert.equal(server.pings(), pings, 'no probes once dead');
});

test('retune: a connection made before the network was learned probes at the learned interval from then on', async (t) => {
  const server = fakeServer(1);
  const { ka } = keepalive(t, server, { intervalMs: 5000, countMax: 3 });
  await sleep(100);
  assert.equal(server.pings(), 0, 'nothing yet at the configured 5 s');
  ka.retune(60);
  await sleep(300);
  assert.ok(server.pings() >= 2, `probes at the learned 60 ms: ${server.pings()}`);
});

test('periodic: a reply before countMax resets the count', async (t) => {
  const server = fakeServer('never');
  const { ka, deaths, probes } = keepalive(t, server, { intervalMs: 50, countMax: 3 });
  // Two misses, then one reply (answering the oldest ping), then misses again: never 3 in a row within this window.
  await sleep(130);
  server.answerAfter(0);
  await eventWithin(ka.onDidProbe, () => true, 1000, 'a probe reply');
  server.answerAfter('never');
  await sleep(130);
  assert.deepEqual(deaths, []);
  assert.ok(probes.length >= 1 && probes.every((p) => p.kind === 'periodic'), JSON.stringify(probes));
});

test('periodic: any bytes received prove the path, replies or not', async (t) => {
  const server = fakeServer('never');
  const { deaths } = keepalive(t, server, { intervalMs: 40, countMax: 2 });
  const feed = setInterval(() => server.receive(), 15);
  t.after(() => clearInterval(feed));
  await sleep(400);
  assert.deepEqual(deaths, [], 'traffic keeps the path alive');
  // As OpenSSH: traffic received restarts the ServerAliveInterval wait, so a busy path is not probed.
  assert.equal(server.pings(), 0, 'no periodic probes while bytes keep arriving');
});

test('periodic: the first probe goes out intervalMs after the last bytes received, as with OpenSSH', async (t) => {
  const server = fakeServer(5);
  const { ka } = keepalive(t, server, { intervalMs: 80, countMax: 3 });
  let lastData = Date.now();
  const feed = setInterval(() => {
    server.receive();
    lastData = Date.now();
  }, 20);
  t.after(() => clearInterval(feed));
  await sleep(300);
  clearInterval(feed);
  assert.equal(server.pings(), 0, `probes while traffic flowed: ${server.pings()}`);
  await eventWithin(ka.onDidProbe, (p) => p.kind === 'periodic', 1000, 'the first periodic probe after the traffic stopped');
  const waited = Date.now() - lastData;
  assert.ok(waited >= 80 - 5 && waited < 80 + 120, `first probe answered ${waited} ms after the last bytes, expected about 80 + 5`);
});

test('periodic: answered probes keep it alive and report RTTs', async (t) => {
  const server = fakeServer(5);
  const { deaths, probes } = keepalive(t, server, { intervalMs: 40, countMax: 1 });
  await sleep(400);
  assert.deepEqual(deaths, []);
  assert.ok(probes.length >= 5, `${probes.length} probes`);
});

test('intervalMs 0: no periodic probes at all', async (t) => {
  const server = fakeServer('never');
  const { deaths } = keepalive(t, server, { intervalMs: 0 });
  await sleep(200);
  assert.equal(server.pings(), 0);
  assert.deepEqual(deaths, []);
});

test('demand probe: answered is true; concurrent callers share one probe', async (t) => {
  const server = fakeServer(30);
  const { ka, probes, deaths } = keepalive(t, server);
  const a = ka.demandProbe();
  const b = ka.demandProbe();
  assert.equal(a, b, 'one shared probe');
  assert.equal(await within(a, 2000, 'the demand probe'), true);
  assert.equal(server.pings(), 1);
  assert.deepEqual(
    probes.map((p) => p.kind),
    ['demand'],
  );
  // The next one is a new probe.
  assert.equal(await within(ka.demandProbe(), 2000, 'a second demand probe'), true);
  assert.equal(server.pings(), 2);
  assert.deepEqual(deaths, []);
});

test('demand probe: no reply within max(demandMinMs, factor x RTT) is false and declares the path dead', async (t) => {
  const server = fakeServer('never');
  const { ka, deaths } = keepalive(t, server, { demandMinMs: 150 });
  assert.equal(ka.demandDeadlineMs, 150, 'no RTT yet: the floor');
  // Last heard well before the probe: at the deadline, nothing has arrived since it was sent.
  await sleep(50);
  const started = Date.now();
  assert.equal(await within(ka.demandProbe(), 2000, 'the demand probe to give up'), false);
  near(Date.now() - started, 150, 120, 'gave up at its deadline');
  assert.deepEqual(deaths, ['no reply to a demand probe within 150 ms']);
  // Dead: later probes are false at once and send nothing.
  const pings = server.pings();
  assert.equal(await ka.demandProbe(), false);
  assert.equal(server.pings(), pings);
});

test('demand deadline grows with the RTT: factor x smoothed RTT above the floor', async (t) => {
  const server = fakeServer(100);
  const { ka } = keepalive(t, server, { demandMinMs: 50, demandRttFactor: 4 });
  await within(ka.measure(), 2000, 'a measurement');
  near(ka.demandDeadlineMs, Math.round(4 * ka.rttMs!), 1, 'deadline');
  assert.ok(ka.demandDeadlineMs >= 360, `deadline ${ka.demandDeadlineMs} ms for an RTT of ${ka.rttMs} ms`);
  assert.equal(ka.demandDeadlineMs, Math.round(ka.demandDeadlineMs), 'whole milliseconds');
});

test('demand probe: bytes that arrive while it waits prove the path', async (t) => {
  const server = fakeServer('never');
  const { ka, deaths } = keepalive(t, server, { demandMinMs: 200 });
  const probe = ka.demandProbe();
  setTimeout(() => server.receive(), 150);
  assert.equal(await within(probe, 2000, 'the demand probe'), true);
  assert.deepEqual(deaths, []);
});

test('demand probe on a socket that is not writable: dead at once', async (t) => {
  const server = fakeServer(0);
  server.breakSocket();
  const { ka, deaths } = keepalive(t, server);
  assert.equal(await within(ka.demandProbe(), 500, 'the demand probe'), false);
  assert.deepEqual(deaths, ['transport is not writable']);
});

test('recentlyHeard and lastContact follow received bytes', async (t) => {
  const server = fakeServer(0);
  const { ka } = keepalive(t, server, { quietMs: 100 });
  const created = Date.now();
  assert.equal(ka.recentlyHeard, true, 'a new connection counts as just heard');
  await sleep(150);
  assert.equal(ka.recentlyHeard, false, 'quiet for longer than quietMs');
  server.receive();
  assert.equal(ka.recentlyHeard, true);
  assert.ok(ka.lastContact >= created + 140, 'lastContact moved with the bytes');
});

test('dispose: no more probes, no death, transport listener removed', async (t) => {
  const server = fakeServer('never');
  const before = server.transport.listenerCount('data');
  const { ka, deaths } = keepalive(t, server, { intervalMs: 30, countMax: 1 });
  assert.equal(server.transport.listenerCount('data'), before + 1);
  ka.dispose();
  assert.equal(server.transport.listenerCount('data'), before);
  await sleep(150);
  assert.equal(server.pings(), 0);
  assert.deepEqual(deaths, []);
});

test('periodic: bytes that arrived after a probe went out do not keep a path alive that went silent since', async (t) => {
  // A probe goes out, some output arrives before its reply would, then the path dies: every
  // later interval is silent, and countMax of them must declare it dead.
  const server = fakeServer('never');
  const { ka } = keepalive(t, server, { intervalMs: 60, countMax: 3 });
  await within(
    new Promise<void>((resolve) => {
      const poll = setInterval(() => {
        if (server.pings() >= 1) {
          clearInterval(poll);
          resolve();
        }
      }, 5);
    }),
    1000,
    'the first periodic probe',
  );
  await sleep(10);
  server.receive(); // after the probe, before its (never coming) reply
  const reason = await eventWithin(ka.onDidDie, () => true, 1500, 'the keepalive to declare the silent path dead');
  assert.match(reason, /^no reply to 3 keepalives/);
});

test('measure() without arguments is an initial probe; once dead, bytes arriving do not restart probing', async (t) => {
  const server = fakeServer(0);
  const { ka, probes } = keepalive(t, server, { intervalMs: 40, countMax: 1 });
  await within(ka.measure(), 1000, 'measure()');
  assert.deepEqual(
    probes.map((p) => p.kind),
    ['initial'],
  );
  server.answerAfter('never');
  await eventWithin(ka.onDidDie, () => true, 1000, 'the path to be declared dead');
  const pings = server.pings();
  server.receive();
  await sleep(150);
  assert.equal(server.pings(), pings, 'no probes after death');
});

test('a probe ended by the connection closing is no reply: no RTT, no event, the misses go on', async (t) => {
  const server = fakeServer('never');
  const { ka, probes, deaths } = keepalive(t, server, { intervalMs: 50, countMax: 3 });
  const measuring = ka.measure('initial', 2000);
  server.close();
  assert.equal(await within(measuring, 1000, 'measure to end with the connection'), undefined);
  assert.equal(ka.rttMs, undefined);
  // Periodic probes closed out the same way do not count as replies.
  const closer = setInterval(() => server.close(), 10);
  t.after(() => clearInterval(closer));
  await eventWithin(ka.onDidDie, () => true, 2000, 'the keepalive to declare the path dead');
  assert.deepEqual(probes, []);
  assert.equal(deaths.length, 1);
});

test('a demand probe still in flight when the periodic check declares the path dead: dead once', async (t) => {
  const server = fakeServer('never');
  const { ka, deaths } = keepalive(t, server, { intervalMs: 40, countMax: 1, demandMinMs: 400 });
  await sleep(20);
  const demand = ka.demandProbe();
  await eventWithin(ka.onDidDie, () => true, 1000, 'the periodic check to declare the path dead');
  assert.equal(await within(demand, 2000, 'the demand probe to end'), false);
  await sleep(50);
  assert.equal(deaths.length, 1, deaths.join(' | '));
});

test('a client without the expected ssh2 internals is not probed, and nothing throws', async (t) => {
  for (const internals of [{ _callbacks: [] }, { _protocol: { ping() {} } }]) {
    const ka = new Keepalive(internals as unknown as Client, new PassThrough(), options({ intervalMs: 0 }));
    t.after(() => ka.dispose());
    assert.equal(await within(ka.measure(), 1000, 'measure'), undefined, JSON.stringify(Object.keys(internals)));
  }
  // Without a socket object, writability is unknown: probe anyway.
  const callbacks: Array<(r: boolean) => void> = [];
  const client = { _callbacks: callbacks, _protocol: { ping: () => setTimeout(() => callbacks.shift()?.(false), 0) } } as unknown as Client;
  const ka = new Keepalive(client, new PassThrough(), options());
  t.after(() => ka.dispose());
  assert.equal(typeof (await within(ka.measure(), 1000, 'measure')), 'number');
});

test('noteActivity on a quiet path: a demand probe at once', async (t) => {
  const server = fakeServer('never');
  const { ka } = keepalive(t, server, { quietMs: 100 });
  await sleep(150);
  ka.noteActivity();
  assert.equal(server.pings(), 1, 'probed at once');
});

test('noteActivity right after traffic: no probe while the action is answered; a probe when nothing answers it within quietMs', async (t) => {
  const server = fakeServer('never');
  const { ka, deaths } = keepalive(t, server, { quietMs: 100, demandMinMs: 150 });
  // Alive a moment ago (a new connection counts as just heard), a key goes out, its echo comes back.
  ka.noteActivity();
  assert.equal(server.pings(), 0, 'no probe at once: the path was heard a moment ago');
  setTimeout(() => server.receive(), 20);
  await sleep(160);
  assert.equal(server.pings(), 0, 'the echo answered the key: no probe');
  // The path dies right after more output (a router reboot): the next key gets no echo.
  server.receive();
  ka.noteActivity();
  ka.noteActivity(); // more keys: one check covers them
  assert.equal(server.pings(), 0);
  await sleep(130);
  assert.equal(server.pings(), 1, 'nothing answered the key within quietMs: probed');
  await sleep(200);
  assert.deepEqual(deaths, ['no reply to a demand probe within 150 ms'], 'and the dead path is declared');
});

test('confirmDelivery: a probe sent now; true on its reply, false when the connection closes first', async (t) => {
  const server = fakeServer(20);
  const { ka, probes } = keepalive(t, server);
  assert.equal(await within(ka.confirmDelivery(), 2000, 'the delivery probe reply'), true);
  assert.equal(server.pings(), 1, 'one probe, sent at once');
  assert.deepEqual(
    probes.map((p) => p.kind),
    ['delivery'],
  );
  server.answerAfter('never');
  const pending = ka.confirmDelivery();
  server.close();
  assert.equal(await within(pending, 2000, 'the delivery probe to fail with the connection'), false);
});

test('suspectOnMiss: a missed demand probe puts the path in doubt, not to death; the next bytes settle it (true), once', async (t) => {
  const server = fakeServer('never');
  const { ka, deaths } = keepalive(t, server, { demandMinMs: 150 });
  ka.suspectOnMiss = () => true;
  const suspicions: string[] = [];
  let recoveries = 0;
  ka.onDidSuspect((r) => suspicions.push(r));
  ka.onDidRecover(() => recoveries++);
  await sleep(50);
  const answer = ka.demandProbe();
  await eventWithin(ka.onDidSuspect, () => true, 2000, 'the miss to put the path in doubt');
  assert.deepEqual(suspicions, ['no reply to a demand probe within 150 ms']);
  assert.deepEqual(deaths, [], 'not declared dead');
  assert.equal(ka.isSuspect, true);
  // A second user action while in doubt waits for the same answer and sends no new probe.
  const pings = server.pings();
  const again = ka.demandProbe();
  assert.equal(server.pings(), pings);
  server.receive();
  assert.equal(await within(answer, 1000, 'the first caller’s answer'), true);
  assert.equal(await within(again, 1000, 'the second caller’s answer'), true);
  assert.equal(recoveries, 1);
  assert.equal(ka.isSuspect, false);
  server.receive();
  assert.equal(recoveries, 1, 'bytes after the doubt is settled are no news');
});

test('suspectOnMiss: in doubt, the periodic rule still declares the path dead, and the waiting callers get false', async (t) => {
  const server = fakeServer('never');
  const { ka, deaths } = keepalive(t, server, { demandMinMs: 100, intervalMs: 120, countMax: 3 });
  ka.suspectOnMiss = () => true;
  await sleep(30);
  const answer = ka.demandProbe();
  await eventWithin(ka.onDidSuspect, () => true, 2000, 'the miss to put the path in doubt');
  assert.equal(await within(answer, 3000, 'the answer once the periodic rule gives up'), false);
  assert.equal(deaths.length, 1);
  assert.match(deaths[0], /no reply to 3 keepalives/);
});

test('suspectOnMiss false (no rider resumes on another connection): a miss is a death, as before', async (t) => {
  const server = fakeServer('never');
  const { ka, deaths } = keepalive(t, server, { demandMinMs: 100 });
  let suspected = false;
  ka.onDidSuspect(() => (suspected = true));
  await sleep(30);
  assert.equal(await within(ka.demandProbe(), 2000, 'the demand probe'), false);
  assert.equal(suspected, false);
  assert.deepEqual(deaths, ['no reply to a demand probe within 100 ms']);
});

test('dispose while in doubt: the waiting callers get false', async (t) => {
  const server = fakeServer('never');
  const { ka } = keepalive(t, server, { demandMinMs: 100 });
  ka.suspectOnMiss = () => true;
  await sleep(30);
  const answer = ka.demandProbe();
  await eventWithin(ka.onDidSuspect, () => true, 2000, 'the miss to put the path in doubt');
  ka.dispose();
  assert.equal(await within(answer, 1000, 'the answer after dispose'), false);
});

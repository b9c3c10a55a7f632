import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { PassThrough } from 'node:stream';
import { test, type TestContext } from 'node:test';
import { DisposableStore } from '../../src/core/base/disposable';
import { type IdleFlowOutcome, probeIdleFlow } from '../../src/core/liveness/idleFlowProbe';
import { describeLearned, IntervalLearner, memoryStore, refreshIntervalFor } from '../../src/core/liveness/intervalLearner';
import { KeepaliveTuner, type FlowProber, type TunerEvent } from '../../src/core/liveness/keepaliveTuner';
import { fileStore } from '../../src/core/liveness/learnedPathStore';
import { FakeClock, until } from '../harness/fakeClock';

test('a measured path: refresh a margin under the survived silence (whole seconds), said as "drops idle flows after about N s"', () => {
  const learner = new IntervalLearner(memoryStore(), {}, () => 'n');
  assert.equal(refreshIntervalFor(59_900), 53_000);
  assert.equal(refreshIntervalFor(18_300), 16_000);
  assert.equal(learner.onMeasured(59_900, 64_500), 'this network drops idle flows after about 64.5 s (survived 59.9 s); keepalive every 53 s');
  assert.equal(learner.learned?.intervalMs, 53_000);
  assert.equal(
    describeLearned({ diesAfterMs: Infinity, intervalMs: 103_000, survivedMs: 115_000 }),
    'this network keeps idle flows for at least 115 s; keepalive every 103 s',
  );
  // Not relaxed past what was measured.
  learner.onSurvived(3_600_000);
  assert.equal(learner.learned?.intervalMs, 53_000);
});

test('back off at the first drop: a death on a measured path forgets the measurement and falls to the death rule', () => {
  const learner = new IntervalLearner(memoryStore(), {}, () => 'n');
  learner.onMeasured(59_900, 64_500);
  const said = learner.onIdleDeath(53_000, 15_000);
  assert.match(said ?? '', /drops idle connections after at most 53 s; keepalive every 13.3 s/);
  assert.equal(learner.learned?.survivedMs, undefined, 'the next connection measures again');
  assert.equal(learner.intervalFor(15_000), 13_250);
});

test('a measured record with no death (Infinity) survives the JSON file, and is kept per network', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ska-tuner-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'learned.json');
  new IntervalLearner(fileStore(file), {}, () => 'home').onMeasured(115_000, undefined);
  const again = new IntervalLearner(fileStore(file), {}, () => 'home');
  assert.deepEqual(again.learned, { diesAfterMs: Infinity, intervalMs: 103_000, survivedMs: 115_000 });
  assert.equal(new IntervalLearner(fileStore(file), {}, () => 'office').learned, undefined);
});

/** A fake sshd on loopback: sends a banner, and answers an identification line unless told to play dead. */
async function fakeSshd(t: TestContext, answer: () => boolean): Promise<number> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('error', () => undefined);
    s.write('SSH-2.0-OpenSSH_9.2p1 Debian\r\n');
    s.on('data', () => answer() && s.write(Buffer.alloc(64, 1)));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => {
    sockets.forEach((s) => s.destroy());
    server.close();
  });
  return (server.address() as net.AddressInfo).port;
}

test('a disposable-flow probe: a reply after the silence is "survived", none within the wait is "dropped", a refusal proves nothing', async (t) => {
  let alive = true;
  const port = await fakeSshd(t, () => alive);
  const probe = (silenceMs: number) => probeIdleFlow({ connect: () => net.connect(port, '127.0.0.1'), silenceMs, replyWaitMs: 300 });
  assert.equal(await probe(50), 'survived');
  alive = false;
  assert.equal(await probe(50), 'dropped');
  const closed = net.createServer();
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
  const refused = (closed.address() as net.AddressInfo).port;
  closed.close();
  assert.equal(await probeIdleFlow({ connect: () => net.connect(refused, '127.0.0.1'), silenceMs: 50, replyWaitMs: 300 }), 'unknown');
});

/** A real loopback TCP connection (what a direct ssh2 transport is), and a keepalive that records retunes. */
async function tcpPair(t: TestContext) {
  const server = net.createServer((s) => s.on('error', () => undefined));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const socket = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  await new Promise<void>((r) => socket.once('connect', r));
  const keepAlives: Array<[boolean | undefined, number | undefined]> = [];
  const real = socket.setKeepAlive.bind(socket);
  socket.setKeepAlive = (enable?: boolean, delay?: number) => {
    keepAlives.push([enable, delay]);
    return real(enable, delay);
  };
  t.after(() => {
    socket.destroy();
    server.close();
  });
  const retunes: number[] = [];
  return { socket, keepAlives, keepalive: { retune: (ms: number) => retunes.push(ms) }, retunes };
}

/** Probes of a NAT forgetting flows after natMs, on a fake clock. */
function natProber(clock: FakeClock, natMs: () => number): { prober: FlowProber; started: () => number } {
  let started = 0;
  const prober: FlowProber = (_address, silenceMs, signal) =>
    new Promise<IdleFlowOutcome>((resolve) => {
      started++;
      const dies = silenceMs >= natMs();
      const timer = clock.timeout(() => resolve(dies ? 'dropped' : 'survived'), silenceMs + (dies ? 5000 : 10));
      signal.addEventListener('abort', () => {
        timer.dispose();
        resolve('unknown');
      });
    });
  return { prober, started: () => started };
}

async function advanceUntil(clock: FakeClock, what: string, done: () => boolean, limitMs = 10 * 60_000): Promise<void> {
  for (let t = 0; t < limitMs && !done(); t += 1000) await clock.advance(1000);
  assert.ok(done(), what);
}

/** A tuner behind a NAT that forgets flows after natMs (fake clock), with its events recorded. */
function tunerBehind(t: TestContext, natMs: number, measured?: [number, number]) {
  const clock = new FakeClock(0);
  const learner = new IntervalLearner(memoryStore(), {}, () => 'n');
  if (measured) learner.onMeasured(...measured);
  const nat = natProber(clock, () => natMs);
  const tuner = new KeepaliveTuner(learner, () => 15_000, {}, nat.prober);
  t.after(() => tuner.dispose());
  const events: TunerEvent[] = [];
  tuner.onDidTune((e) => events.push(e));
  return { clock, learner, nat, tuner, events };
}

test('the tuner grows the refresh while flows survive, then refreshes with TCP keepalives under the NAT and probes ssh only every 10 min', async (t) => {
  const { clock, tuner, events } = tunerBehind(t, 60_000);
  const { socket, keepAlives, keepalive, retunes } = await tcpPair(t);
  const scope = new DisposableStore();
  tuner.attach(socket, keepalive, scope);
  assert.equal(events[0]?.kind, 'learning');
  await advanceUntil(clock, 'learned', () => events.some((e) => e.kind === 'learned'));
  const learned = events.find((e) => e.kind === 'learned')!;
  assert.match(learned.message, /this network drops idle flows after about \d+(\.\d)? s/);
  const delays = keepAlives.map(([, d]) => d!);
  assert.ok(delays.length >= 2, `grew in steps: ${delays.join(', ')}`);
  for (let i = 1; i < delays.length; i++) assert.ok(delays[i] >= delays[i - 1], `only upwards: ${delays.join(', ')}`);
  const final = delays.at(-1)!;
  assert.ok(final < 60_000 && final >= 45_000, `refresh every ${final} ms under a 60 s NAT`);
  assert.equal(tuner.refreshIntervalMs, final);
  assert.equal(retunes.at(-1), 600_000, 'ssh-level probes every 10 min');
  scope.dispose();
});

test('a remembered network is refreshed at once, with no new measurement; a wake-up measures again', async (t) => {
  const { nat, tuner } = tunerBehind(t, 60_000, [55_000, 60_000]);
  const { socket, keepAlives, keepalive } = await tcpPair(t);
  tuner.attach(socket, keepalive, new DisposableStore());
  assert.deepEqual(keepAlives, [[true, 49_000]]);
  assert.equal(nat.started(), 0, 'nothing measured');
  tuner.relearn();
  assert.ok(nat.started() > 0, 'a wake-up or network change measures again');
});

test('a refreshed connection dropped by the kernel (ETIMEDOUT) backs off, and the next connection measures again', async (t) => {
  const { clock, learner, nat, tuner, events } = tunerBehind(t, 30_000, [55_000, 60_000]);
  const first = await tcpPair(t);
  const scope = new DisposableStore();
  tuner.attach(first.socket, first.keepalive, scope);
  first.socket.on('error', () => undefined);
  first.socket.emit('error', Object.assign(new Error('read ETIMEDOUT'), { code: 'ETIMEDOUT' }));
  const dropped = events.find((e) => e.kind === 'dropped');
  assert.ok(dropped, JSON.stringify(events));
  assert.equal(learner.learned?.survivedMs, undefined, 'the measurement is forgotten');
  assert.ok(learner.intervalFor(15_000) < 49_000);
  scope.dispose();
  const second = await tcpPair(t);
  tuner.attach(second.socket, second.keepalive, new DisposableStore());
  assert.ok(nat.started() > 0, 'the next connection measures again');
  await advanceUntil(clock, 'learned again', () => events.some((e) => e.kind === 'learned'));
  assert.ok(tuner.refreshIntervalMs! < 30_000, `now under the NAT's new 30 s: ${tuner.refreshIntervalMs}`);
});

test('through ProxyJump or ProxyCommand (not a TCP socket) nothing is tuned, and that is said once', () => {
  const learner = new IntervalLearner(memoryStore(), {}, () => 'n');
  const tuner = new KeepaliveTuner(
    learner,
    () => 15_000,
    {},
    () => Promise.resolve('survived'),
  );
  const events: TunerEvent[] = [];
  tuner.onDidTune((e) => events.push(e));
  const retunes: number[] = [];
  tuner.attach(new PassThrough(), { retune: (ms) => retunes.push(ms) }, new DisposableStore());
  tuner.attach(new PassThrough(), { retune: (ms) => retunes.push(ms) }, new DisposableStore());
  assert.deepEqual(
    events.map((e) => e.kind),
    ['unavailable'],
  );
  assert.deepEqual(retunes, []);
  tuner.dispose();
});

test('a drop while still measuring stops the measurement: its result would undo the back-off', async (t) => {
  const { clock, learner, tuner, events } = tunerBehind(t, 60_000);
  const { socket, keepalive } = await tcpPair(t);
  socket.on('error', () => undefined);
  tuner.attach(socket, keepalive, new DisposableStore());
  await advanceUntil(clock, 'a first survived silence', () => tuner.refreshIntervalMs !== undefined);
  socket.emit('error', Object.assign(new Error('read ETIMEDOUT'), { code: 'ETIMEDOUT' }));
  await clock.advance(10 * 60_000);
  assert.deepEqual(
    events.filter((e) => e.kind === 'learned'),
    [],
  );
  assert.equal(learner.learned?.survivedMs, undefined);
});

test('an inconclusive measurement (sshd answered none of the disposable flows) is tried again on the next connection', async (t) => {
  const learner = new IntervalLearner(memoryStore(), {}, () => 'n');
  learner.onMeasured(55_000, 60_000);
  let probes = 0;
  const tuner = new KeepaliveTuner(
    learner,
    () => 15_000,
    {},
    () => {
      probes++;
      return Promise.resolve('unknown');
    },
  );
  t.after(() => tuner.dispose());
  const events: TunerEvent[] = [];
  tuner.onDidTune((e) => events.push(e));
  const first = await tcpPair(t);
  const scope = new DisposableStore();
  tuner.attach(first.socket, first.keepalive, scope);
  tuner.relearn(); // a wake-up, with the path still down
  await until('the measurement ended', () => events.some((e) => e.kind === 'unavailable'));
  scope.dispose();
  const before = probes;
  const second = await tcpPair(t);
  tuner.attach(second.socket, second.keepalive, new DisposableStore());
  assert.ok(probes > before, 'measured again');
  assert.deepEqual(second.keepAlives, [[true, 49_000]], 'meanwhile the remembered refresh is used');
});

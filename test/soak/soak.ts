/**
 * The soak: router reboots after dark periods of random length (seeded, log-uniform between
 * the bounds: most outages short, some long, as on real networks) while a client streams
 * through -L, a second through -D, a -R forward serves and a shell prints a counter. After
 * every cycle: everything restored (each checked once, as a person would, no retries), then
 * the engine's process is counted (fds, active handles and timers, emitter listeners, heap
 * after a forced GC). The first cycle's counts are the baseline; a leak shows as growth.
 *
 * Used by `npm run soak` (test/soak/run.ts, 200 cycles) and the CI variant
 * (test/natlab/soak.test.ts, 20 short cycles).
 */
import { join } from 'node:path';
import { setupLab, httpPort, type Lab } from '../../tools/peers/natlabSshd';
import { seededRandom } from '../harness/seededRandom';
import { JsonEventProcess, type DriverEvent } from '../natlab/forwardDriverClient';
import { sleep } from '../natlab/lab';
import { clientsSource, echoServerSource } from './soakClients';
import type { ResourceCounts, SoakDriverConfig } from './soakDriver';

export interface SoakOptions {
  cycles: number;
  seed: number;
  minOutageSec: number;
  maxOutageSec: number;
  /** Forwards and shell on the session keeper (default) or on plain channels and a tmux/plain shell. */
  keeper: boolean;
  /** A cycle not restored within this long after the path heals counts as not restored. */
  restoreLimitMs?: number;
  log?: (line: string) => void;
  /** Write heap snapshots after cycle 2 and the last one here (to find what grew). */
  snapshotDir?: string;
}

export interface CycleResult {
  cycle: number;
  outageMs: number;
  restored: boolean;
  /** From the heal to session, streams and shell all working again. */
  restoreMs?: number;
  /** What was not restored, when not. */
  problem?: string;
  counts?: ResourceCounts;
}

export interface SoakResult {
  options: SoakOptions;
  cycles: CycleResult[];
  /** Errors seen by the streaming clients (connections that broke) and lines out of order. */
  streamErrors: Record<string, number>;
  outOfOrder: number;
  /** Shell counter values that never arrived (only the keeper promises none). */
  missedTicks: number;
}

const echoPort = 8101;
const localPort = 7001;
const socksPort = 7002;
const remotePort = 9001;
const remoteTargetPort = 8003;
const remoteBody = 'served through -R\n';

/** Outage lengths in ms, log-uniform in [min, max] s. */
export function outagePlan(o: Pick<SoakOptions, 'cycles' | 'seed' | 'minOutageSec' | 'maxOutageSec'>): number[] {
  const rand = seededRandom(o.seed);
  const lo = Math.log(o.minOutageSec);
  const hi = Math.log(o.maxOutageSec);
  return Array.from({ length: o.cycles }, () => Math.round(Math.exp(lo + (hi - lo) * rand()) * 1000));
}

interface StreamReport {
  stream: string;
  sent: number;
  echoed: number;
  errors: number;
  outOfOrder: number;
}

export async function runSoak(options: SoakOptions): Promise<SoakResult> {
  const log = options.log ?? (() => undefined);
  const restoreLimitMs = options.restoreLimitMs ?? 60_000;
  const lab = await setupLab(300);
  const children: JsonEventProcess[] = [];
  try {
    return await soakIn(lab, options, restoreLimitMs, log, children);
  } finally {
    for (const c of children.reverse()) await stopChild(c);
    await lab.dispose();
  }
}

async function soakIn(lab: Lab, options: SoakOptions, restoreLimitMs: number, log: (l: string) => void, children: JsonEventProcess[]): Promise<SoakResult> {
  const { natlab, sshd } = lab;
  const echo = new JsonEventProcess(natlab.spawn(natlab.serverNs, process.execPath, ['-e', echoServerSource(echoPort)], { stdio: ['ignore', 'pipe', 'pipe'] }));
  children.push(echo);
  await waitForLog(echo, 'ready', 5000);

  const config: SoakDriverConfig = {
    configFile: sshd.sshConfigPath,
    alias: sshd.alias,
    id: `soak${process.pid}${options.keeper ? 'k' : 'p'}`,
    keeper: options.keeper,
    local: `127.0.0.1:${localPort}:127.0.0.1:${echoPort}`,
    dynamic: `127.0.0.1:${socksPort}`,
    remote: `127.0.0.1:${remotePort}:127.0.0.1:${remoteTargetPort}`,
    // Without the keeper the -R port is sshd's, held by the dead connection's sshd until it
    // notices: the plain path needs the reclaim setting (remoteForwards.reclaimStale).
    reclaimRemote: !options.keeper,
  };
  const driver = new JsonEventProcess(
    natlab.spawn(natlab.clientNs, process.execPath, ['--expose-gc', join(__dirname, 'soakDriver.js'), JSON.stringify(config)], {
      stdio: ['pipe', 'pipe', 'pipe'],
    }),
  );
  children.push(driver);
  await driver.waitFor((e) => e.event === 'ready' || e.event === 'error', 30_000);
  const failedStart = driver.events.find((e) => e.event === 'error');
  if (failedStart) throw new Error(`the soak driver did not start: ${String(failedStart.message)}`);
  driver.child.stdin!.write(`${JSON.stringify({ op: 'write', data: 'i=0; while :; do i=$((i+1)); echo "tick $i"; sleep 0.5; done\n' })}\n`);

  const clients = new JsonEventProcess(
    natlab.spawn(natlab.clientNs, process.execPath, ['-e', clientsSource({ localPort, socksPort, echoPort, remoteTargetPort, body: remoteBody })], {
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  children.push(clients);
  await Promise.all(['L', 'D'].map((s) => clients.waitFor((e) => e.stream === s && Number(e.echoed) > 5, 20_000)));
  const ticks = new Ticks(driver);
  await ticks.waitFor(3, 0, 20_000);

  const plan = outagePlan(options);
  const cycles: CycleResult[] = [];
  for (let i = 0; i < plan.length; i++) {
    const result = await oneCycle(lab, driver, ticks, clients, i + 1, plan[i], restoreLimitMs);
    if (!result.restored) log(`cycle ${i + 1}: the engine's log:\n${driver.log.slice(-15).join('\n')}`);
    result.counts = await countsOf(driver);
    if (options.snapshotDir && (i === 1 || i === plan.length - 1)) {
      driver.child.stdin!.write(`${JSON.stringify({ op: 'snapshot', path: join(options.snapshotDir, `cycle-${i + 1}.heapsnapshot`) })}\n`);
      await driver.waitFor((e) => e.event === 'snapshot', 60_000, Date.now() - 1);
    }
    cycles.push(result);
    log(
      `cycle ${result.cycle}/${plan.length}: outage ${(result.outageMs / 1000).toFixed(1)} s, ${
        result.restored ? `restored in ${result.restoreMs} ms` : `NOT restored: ${result.problem}`
      }; fds ${result.counts.fds}, timers ${result.counts.timers}, listeners ${result.counts.listeners}, heap ${(result.counts.heapUsed / 2 ** 20).toFixed(1)} MiB`,
    );
  }

  const last = (s: string) => [...clients.events].reverse().find((e) => e.stream === s) as unknown as StreamReport;
  const seen = ticks.values;
  const missedTicks = seen.length ? seen[seen.length - 1] - seen[0] + 1 - new Set(seen).size : 0;
  return {
    options,
    cycles,
    streamErrors: { L: last('L').errors, D: last('D').errors },
    outOfOrder: last('L').outOfOrder + last('D').outOfOrder,
    missedTicks: options.keeper ? missedTicks : 0,
  };
}

async function oneCycle(
  lab: Lab,
  driver: JsonEventProcess,
  ticks: Ticks,
  clients: JsonEventProcess,
  cycle: number,
  outageMs: number,
  restoreLimitMs: number,
): Promise<CycleResult> {
  const { natlab } = lab;
  await natlab.outage();
  await sleep(outageMs);
  // The router comes back having forgotten every flow.
  await natlab.reboot();
  await natlab.heal();
  const healedAt = Date.now();
  const base = { cycle, outageMs };
  const deadline = healedAt + restoreLimitMs;
  try {
    const left = () => Math.max(1, deadline - Date.now());
    const lastTick = ticks.last();
    const echoedAtHeal = (s: string) => Number([...clients.events].reverse().find((e) => e.stream === s)?.echoed ?? 0);
    const [l0, d0] = [echoedAtHeal('L'), echoedAtHeal('D')];
    const lAt = (await clients.waitFor((e) => e.stream === 'L' && Number(e.echoed) > l0 + 2, left(), healedAt)).t;
    const dAt = (await clients.waitFor((e) => e.stream === 'D' && Number(e.echoed) > d0 + 2, left(), healedAt)).t;
    const tickAt = await ticks.waitFor(lastTick + 2, healedAt, left());
    // Restored is what the person sees: both streams and the shell moving again.
    const restoreMs = Math.max(lAt, dAt, tickAt) - healedAt;
    // The -R port is asked for again after a reconnect (on sshd, without the keeper): wait until
    // the forward says it is listening, as the tree would show, before anyone uses it.
    await remoteListening(driver, left());
    // Then one request through each forward, once, as a person would.
    const problem = await checkForwards(lab);
    if (problem) return { ...base, restored: false, problem };
    return { ...base, restored: true, restoreMs };
  } catch (err) {
    return { ...base, restored: false, problem: (err as Error).message.split('\n')[0] };
  }
}

async function remoteListening(driver: JsonEventProcess, timeoutMs: number): Promise<void> {
  const latest = () => [...driver.events].reverse().find((e) => e.event === 'forward' && e.kind === 'remote')?.state;
  try {
    await driver.waitFor(() => latest() === 'active', timeoutMs);
  } catch {
    throw new Error(`the -R forward did not say it listens again (last state ${String(latest())})`);
  }
}

/** In the client namespace: one line through the -L forward to the echo server, back within 10 s. */
const echoCheckSource = (port: number) => `
const s = require('net').connect(${port}, '127.0.0.1', () => s.write('check\\n'));
let got = '';
s.on('data', (d) => { got += d; if (got.endsWith('\\n')) { process.stdout.write(got); process.exit(0); } });
s.on('error', (e) => { console.error(e.message); process.exit(1); });
setTimeout(() => { console.error('no echo within 10 s'); process.exit(1); }, 10000);`;

/** One request through -L, -D and -R each; what failed, or undefined. */
async function checkForwards(lab: Lab): Promise<string | undefined> {
  const { natlab } = lab;
  const curl = (ns: string, args: string[]) => natlab.exec(ns, 'curl', ['-sS', '--max-time', '10', ...args], { timeoutMs: 15_000 });
  const checks: Array<[string, Promise<{ stdout: string; stderr: string; code: number }>, string]> = [
    ['-L', natlab.exec(natlab.clientNs, process.execPath, ['-e', echoCheckSource(localPort)], { timeoutMs: 15_000 }), 'check\n'],
    ['-D', curl(natlab.clientNs, ['--socks5-hostname', `127.0.0.1:${socksPort}`, `http://127.0.0.1:${httpPort}/`]), 'hello from the server side\n'],
    ['-R', curl(natlab.serverNs, [`http://127.0.0.1:${remotePort}/`]), remoteBody],
  ];
  for (const [name, pending, body] of checks) {
    const r = await pending;
    if (r.code !== 0 || r.stdout !== body) return `request through ${name} failed: curl exit ${r.code} ${r.stderr.trim()}`;
  }
  return undefined;
}

/** The shell's "tick N" lines, parsed as they arrive. */
class Ticks {
  readonly values: number[] = [];
  private parsed = 0;
  private tail = '';

  constructor(private readonly driver: JsonEventProcess) {}

  last(): number {
    this.update();
    return this.values.at(-1) ?? 0;
  }

  private update(): void {
    const events = this.driver.events;
    for (; this.parsed < events.length; this.parsed++) {
      const e = events[this.parsed];
      if (e.event !== 'data') continue;
      // Not line by line: tmux (the plain path's reattach) redraws with cursor movements.
      const text = this.tail + String(e.data);
      let end = 0;
      for (const m of text.matchAll(/tick (\d+)(?=\D)/g)) {
        this.values.push(Number(m[1]));
        end = m.index + m[0].length;
      }
      // Keep what may be the start of a split "tick N".
      this.tail = text.slice(Math.max(end, text.length - 16));
    }
  }

  /** Resolves with the arrival time of the data that took the counter to `atLeast`. */
  async waitFor(atLeast: number, since: number, timeoutMs: number): Promise<number> {
    try {
      const e = await this.driver.waitFor((x) => x.event === 'data' && x.t >= since && this.last() >= atLeast, timeoutMs, since);
      return e.t;
    } catch {
      throw new Error(`the shell's counter did not reach ${atLeast} (last ${this.last()})`);
    }
  }
}

/** Counts at a quiet moment: the least of three samples, so a request in flight is not a leak. */
async function countsOf(driver: JsonEventProcess): Promise<ResourceCounts> {
  const samples: ResourceCounts[] = [];
  for (let i = 0; i < 3; i++) {
    const since = Date.now();
    driver.child.stdin!.write(`${JSON.stringify({ op: 'stats' })}\n`);
    const e = await driver.waitFor((x) => x.event === 'stats', 10_000, since);
    samples.push(e as unknown as ResourceCounts);
    await sleep(300);
  }
  const kinds = new Set(samples.flatMap((s) => Object.keys(s.resources)));
  const resources: Record<string, number> = {};
  for (const k of kinds) resources[k] = Math.min(...samples.map((s) => s.resources[k] ?? 0));
  const least = (f: (s: ResourceCounts) => number) => Math.min(...samples.map(f));
  const quietest = samples.reduce((a, b) => (b.timers < a.timers ? b : a));
  return {
    fds: least((s) => s.fds),
    resources,
    timers: least((s) => s.timers),
    timerKinds: quietest.timerKinds,
    listeners: least((s) => s.listeners),
    heapUsed: least((s) => s.heapUsed),
    rss: least((s) => s.rss),
  };
}

async function waitForLog(p: JsonEventProcess, text: string, timeoutMs: number): Promise<void> {
  const started = Date.now();
  while (!p.log.some((l) => l.includes(text))) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for "${text}"`);
    await sleep(50);
  }
}

async function stopChild(p: JsonEventProcess): Promise<void> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return;
  p.child.stdin?.end();
  await new Promise<void>((resolve) => {
    const timer = setTimeout(() => {
      p.child.kill('SIGKILL');
      resolve();
    }, 5000);
    p.child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    if (!p.child.stdin) p.child.kill('SIGTERM');
  });
}

export type { DriverEvent };

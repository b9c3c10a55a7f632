/**
 * Lossy and slow links, no false alarms (issue 13): one natlab per line condition, and in it,
 * side by side under the same line, ssh-keepalive (with the session keeper, the default, and
 * with --no-keeper) and OpenSSH `ssh -o ServerAliveInterval=15 -o ServerAliveCountMax=3`, each
 * once idle and once active (a page fetched through its -L every 2 s). The path never dies, so
 * every reconnect is one that was not needed: for ssh-keepalive a `lost` or a `restored` event
 * (a make-before-break takeover is a reconnect too, though it cuts nothing), for ssh an exit
 * (restarted at once, as autossh would). Also the real drop: an outage under 15 % loss, and
 * how long after a user action ssh-keepalive says so.
 *
 * Used by test/natlab/lossyLinks.test.ts (2 minutes) and `npm run lossy -- --minutes N`.
 */
import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { applyLine, lineLabel, type LineCondition } from '../../tools/peers/lossyLine';
import { httpPort, setupLab, type Lab } from '../../tools/peers/natlabSshd';
import { fetchThrough, KeepaliveCli, sleep, timeToWorkingForward } from './lab';

export const conditions: LineCondition[] = [
  { kind: 'loss', probability: 0.05 },
  { kind: 'loss', probability: 0.15 },
  { kind: 'delay', oneWayMs: 300, jitterMs: 100 },
  { kind: 'bufferbloat', rate: '1mbit', queueLatency: '2s' },
];

export type ClientKind = 'ssh-keepalive' | 'ssh-keepalive --no-keeper' | 'ssh';
export const clientKinds: ClientKind[] = ['ssh-keepalive', 'ssh-keepalive --no-keeper', 'ssh'];

export interface ClientTally {
  client: ClientKind;
  mode: 'idle' | 'active';
  /** Reconnects while the path never died. */
  reconnects: number;
  /** ssh-keepalive: `checking` events (a missed demand probe, settled without a reconnect or not). */
  doubts: number;
  fetchOk: number;
  fetchFailed: number;
  /** Why each reconnect happened (the event's reason, ssh's last words). */
  reasons: string[];
}

export interface ConditionResult {
  condition: string;
  minutes: number;
  tallies: ClientTally[];
}

/** The same liveness settings for everyone: OpenSSH's ServerAlive 15 s x 3. */
const serverAlive = ['-o', 'ServerAliveInterval=15', '-o', 'ServerAliveCountMax=3'];
/** A sink in the server's namespace for the bufferbloat condition's bulk uploads. */
const sinkPort = 9000;
const sinkSource = `require('net').createServer((s) => { s.on('data', () => {}); s.on('error', () => {}); })
  .listen(${sinkPort}, '127.0.0.1', () => console.log('sink ready'));`;
/** Writes to a local forward as fast as it takes, reconnecting if cut: the bulk upload. */
const uploaderSource = (port: number) => `const net = require('net'); const chunk = Buffer.alloc(64 * 1024, 97);
function go() { const s = net.connect(${port}, '127.0.0.1'); const pump = () => { while (s.write(chunk)); };
  s.on('connect', pump); s.on('drain', pump); s.on('error', () => {}); s.on('close', () => setTimeout(go, 1000)); }
go();`;

/** OpenSSH's ssh with one -L (and more forwards); restarted when it exits, each exit counted with its last words. */
class SshClient {
  exits: string[] = [];
  private child: ChildProcess | undefined;
  private stopped = false;
  private lastLines: string[] = [];

  constructor(
    private readonly lab: Lab,
    private readonly forwards: string[],
  ) {
    this.start();
  }

  private start(): void {
    const { natlab, sshd } = this.lab;
    const args = ['-F', sshd.sshConfigPath, '-N', ...serverAlive, '-o', 'BatchMode=yes', '-o', 'ExitOnForwardFailure=yes', '-o', 'ConnectTimeout=30'];
    for (const f of this.forwards) args.push('-L', f);
    const child = (this.child = natlab.spawn(natlab.clientNs, 'ssh', [...args, sshd.alias], { stdio: ['ignore', 'ignore', 'pipe'] }));
    this.lastLines = [];
    createInterface({ input: child.stderr! }).on('line', (l) => this.lastLines.push(l));
    child.once('exit', (code, signal) => {
      if (this.stopped) return;
      this.exits.push(`exit ${code ?? signal}: ${this.lastLines.slice(-2).join(' | ') || '(nothing said)'}`);
      setTimeout(() => !this.stopped && this.start(), 500);
    });
  }

  stop(): void {
    this.stopped = true;
    this.child?.kill('SIGTERM');
  }
}

interface Running {
  client: ClientKind;
  mode: 'idle' | 'active';
  port: number;
  cli?: KeepaliveCli;
  ssh?: SshClient;
  fetchOk: number;
  fetchFailed: number;
}

/** ssh-keepalive's reconnects among its events: every `restored`, plus a `lost` still unrestored at the end. */
function keepaliveReconnects(cli: KeepaliveCli, since: number): { count: number; doubts: number; reasons: string[] } {
  const events = cli.events.filter((e) => e.at >= since);
  let count = 0;
  let down = false;
  const reasons: string[] = [];
  let lastReason = '';
  for (const e of events) {
    if (e.event === 'checking') lastReason = String(e.reason);
    if (e.event === 'lost') {
      down = true;
      lastReason = String(e.reason);
      reasons.push(`lost: ${lastReason}`);
    }
    if (e.event === 'restored') {
      count++;
      if (!down) reasons.push(`taken over (${lastReason})`);
      down = false;
    }
  }
  return { count: count + (down ? 1 : 0), doubts: events.filter((e) => e.event === 'checking').length, reasons };
}

/** Runs one condition for `minutes` and tallies every client. */
export async function runCondition(condition: LineCondition, minutes: number, log: (line: string) => void = () => undefined): Promise<ConditionResult> {
  const label = lineLabel(condition);
  // The NAT's idle timeout is not under test here: an hour, far above every keepalive.
  const lab = await setupLab(3600);
  const running: Running[] = [];
  try {
    const { natlab } = lab;
    const bulk = condition.kind === 'bufferbloat';
    if (bulk) {
      const sink = natlab.spawn(natlab.serverNs, process.execPath, ['-e', sinkSource]);
      await new Promise<void>((resolve) => sink.stdout!.once('data', () => resolve()));
    }
    await applyLine(natlab, condition);
    let port = 18100;
    for (const client of clientKinds) {
      for (const mode of ['idle', 'active'] as const) {
        const p = port;
        port += 2;
        const forwards = [`127.0.0.1:${p}:127.0.0.1:${httpPort}`];
        // The bulk upload rides the active client's own connection: its probes queue behind it.
        if (bulk && mode === 'active') forwards.push(`127.0.0.1:${p + 1}:127.0.0.1:${sinkPort}`);
        const r: Running = { client, mode, port: p, fetchOk: 0, fetchFailed: 0 };
        if (client === 'ssh') r.ssh = new SshClient(lab, forwards);
        else {
          const extra = [...serverAlive, ...forwards.slice(1).flatMap((f) => ['-L', f])];
          // SKA_LOSSY_VERBOSE=1: ssh-keepalive's -v lines go to the log (why a probe was sent, missed).
          if (process.env.SKA_LOSSY_VERBOSE) extra.unshift('-vv');
          if (client === 'ssh-keepalive --no-keeper') extra.unshift('--no-keeper');
          r.cli = new KeepaliveCli(lab, p, extra);
        }
        running.push(r);
      }
    }
    // Every forward works once (the connections are up under the line) before the clock starts.
    const upWithin = 90_000;
    const t0 = Date.now();
    await Promise.all(
      running.map(async (r) => {
        const ms = await timeToWorkingForward(natlab, r.port, t0, upWithin, 10);
        if (ms === undefined) throw new Error(`${label}: ${r.client} (${r.mode}) forward did not work within ${upWithin} ms`);
      }),
    );
    if (bulk) for (const r of running) if (r.mode === 'active') natlab.spawn(natlab.clientNs, process.execPath, ['-e', uploaderSource(r.port + 1)]);
    log(`${label}: all up after ${Date.now() - t0} ms; running ${minutes} min`);
    const since = Date.now();
    const end = since + minutes * 60_000;
    await Promise.all(
      running
        .filter((r) => r.mode === 'active')
        .map(async (r) => {
          while (Date.now() < end) {
            const started = Date.now();
            const f = await fetchThrough(natlab, r.port, 10);
            if (f.ok) r.fetchOk++;
            else r.fetchFailed++;
            await sleep(Math.max(0, Math.min(2000 - (Date.now() - started), end - Date.now())));
          }
        }),
    );
    await sleep(Math.max(0, end - Date.now()));
    if (process.env.SKA_LOSSY_VERBOSE)
      for (const r of running)
        r.cli?.stderr.forEach((l, i) => log(`${label} ${r.client} (${r.mode}) +${((r.cli!.stderrAt[i] - since) / 1000).toFixed(1)} s: ${l}`));
    const tallies = running.map((r): ClientTally => {
      const base = { client: r.client, mode: r.mode, fetchOk: r.fetchOk, fetchFailed: r.fetchFailed };
      if (r.cli) {
        const k = keepaliveReconnects(r.cli, since);
        return { ...base, reconnects: k.count, doubts: k.doubts, reasons: k.reasons };
      }
      const exits = r.ssh!.exits;
      return { ...base, reconnects: exits.length, doubts: 0, reasons: exits };
    });
    return { condition: label, minutes, tallies };
  } finally {
    for (const r of running) r.ssh?.stop();
    await Promise.all(running.map((r) => r.cli?.stop() ?? Promise.resolve()));
    await lab.dispose();
  }
}

export interface DropResult {
  client: ClientKind;
  /** ms from the user action to the first word that the path is in doubt or lost (`checking`/`lost`). */
  noticedMs: number[];
  /** ms from the user action to `lost`. */
  lostMs: number[];
}

/**
 * Real drops under 15 % loss: the path is quiet, goes dark (an outage at the router), and a
 * user action follows at once (a fetch through the forward). Measured from that action.
 */
export async function runRealDrops(drops: number, log: (line: string) => void = () => undefined): Promise<DropResult[]> {
  const lab = await setupLab(3600);
  const clis: Array<{ client: ClientKind; cli: KeepaliveCli; port: number }> = [];
  try {
    const { natlab } = lab;
    await applyLine(natlab, { kind: 'loss', probability: 0.15 });
    const verbose = process.env.SKA_LOSSY_VERBOSE ? ['-vv'] : [];
    clis.push({ client: 'ssh-keepalive', cli: new KeepaliveCli(lab, 18200, [...verbose, ...serverAlive]), port: 18200 });
    clis.push({ client: 'ssh-keepalive --no-keeper', cli: new KeepaliveCli(lab, 18202, [...verbose, '--no-keeper', ...serverAlive]), port: 18202 });
    const results: DropResult[] = clis.map((c) => ({ client: c.client, noticedMs: [], lostMs: [] }));
    for (let i = 0; i < drops; i++) {
      const ready = Date.now();
      for (const c of clis) {
        if ((await timeToWorkingForward(natlab, c.port, ready, 90_000, 10)) === undefined)
          throw new Error(`${c.client}: forward not working before drop ${i + 1}`);
      }
      await sleep(3000); // quiet: the action finds a path that was silent for a while
      await natlab.outage();
      const actionAt = Date.now();
      try {
        await Promise.all(
          clis.map(async (c, j) => {
            void fetchThrough(natlab, c.port, 3);
            const noticed = await c.cli.waitFor((e) => e.event === 'checking' || e.event === 'lost', 30_000, actionAt);
            const lost = await c.cli.waitFor((e) => e.event === 'lost', 60_000, actionAt);
            results[j].noticedMs.push(noticed.at - actionAt);
            results[j].lostMs.push(lost.at - actionAt);
            log(`drop ${i + 1}: ${c.client} ${noticed.event} after ${noticed.at - actionAt} ms, lost after ${lost.at - actionAt} ms (${String(lost.reason)})`);
          }),
        );
      } finally {
        await natlab.heal();
      }
      await Promise.all(clis.map((c) => c.cli.waitFor((e) => e.event === 'restored', 90_000, actionAt)));
    }
    return results;
  } finally {
    if (process.env.SKA_LOSSY_VERBOSE) for (const c of clis) for (const l of c.cli.stderr) log(`drops ${c.client}: ${l}`);
    await Promise.all(clis.map((c) => c.cli.stop()));
    await lab.dispose();
  }
}

/** The table `npm run lossy` prints (markdown). */
export function lossyTable(results: ConditionResult[], drops: DropResult[]): string {
  const rows = [
    '| condition | minutes | client | false reconnects idle / active | doubts (checking) idle / active | fetches ok / failed |',
    '|---|---|---|---|---|---|',
  ];
  for (const r of results) {
    for (const client of clientKinds) {
      const idle = r.tallies.find((t) => t.client === client && t.mode === 'idle')!;
      const active = r.tallies.find((t) => t.client === client && t.mode === 'active')!;
      const doubts = client === 'ssh' ? '–' : `${idle.doubts} / ${active.doubts}`;
      rows.push(
        `| ${r.condition} | ${r.minutes} | ${client} | ${idle.reconnects} / ${active.reconnects} | ${doubts} | ${active.fetchOk} / ${active.fetchFailed} |`,
      );
    }
  }
  const lines = [rows.join('\n')];
  if (drops.length > 0) {
    const drop = ['', '| real drop under 15% loss | drops | said (checking or lost) after the user action, ms | lost after, ms |', '|---|---|---|---|'];
    for (const d of drops) drop.push(`| ${d.client} | ${d.noticedMs.length} | ${d.noticedMs.join(', ')} | ${d.lostMs.join(', ')} |`);
    lines.push(drop.join('\n'));
  }
  return lines.join('\n');
}

/**
 * bench/restore: ssh-keepalive vs `autossh -M0` through the natlab (a real NAT in network
 * namespaces), same ServerAliveInterval/ServerAliveCountMax for both, for -L, -R and -D.
 * Prints, per tool and forward kind, the median over several runs of: survived idle (3x
 * NAT timeout), seconds from heal to a working forward after outages of several lengths,
 * seconds from router reboot to a working forward. Each scenario starts fresh processes
 * (one per forward kind), so that one tool's restart backoff from an earlier scenario
 * does not leak into the next. Needs root (see README).
 * Usage: bench/restore [--runs N] [--outages 10,30,70] [--limit SECONDS] [--one-process]
 */
import type { ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { natlabAvailable, type Natlab } from '../tools/peers/natlab';
import { httpPort, type Lab, setupLab } from '../tools/peers/natlabSshd';
import { sshdAvailability } from '../tools/peers/sshd';
import { serverAlive, startNatlabClient } from './lib/natlabClients';

const natTimeoutSec = 4;
const clientHttpPort = 8001;
const ports = { L: 18090, D: 18091, R: 18092 };
type Kind = keyof typeof ports;
const kinds: Kind[] = ['L', 'R', 'D'];

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}
const runs = Number(arg('runs', '3'));
const outages = arg('outages', '10,30,70').split(',').map(Number);
const limitMs = Number(arg('limit', '60')) * 1000;

const forwardArgs: Record<Kind, string[]> = {
  L: ['-L', `127.0.0.1:${ports.L}:127.0.0.1:${httpPort}`],
  R: ['-R', `127.0.0.1:${ports.R}:127.0.0.1:${clientHttpPort}`],
  D: ['-D', `127.0.0.1:${ports.D}`],
};
interface Tool {
  name: string;
  start(lab: Lab, kind: Kind): ChildProcess;
}

const tools: Tool[] = [
  {
    name: 'ssh-keepalive',
    // A stale -R listener is held by sshd for hours without ClientAliveInterval; reclaim is opt-in.
    start: (lab, kind) => startNatlabClient(lab, 'ssh-keepalive', [...forwardArgs[kind], ...(kind === 'R' ? ['--reclaim-remote-forwards'] : [])]),
  },
  { name: 'autossh -M0', start: (lab, kind) => startNatlabClient(lab, 'autossh -M0', forwardArgs[kind]) },
];

/** One request through a forward of `kind`; true when the far side answered. */
async function probe(natlab: Natlab, kind: Kind, timeoutSec: number): Promise<boolean> {
  const curl = ['-s', '--max-time', String(timeoutSec)];
  const opts = { timeoutMs: timeoutSec * 1000 + 2000 };
  const r =
    kind === 'L'
      ? await natlab.exec(natlab.clientNs, 'curl', [...curl, `http://127.0.0.1:${ports.L}/`], opts)
      : kind === 'D'
        ? await natlab.exec(natlab.clientNs, 'curl', [...curl, '--socks5-hostname', `127.0.0.1:${ports.D}`, `http://127.0.0.1:${httpPort}/`], opts)
        : await natlab.exec(natlab.serverNs, 'curl', [...curl, `http://127.0.0.1:${ports.R}/`], opts);
  return r.code === 0 && /hello from the (server|client) side/.test(r.stdout);
}

/** ms from `since` until a request through `kind` succeeds, or undefined past the limit. */
async function timeToWorking(natlab: Natlab, kind: Kind, since: number, attemptSec = 2): Promise<number | undefined> {
  while (Date.now() - since < limitMs) {
    if (await probe(natlab, kind, attemptSec)) return Date.now() - since;
    await sleep(100);
  }
  return undefined;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const fmt = (xs: Array<number | undefined>) => {
  const failed = xs.filter((x) => x === undefined).length;
  if (failed * 2 > xs.length) return `> ${limitMs / 1000} s`;
  const m = median(xs.map((x) => x ?? limitMs)) / 1000;
  return `${m.toFixed(1)} s${failed ? ` (${failed} > ${limitMs / 1000} s)` : ''}`;
};

type Scenario = { name: string; run(lab: Lab): Promise<Record<Kind, number | undefined> | Record<Kind, boolean>> };

async function measureAll(lab: Lab, since: number, attemptSec?: number): Promise<Record<Kind, number | undefined>> {
  const [L, R, D] = await Promise.all(kinds.map((k) => timeToWorking(lab.natlab, k, since, attemptSec)));
  return { L, R, D };
}

const scenarios: Scenario[] = [
  {
    name: `survived idle ${natTimeoutSec * 3} s (3x NAT timeout)`,
    run: async (lab) => {
      await sleep(natTimeoutSec * 3 * 1000);
      const [L, R, D] = await Promise.all(kinds.map((k) => probe(lab.natlab, k, 5)));
      return { L, R, D };
    },
  },
  ...outages.map((outage) => ({
    name: `heal -> working, outage ${outage} s`,
    run: async (lab: Lab) => {
      await lab.natlab.outage();
      await sleep(outage * 1000);
      await lab.natlab.heal();
      return measureAll(lab, Date.now());
    },
  })),
  {
    name: 'router reboot -> working',
    run: async (lab) => {
      await sleep(3000);
      await lab.natlab.reboot();
      return measureAll(lab, Date.now(), 30);
    },
  },
];

function startAll(lab: Lab, tool: Tool): ChildProcess[] {
  const children = kinds.map((k) => tool.start(lab, k));
  children.forEach((c) => {
    c.stdout?.resume();
    c.stderr?.resume();
  });
  return children;
}

async function stopAll(children: ChildProcess[]): Promise<void> {
  for (const c of children) c.kill('SIGTERM');
  await sleep(500);
}

/** Runs one scenario `runs` times against tool processes that are already running. */
async function runScenario(lab: Lab, tool: Tool, scenario: Scenario): Promise<Record<Kind, string>> {
  const up = await measureAll(lab, Date.now());
  const results: Array<Record<Kind, number | undefined> | Record<Kind, boolean>> = [];
  for (let i = 0; i < runs; i++) {
    // Every kind must work before a run starts, or the run measures the previous one.
    await measureAll(lab, Date.now());
    results.push(await scenario.run(lab));
    process.stderr.write(
      `  ${tool.name} | ${scenario.name} | run ${i + 1}: ${JSON.stringify(results.at(-1))}${i === 0 ? ` (up: ${JSON.stringify(up)})` : ''}\n`,
    );
  }
  const out = {} as Record<Kind, string>;
  for (const k of kinds) {
    const xs = results.map((r) => r[k]);
    out[k] = typeof xs[0] === 'boolean' ? `${xs.filter(Boolean).length}/${xs.length}` : fmt(xs as Array<number | undefined>);
  }
  return out;
}

/** A fresh lab with an HTTP server on the client side (the -R target); disposed by the caller. */
async function labWithClientHttp(): Promise<{ lab: Lab; dispose(): Promise<void> }> {
  const lab = await setupLab(natTimeoutSec);
  const http = lab.natlab.spawn(lab.natlab.clientNs, process.execPath, [
    '-e',
    `require('http').createServer((q, s) => s.end('hello from the client side\\n')).listen(${clientHttpPort}, '127.0.0.1')`,
  ]);
  return {
    lab,
    dispose: async () => {
      http.kill();
      await lab.dispose();
    },
  };
}

async function main(): Promise<void> {
  for (const check of [natlabAvailable(), sshdAvailability()]) {
    if (!check.ok) {
      process.stderr.write(`bench/restore cannot run here: ${check.reason}\n`);
      process.exit(2);
    }
  }
  process.stderr.write(
    `natlab: NAT idle timeout ${natTimeoutSec} s; both tools: ServerAliveInterval=${serverAlive.interval} ServerAliveCountMax=${serverAlive.countMax}; ${runs} runs; medians; limit ${limitMs / 1000} s; ${process.argv.includes('--one-process') ? 'one long-lived process per tool through all scenarios' : 'fresh processes per scenario'}\n`,
  );
  // Default: fresh processes (and a fresh lab) per scenario, so one tool's restart backoff
  // from an earlier scenario does not leak into the next. --one-process: one long-lived
  // process per tool and kind goes through every scenario in turn, as on a bad day.
  const oneProcess = process.argv.includes('--one-process');
  const table: string[][] = scenarios.map((sc) => [sc.name]);
  for (const tool of tools) {
    if (oneProcess) {
      const { lab, dispose } = await labWithClientHttp();
      const children = startAll(lab, tool);
      try {
        for (const [si, scenario] of scenarios.entries()) {
          const r = await runScenario(lab, tool, scenario);
          table[si].push(...kinds.map((k) => r[k]));
        }
      } finally {
        await stopAll(children);
        await dispose();
      }
      continue;
    }
    for (const [si, scenario] of scenarios.entries()) {
      const { lab, dispose } = await labWithClientHttp();
      const children = startAll(lab, tool);
      try {
        const r = await runScenario(lab, tool, scenario);
        table[si].push(...kinds.map((k) => r[k]));
      } finally {
        await stopAll(children);
        await dispose();
      }
    }
  }
  const header = ['scenario (median)', 'forward', ...tools.map((t) => t.name)];
  const rows = table.flatMap((r) => kinds.map((k, ki) => [r[0], `-${k}`, ...tools.map((_, ti) => r[1 + ti * kinds.length + ki])]));
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
  console.log(line(header));
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const r of rows) console.log(line(r));
  console.log(
    `\n-R for ssh-keepalive runs with --reclaim-remote-forwards (opt-in): the natlab's sshd has no ClientAliveInterval, so it keeps the old listener until reclaimed.`,
  );
}

void main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`bench/restore failed: ${(err as Error).stack ?? err}\n`);
    process.exit(1);
  },
);

/**
 * bench/restore: ssh-keepalive vs `autossh -M0` through the natlab (a real NAT in network
 * namespaces), same ServerAliveInterval/ServerAliveCountMax for both. Prints, per tool, the
 * median over several runs of: survived idle (3x NAT timeout), seconds from heal to a
 * working forward after outages of several lengths, seconds from router reboot to a
 * working forward. Needs root (see README). Usage: bench/restore [--runs N] [--outages 10,30,70]
 */
import type { ChildProcess } from 'node:child_process';
import { natlabAvailable } from '../test/harness/natlab';
import { sshdAvailability } from '../test/harness/sshd';
import { cliPath, fetchThrough, httpPort, type Lab, setupLab, sleep, timeToWorkingForward } from '../test/natlab/lab';

const natTimeoutSec = 4;
const interval = 2;
const countMax = 3;
const port = 18090;

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}
const runs = Number(arg('runs', '3'));
const outages = arg('outages', '10,30,70').split(',').map(Number);

interface Tool {
  name: string;
  start(lab: Lab): ChildProcess;
}

const common = ['-o', `ServerAliveInterval=${interval}`, '-o', `ServerAliveCountMax=${countMax}`, '-o', 'ConnectTimeout=10', '-o', 'BatchMode=yes', '-o', 'ExitOnForwardFailure=yes'];
const forward = ['-L', `127.0.0.1:${port}:127.0.0.1:${httpPort}`];

const tools: Tool[] = [
  {
    name: 'ssh-keepalive',
    start: (lab) => lab.natlab.spawn(lab.natlab.clientNs, process.execPath, [cliPath, '-F', lab.sshd.sshConfigPath, '-N', ...forward, ...common, lab.sshd.alias]),
  },
  {
    name: 'autossh -M0',
    start: (lab) =>
      lab.natlab.spawn(lab.natlab.clientNs, 'autossh', ['-M', '0', '-F', lab.sshd.sshConfigPath, '-N', ...forward, ...common, lab.sshd.alias], {
        env: { ...process.env, AUTOSSH_GATETIME: '0' },
      }),
  },
];

const median = (xs: number[]) => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const limitMs = 180_000;

async function measure(tool: Tool): Promise<Map<string, string>> {
  const lab = await setupLab(natTimeoutSec);
  const row = new Map<string, string>();
  const child = tool.start(lab);
  child.stderr?.resume();
  child.stdout?.resume();
  try {
    const up = await timeToWorkingForward(lab.natlab, port, Date.now(), 30_000);
    if (up === undefined) throw new Error(`${tool.name} never forwarded`);
    let survived = 0;
    for (let i = 0; i < runs; i++) {
      await sleep(natTimeoutSec * 3 * 1000);
      if ((await fetchThrough(lab.natlab, port, 5)).ok) survived++;
      else await timeToWorkingForward(lab.natlab, port, Date.now(), limitMs);
    }
    row.set(`survived idle ${natTimeoutSec * 3} s (3x NAT timeout)`, `${survived}/${runs}`);
    for (const outage of outages) {
      const times: number[] = [];
      for (let i = 0; i < runs; i++) {
        await lab.natlab.outage();
        await sleep(outage * 1000);
        await lab.natlab.heal();
        const ms = await timeToWorkingForward(lab.natlab, port, Date.now(), limitMs);
        times.push(ms ?? limitMs);
        process.stderr.write(`  ${tool.name}: outage ${outage} s -> ${ms} ms\n`);
        await sleep(2000);
      }
      row.set(`heal -> working forward, outage ${outage} s`, `${(median(times) / 1000).toFixed(1)} s`);
    }
    const reboots: number[] = [];
    for (let i = 0; i < runs; i++) {
      await sleep(3000);
      await lab.natlab.reboot();
      const ms = await timeToWorkingForward(lab.natlab, port, Date.now(), limitMs, 30);
      reboots.push(ms ?? limitMs);
      process.stderr.write(`  ${tool.name}: reboot -> ${ms} ms\n`);
    }
    row.set('router reboot -> working forward', `${(median(reboots) / 1000).toFixed(1)} s`);
  } finally {
    child.kill('SIGTERM');
    await lab.dispose();
  }
  return row;
}

async function main(): Promise<void> {
  for (const check of [natlabAvailable(), sshdAvailability()]) {
    if (!check.ok) {
      process.stderr.write(`bench/restore cannot run here: ${check.reason}\n`);
      process.exit(2);
    }
  }
  process.stderr.write(`natlab: NAT idle timeout ${natTimeoutSec} s; both tools: ServerAliveInterval=${interval} ServerAliveCountMax=${countMax}; ${runs} runs each; medians\n`);
  const rows: Array<Map<string, string>> = [];
  for (const tool of tools) {
    process.stderr.write(`measuring ${tool.name}...\n`);
    rows.push(await measure(tool));
  }
  const keys = [...rows[0].keys()];
  const w0 = Math.max(...keys.map((k) => k.length), 8);
  const widths = tools.map((t) => Math.max(t.name.length, 8));
  const line = (cells: string[]) => `| ${cells[0].padEnd(w0)} | ${cells.slice(1).map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
  console.log(line(['scenario (median)', ...tools.map((t) => t.name)]));
  console.log(`|${'-'.repeat(w0 + 2)}|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const k of keys) console.log(line([k, ...rows.map((r) => r.get(k) ?? '-')]));
}

void main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`bench/restore failed: ${(err as Error).stack ?? err}\n`);
    process.exit(1);
  },
);

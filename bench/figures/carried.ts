import type { ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { sleep, within } from '../../test/harness/bounded';
import { natlabAvailable } from '../../tools/peers/natlab';
import { setupLab, type Lab } from '../../tools/peers/natlabSshd';
import { sshdAvailability } from '../../tools/peers/sshd';
import { startNatlabClient, type NatlabClient } from '../lib/natlabClients';
import { median } from '../lib/stats';
import type { Row } from '../lib/table';
import type { TransferResult } from '../lib/transferPeer';

const MiB = 1024 * 1024;
const transfers = 20;
const size = 12 * MiB;
/** Per transfer: 20 of them make 20 MiB/s through the client, about 12 s each when nothing happens. */
const bytesPerSec = 1 * MiB;
/** The fault comes once every transfer has this much: all 20 are mid-flight. */
const armBytes = 2 * MiB;
const outageSec = 30;
/** How long after the fault ends the transfers may take to finish (or be cut). */
const settleMs = 120_000;
const targetPort = 9100;
const localPort = 18100;
const peer = path.join(__dirname, '..', 'lib', 'transferPeer.js');

export const carriedClients: NatlabClient[] = ['ssh-keepalive', 'ssh-keepalive --no-keeper', 'autossh -M0', 'ssh'];

const faults: Record<string, (lab: Lab) => Promise<void>> = {
  'router reboot': (lab) => lab.natlab.reboot(),
  [`${outageSec} s outage`]: async (lab) => {
    await lab.natlab.outage();
    await sleep(outageSec * 1000);
    await lab.natlab.heal();
  },
};

/** The JSON lines a transfer peer prints, as they come. */
function events(child: ChildProcess): (name: string, timeoutMs: number) => Promise<Record<string, unknown>> {
  const seen: Array<Record<string, unknown>> = [];
  const waiters = new Set<() => void>();
  createInterface({ input: child.stdout! }).on('line', (line) => {
    try {
      seen.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      return;
    }
    for (const w of [...waiters]) w();
  });
  return (name, timeoutMs) => {
    const found = new Promise<Record<string, unknown>>((resolve, reject) => {
      const check = () => {
        const e = seen.find((x) => x.event === name || x.event === 'error');
        if (!e) return;
        waiters.delete(check);
        if (e.event === 'error') reject(new Error(`transfer peer: ${String(e.message)}`));
        else resolve(e);
      };
      waiters.add(check);
      check();
    });
    return within(found, timeoutMs, `the transfer peer's "${name}"`);
  };
}

/** One client, one fault, in a fresh lab: the 20 transfers' results and the client's last words. */
async function runOnce(client: NatlabClient, fault: (lab: Lab) => Promise<void>): Promise<{ results: TransferResult[]; faultAt: number; stderr: string[] }> {
  const lab = await setupLab(4);
  const stderr: string[] = [];
  try {
    const server = lab.natlab.spawn(lab.natlab.serverNs, process.execPath, [peer, 'serve', String(targetPort), String(bytesPerSec)]);
    await events(server)('ready', 10_000);
    const c = startNatlabClient(lab, client, ['-L', `127.0.0.1:${localPort}:127.0.0.1:${targetPort}`]);
    c.stdout!.resume();
    createInterface({ input: c.stderr! }).on('line', (l) => stderr.push(l));
    const fetcher = lab.natlab.spawn(lab.natlab.clientNs, process.execPath, [
      peer,
      'fetch',
      String(localPort),
      String(transfers),
      String(size),
      String(armBytes),
    ]);
    const next = events(fetcher);
    await next('armed', 90_000);
    const faultAt = Date.now();
    await fault(lab);
    try {
      const done = await next('done', settleMs);
      return { results: done.results as TransferResult[], faultAt, stderr };
    } catch {
      // Still running past the limit: the fetcher reports those as "open".
      fetcher.stdin!.end();
      const done = await next('done', 10_000);
      return { results: done.results as TransferResult[], faultAt, stderr };
    }
  } finally {
    await lab.dispose();
  }
}

/**
 * "20/20 (last done 17 s after the fault began)", or "0/20: 20 FIN after partial data
 * (median 2.0 of 12 MiB, 7 s after the fault began)".
 */
function describe(results: TransferResult[], faultAt: number): string {
  const sinceFault = (rs: TransferResult[], pick: (xs: number[]) => number) => ((pick(rs.map((r) => r.endedAt)) - faultAt) / 1000).toFixed(0);
  const whole = results.filter((r) => r.intact);
  const rest = results.filter((r) => !r.intact);
  const intact = `${whole.length}/${results.length}`;
  if (rest.length === 0) return `${intact} (last done ${sinceFault(whole, (xs) => Math.max(...xs))} s after the fault began)`;
  const kinds = new Map<string, number>();
  for (const r of rest) {
    const kind =
      r.ending === 'end'
        ? r.bytes < size
          ? 'FIN after partial data'
          : 'FIN, wrong bytes'
        : r.ending === 'ECONNRESET'
          ? 'RST'
          : r.ending === 'open'
            ? 'still open'
            : r.ending;
    kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
  }
  const how = [...kinds].map(([k, n]) => `${n} ${k}`).join(', ');
  const got = median(rest.map((r) => r.bytes)) / MiB;
  return `${intact}: ${how} (median ${got.toFixed(1)} of ${size / MiB} MiB, ${sinceFault(rest, median)} s after the fault began)`;
}

/**
 * The share of 20 in-flight -L transfers that complete intact across a router reboot and
 * across a 30 s outage, for ssh-keepalive with and without its session keeper, autossh -M0 and
 * ssh -L, through the natlab (root). Rows: ssh-keepalive (keeper) against ssh -L; the full
 * four-client table goes to stderr.
 */
export async function carriedThrough(): Promise<Row[]> {
  for (const check of [natlabAvailable(), sshdAvailability()]) {
    if (!check.ok)
      return [{ figure: 'in-flight -L transfers carried through faults', cli: `n/a: ${check.reason}`, ssh: '', ratio: undefined, better: 'higher' }];
  }
  const table = new Map<string, Map<NatlabClient, string>>();
  for (const [name, fault] of Object.entries(faults)) {
    const line = new Map<NatlabClient, string>();
    table.set(name, line);
    for (const client of carriedClients) {
      const { results, faultAt, stderr } = await runOnce(client, fault);
      line.set(client, describe(results, faultAt));
      process.stderr.write(`  carried | ${name} | ${client}: ${line.get(client)}${stderr.length ? `; last stderr: ${stderr.slice(-2).join(' / ')}` : ''}\n`);
    }
  }
  const header = `| ${transfers} in-flight -L transfers of ${size / MiB} MiB intact | ${carriedClients.join(' | ')} |`;
  const lines = [header, `|---|${carriedClients.map(() => '---').join('|')}|`];
  for (const [name, line] of table) lines.push(`| across a ${name} | ${carriedClients.map((c) => line.get(c)).join(' | ')} |`);
  process.stderr.write(`${lines.join('\n')}\n`);
  return [...table].map(([name, line]) => ({
    figure: `${transfers} in-flight -L transfers intact across a ${name} (natlab; --no-keeper: ${line.get('ssh-keepalive --no-keeper')}; autossh -M0: ${line.get('autossh -M0')})`,
    cli: line.get('ssh-keepalive')!,
    ssh: line.get('ssh')!,
    ratio: undefined,
    better: 'higher',
  }));
}

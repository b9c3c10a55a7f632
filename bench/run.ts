/**
 * npm run bench [-- [--full] [figure ...]]: ssh-keepalive (the bundled dist/cli.js) and
 * OpenSSH's ssh side by side against the same loopback sshd with the same key, runs
 * alternated, medians, ratios from the same run. Figures (all by default):
 *   throughput  -L download/upload on loopback (default ciphers and both aes128-gcm, with CPU
 *               per GiB), download at 50 and 150 ms RTT through the userland delay line
 *   echo        64-byte echo p50/p99
 *   first       first request on a new -L connection after 1 s quiet, 50 ms RTT
 *   concurrency 500 simultaneous -L connections
 *   keepalive   bytes and packets per keepalive exchange, bytes per hour (needs tcpdump, root)
 *   idle        idle CPU and RSS with 4 forwards (20 s quick, 300 s --full, after a 10 s settle;
 *               the settle's own CPU is a row of its own)
 *   sessions    RSS with 1 and 50 sessions (one node process holding core Sessions / ssh -N each)
 *   startup     spawn to first forwarded byte, extension bundle load time, bundle sizes
 *   carried     -L download through the session keeper vs a plain channel and ssh (loopback,
 *               50 ms RTT); the share
 *               of 20 in-flight transfers that survive a router reboot and a 30 s outage, for
 *               ssh-keepalive with and without the keeper, autossh -M0 and ssh (natlab, root;
 *               about 4 minutes: run in --full mode or when named, not in quick mode's default)
 * Quick mode (default) finishes in a few minutes; --full is what bench/README.md quotes.
 * SKA_BENCH_CLI=/path/to/cli.js benches another build of ssh-keepalive (e.g. before a change).
 */
import { execFileSync } from 'node:child_process';
import * as os from 'node:os';
import { concurrency } from './figures/concurrency';
import { carriedThrough } from './figures/carried';
import { echoLatency } from './figures/echo';
import { firstRequest } from './figures/firstRequest';
import { idle } from './figures/idle';
import { keepaliveWire } from './figures/keepaliveWire';
import { keptThroughput } from './figures/keptThroughput';
import { fullMode, quickMode, type Mode } from './figures/mode';
import { sessions } from './figures/sessions';
import { startup } from './figures/startup';
import { throughput } from './figures/throughput';
import { Rig } from './lib/rig';
import { markdownTable, type Row } from './lib/table';

const figures: Record<string, (rig: Rig, mode: Mode) => Promise<Row[]>> = {
  throughput: async (rig, mode) => [
    ...(await throughput(rig, mode, 'loopback', ['download', 'upload'], false)),
    ...(await throughput(rig, mode, 'loopback-aes128-gcm', ['download', 'upload'], true)),
    ...(await throughput(rig, mode, 'rtt50', ['download'], false)),
    ...(await throughput(rig, mode, 'rtt150', ['download'], false)),
  ],
  echo: echoLatency,
  first: firstRequest,
  concurrency,
  keepalive: keepaliveWire,
  idle,
  sessions,
  startup,
  carried: async (rig, mode) => [...(await keptThroughput(rig, mode, 'loopback')), ...(await keptThroughput(rig, mode, 'rtt50')), ...(await carriedThrough())],
};
/** Figures that quick mode runs only when named (they take minutes of fixed waiting). */
const notInQuickDefault = new Set(['carried']);

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const mode = args.includes('--full') ? fullMode : quickMode;
  const names = args.filter((a) => !a.startsWith('--'));
  for (const n of names) if (!figures[n]) throw new Error(`unknown figure ${n}; known: ${Object.keys(figures).join(', ')}`);
  const selected = names.length > 0 ? names : Object.keys(figures).filter((n) => mode === fullMode || !notInQuickDefault.has(n));
  const rig = new Rig();
  const rows: Row[] = [];
  try {
    for (const name of selected) {
      const started = performance.now();
      const got = await figures[name](rig, mode);
      rows.push(...got);
      process.stderr.write(`${name}: ${((performance.now() - started) / 1000).toFixed(0)} s\n${markdownTable(got)}\n`);
    }
  } finally {
    await rig.close();
  }
  console.log(`\n${describeMachine()}; ${mode.name} mode (${mode.runs} runs per figure, alternated, medians)\n`);
  console.log(markdownTable(rows));
}

function describeMachine(): string {
  const ssh = execFileSync('ssh', ['-V'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }) || '';
  const sshVersion = ssh.trim() || execFileSync('sh', ['-c', 'ssh -V 2>&1'], { encoding: 'utf8' }).trim();
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  return `${cpu}, ${os.cpus().length} cores, Linux ${os.release()}, node ${process.version}, ${sshVersion}`;
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.stack : e);
  process.exit(1);
});

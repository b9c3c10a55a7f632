/**
 * node out/bench/compareBuilds.js [--no-keeper] <MiB> <rounds> <label=path/to/cli.js | label=ssh> ...
 * Several builds of the CLI (and ssh) side by side in one run: one client each on the
 * aes128-gcm-only loopback sshd of the `throughput` figure, -L downloads of <MiB> alternated
 * between them <rounds> times, medians of MiB/s and client CPU per GiB. For before/after
 * comparisons of a change on a shared machine, where only figures from the same run compare.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { download } from './figures/throughput';
import { cpuMs } from './lib/proc';
import { Rig } from './lib/rig';
import { median } from './lib/stats';
import { echoOnce } from '../test/harness/forwardClient';
import { sleep } from '../test/harness/bounded';

const MiB = 1024 * 1024;

interface Client {
  label: string;
  child: ChildProcess;
  port: number;
  runs: { mibPerS: number; cpuSPerGiB: number }[];
}

async function main(argv: string[]): Promise<void> {
  const noKeeper = argv.includes('--no-keeper');
  const [mib, rounds, ...specs] = argv.filter((a) => a !== '--no-keeper');
  if (!specs.length) throw new Error('usage: compareBuilds.js [--no-keeper] <MiB> <rounds> <label=cli.js|label=ssh> ...');
  const rig = new Rig();
  const clients: Client[] = [];
  try {
    const path = await rig.path('loopback-aes128-gcm');
    for (const spec of specs) {
      const [label, cli] = spec.split('=');
      const f = await rig.forwards();
      const args = ['-F', path.configPath, '-N', '-L', `127.0.0.1:${f.echo.localPort}:127.0.0.1:${f.echo.targetPort}`];
      args.push('-L', `127.0.0.1:${f.source.localPort}:127.0.0.1:${f.source.targetPort}`, path.alias);
      const opts = { stdio: 'ignore' as const, env: { ...process.env, SSH_AUTH_SOCK: '' } };
      const child = cli === 'ssh' ? spawn('ssh', args, opts) : spawn(process.execPath, [cli, ...(noKeeper ? ['--no-keeper'] : []), ...args], opts);
      clients.push({ label, child, port: f.source.localPort, runs: [] });
      const deadline = performance.now() + 20_000;
      while (!(await echoOnce(f.echo.localPort, 500))) {
        if (performance.now() > deadline || child.exitCode !== null) throw new Error(`${label}: the forward never worked`);
        await sleep(50);
      }
    }
    const size = Number(mib) * MiB;
    for (const c of clients) await download(c.port, 16 * MiB); // every path optimised before it counts
    for (let r = 0; r < Number(rounds); r++) {
      for (const c of clients) {
        const before = cpuMs(c.child.pid!);
        const ms = await download(c.port, size);
        c.runs.push({ mibPerS: size / MiB / (ms / 1000), cpuSPerGiB: (cpuMs(c.child.pid!) - before) / 1000 / (size / (1024 * MiB)) });
      }
    }
    for (const c of clients) {
      const cpu = c.runs.map((x) => x.cpuSPerGiB);
      const rate = median(c.runs.map((x) => x.mibPerS)).toFixed(1);
      console.log(`${c.label.padEnd(12)} ${rate} MiB/s  ${median(cpu).toFixed(2)} s/GiB  (runs: ${cpu.map((x) => x.toFixed(2)).join(' ')})`);
    }
  } finally {
    for (const c of clients) c.child.kill('SIGTERM');
    await rig.close();
  }
}

main(process.argv.slice(2)).catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});

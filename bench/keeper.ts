/**
 * bench/keeper: the session keeper's cost. Against the harness's real OpenSSH sshd on loopback:
 *  - throughput of a terminal `cat` of a large file (default 100 MB) through a keeper pty stream
 *    vs a plain ssh2 exec channel with a pty (both in raw mode, so bytes pass unchanged);
 *  - the keeper's idle RSS and CPU on the server with one client attached and one idle shell.
 * Usage: bench/keeper [--mb 100] [--runs 3] [--idle-seconds 10]
 */
import { readFileSync } from 'node:fs';
import type { Client } from 'ssh2';
import { newKeeperSecret, startKeeper } from '../src/core/keeper/installer';
import { KeeperMux } from '../src/core/keeper/mux';
import { openKeeperTransport } from '../src/core/keeper/transport';
import { connectRaw, keeperProgramText } from '../test/harness/keeperPeer';
import { startSshd } from '../tools/peers/sshd';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}
const mb = Number(arg('mb', '100'));
const runs = Number(arg('runs', '3'));
const idleSeconds = Number(arg('idle-seconds', '10'));
const bytes = mb * 1000 * 1000;

function plainCat(client: Client, file: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    client.exec(`stty raw -echo; cat ${file}`, { pty: { term: 'xterm', cols: 80, rows: 24 } }, (err, ch) => {
      if (err) return reject(err);
      let got = 0;
      ch.on('data', (d: Buffer) => (got += d.length));
      ch.on('close', () => (got >= bytes ? resolve(performance.now() - started) : reject(new Error(`plain cat: ${got} of ${bytes} bytes`))));
    });
  });
}

function keeperCat(mux: KeeperMux, file: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const s = mux.open({ kind: 'pty', cols: 80, rows: 24, argv: ['/bin/sh', '-c', `stty raw -echo; cat ${file}`] });
    let got = 0;
    s.onDidData((d) => (got += d.length));
    s.onDidEnd(() => (got >= bytes ? resolve(performance.now() - started) : reject(new Error(`keeper cat: ${got} of ${bytes} bytes`))));
    s.onDidReset((r) => reject(new Error(`keeper cat reset: ${r.reason} ${r.message}`)));
  });
}

function cpuTicks(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return Number(fields[11]) + Number(fields[12]); // utime + stime, in clock ticks
}

function rssKiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main(): Promise<void> {
  const sshd = await startSshd();
  try {
    const { client } = await connectRaw(sshd);
    const file = `${sshd.dir}/bench-${mb}MB.bin`;
    await new Promise<void>((resolve, reject) =>
      client.exec(`head -c ${bytes} /dev/urandom > ${file}`, (err, ch) => (err ? reject(err) : ch.on('close', () => resolve()).resume())),
    );
    const secret = newKeeperSecret();
    const location = await startKeeper(client, { program: keeperProgramText(), name: 'bench', secret, dir: `${sshd.dir}/keeper`, idleSeconds: 600 });
    const mux = new KeeperMux({ secret });
    const t = await openKeeperTransport(client, location);
    await mux.attach(t.stream);
    await new Promise((r) => setTimeout(r, 500));
    const freshRss = rssKiB(location.pid);
    const plain: number[] = [];
    const kept: number[] = [];
    let keeperCpuMs = 0;
    let clientCpuPlainMs = 0;
    let clientCpuKeptMs = 0;
    const clientCpuMs = (since: NodeJS.CpuUsage) => {
      const u = process.cpuUsage(since);
      return (u.user + u.system) / 1000;
    };
    for (let i = 0; i < runs; i++) {
      let cpu = process.cpuUsage();
      plain.push(await plainCat(client, file));
      clientCpuPlainMs += clientCpuMs(cpu);
      const before = cpuTicks(location.pid);
      cpu = process.cpuUsage();
      kept.push(await keeperCat(mux, file));
      clientCpuKeptMs += clientCpuMs(cpu);
      keeperCpuMs += ((cpuTicks(location.pid) - before) * 1000) / 100;
    }
    const mbps = (ms: number) => bytes / 1e6 / (ms / 1000);
    console.log(`terminal cat of ${mb} MB over loopback (median of ${runs}, transport ${t.via}):`);
    console.log(`  plain ssh2 exec channel with pty: ${mbps(median(plain)).toFixed(1)} MB/s  (runs ${plain.map((x) => mbps(x).toFixed(1)).join(', ')})`);
    console.log(`  keeper pty stream:                ${mbps(median(kept)).toFixed(1)} MB/s  (runs ${kept.map((x) => mbps(x).toFixed(1)).join(', ')})`);
    // Runs alternate, so each pair saw about the same load: the median of the pairs' ratios
    // holds up better on a shared machine than the ratio of the medians.
    const pairRatios = plain.map((p, i) => p / kept[i]);
    console.log(
      `  ratio keeper/plain, median of the ${runs} alternated pairs: ${median(pairRatios).toFixed(2)}x (pairs ${pairRatios.map((r) => r.toFixed(2)).join(', ')})`,
    );
    console.log(`  ratio of the medians: ${(median(plain) / median(kept)).toFixed(2)}x; keeper CPU ${(keeperCpuMs / runs / 1000).toFixed(2)} s per ${mb} MB`);
    console.log(
      `  this client's CPU per ${mb} MB: plain ${(clientCpuPlainMs / runs / 1000).toFixed(2)} s, keeper ${(clientCpuKeptMs / runs / 1000).toFixed(2)} s`,
    );
    // Idle: one client attached, one shell waiting at its prompt.
    const shell = mux.open({ kind: 'pty', cols: 80, rows: 24, argv: ['/bin/sh'] });
    await new Promise((r) => setTimeout(r, 2000));
    const rss = rssKiB(location.pid);
    const before = cpuTicks(location.pid);
    await new Promise((r) => setTimeout(r, idleSeconds * 1000));
    const idleCpu = ((cpuTicks(location.pid) - before) * 10) / idleSeconds;
    console.log(`keeper RSS when fresh (1 client attached, no stream): ${(freshRss / 1024).toFixed(1)} MiB`);
    console.log(
      `keeper idle after the runs (1 client attached, 1 shell): RSS ${(rss / 1024).toFixed(1)} MiB, CPU ${idleCpu.toFixed(2)} ms/s over ${idleSeconds} s`,
    );
    shell.reset();
    await mux.shutdown();
    mux.dispose();
    client.end();
  } finally {
    await sshd.stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});

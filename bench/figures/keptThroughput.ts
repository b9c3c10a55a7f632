import { startClient, type RunningClient } from '../../test/harness/forwardClient';
import type { Forwards } from '../lib/pair';
import { pathLabel, type PathKind, type Rig } from '../lib/rig';
import { alternated, median } from '../lib/stats';
import { fixed, row, type Row } from '../lib/table';
import type { Mode } from './mode';
import { download } from './throughput';

const MiB = 1024 * 1024;

/** ssh-keepalive with its session keeper (each -L connection a keeper stream), without it (a plain direct-tcpip channel), and ssh -L. */
const variants = ['keeper', 'plain', 'ssh'] as const;
type Variant = (typeof variants)[number];

/**
 * A -L download through the session keeper, beside the same download over a plain channel
 * (--no-keeper) and through ssh -L: three clients side by side over the same path, runs
 * alternated, the keeper/plain ratio as the median of each run's ratio (pairs measured moments
 * apart). On loopback the CPU is the limit (the keeper's python on the same 2 cores); over
 * 50 ms RTT the path is.
 */
export async function keptThroughput(rig: Rig, mode: Mode, kind: 'loopback' | 'rtt50'): Promise<Row[]> {
  const mib = kind === 'loopback' ? mode.loopbackMiB : mode.rtt50MiB;
  const size = mib * MiB;
  const p = await rig.path(kind satisfies PathKind);
  const started = new Map<Variant, { client: RunningClient; fw: Forwards }>();
  try {
    for (const v of variants) {
      const fw = await rig.forwards();
      // A connection waits for the keeper's first answer before it picks its path: once the
      // echo went through (the client is ready), connections ride keeper streams.
      const client = await startClient(v === 'ssh' ? 'ssh' : 'ssh-keepalive', p, [fw.echo, fw.source], v === 'plain' ? ['--no-keeper'] : []);
      started.set(v, { client, fw });
    }
    const results = await alternated(variants, mode.runs, (v) => download(started.get(v)!.fw.source.localPort, size));
    const rate = (v: Variant) => results.get(v)!.map((ms) => size / MiB / (ms / 1000));
    const pairRatios = rate('keeper').map((k, i) => k / rate('plain')[i]);
    const label = `-L download ${mib} MiB, ${pathLabel[kind]}`;
    return [
      row(`${label}, through the session keeper`, median(rate('keeper')), median(rate('ssh')), fixed(1, ' MiB/s'), 'higher'),
      row(`${label}, plain channel (--no-keeper)`, median(rate('plain')), median(rate('ssh')), fixed(1, ' MiB/s'), 'higher'),
      {
        figure: `${label}: keeper / plain channel (ssh column: plain; ratio: median of the runs' ratios ${pairRatios.map((r) => r.toFixed(2)).join(', ')})`,
        cli: fixed(1, ' MiB/s')(median(rate('keeper'))),
        ssh: fixed(1, ' MiB/s')(median(rate('plain'))),
        ratio: median(pairRatios),
        better: 'higher',
      },
    ];
  } finally {
    for (const { client } of started.values()) await client.stop();
  }
}

import * as net from 'node:net';
import { tools, type Tool } from '../../test/harness/forwardClient';
import { startPair } from '../lib/pair';
import { cpuMs } from '../lib/proc';
import { pathLabel, type PathKind, type Rig } from '../lib/rig';
import { alternated, median } from '../lib/stats';
import { fixed, row, type Row } from '../lib/table';
import { header, writeBytes } from '../lib/targets';
import type { Mode } from './mode';

const MiB = 1024 * 1024;

interface Transfer {
  mibPerS: number;
  /** CPU of the client process per GiB moved, in seconds. */
  cpuSPerGiB: number;
}

/** -L throughput, downloads (server to client) and uploads, over one path, both tools. */
export async function throughput(rig: Rig, mode: Mode, kind: PathKind, directions: ('download' | 'upload')[], withCpu: boolean): Promise<Row[]> {
  const size = (kind.startsWith('loopback') ? mode.loopbackMiB : kind === 'rtt50' ? mode.rtt50MiB : mode.rtt150MiB) * MiB;
  const pair = await startPair(rig, kind, (f) => [f.echo, f.source, f.sink]);
  try {
    const rows: Row[] = [];
    for (const direction of directions) {
      const results = await alternated(tools, mode.runs, async (tool) => {
        const client = pair.client(tool);
        const f = pair.forwards(tool);
        const before = cpuMs(client.pid);
        const ms = direction === 'download' ? await download(f.source.localPort, size) : await upload(f.sink.localPort, size);
        const cpu = cpuMs(client.pid) - before;
        return { mibPerS: size / MiB / (ms / 1000), cpuSPerGiB: cpu / 1000 / (size / (1024 * MiB)) } satisfies Transfer;
      });
      const med = (tool: Tool, key: keyof Transfer) => median(results.get(tool)!.map((r) => r[key]));
      const label = `-L ${direction} ${size / MiB} MiB, ${pathLabel[kind]}`;
      rows.push(row(label, med('ssh-keepalive', 'mibPerS'), med('ssh', 'mibPerS'), fixed(1, ' MiB/s'), 'higher'));
      if (withCpu)
        rows.push(row(`CPU per GiB, ${direction}, ${pathLabel[kind]}`, med('ssh-keepalive', 'cpuSPerGiB'), med('ssh', 'cpuSPerGiB'), fixed(2, ' s'), 'lower'));
    }
    return rows;
  } finally {
    await pair.stop();
  }
}

/** ms from connecting until `size` bytes from the source target have arrived through the forward. */
export function download(port: number, size: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const s = net.connect({ host: '127.0.0.1', port, noDelay: true });
    let got = 0;
    s.on('connect', () => s.write(header(size)));
    s.on('data', (d: Buffer) => {
      got += d.length;
      if (got >= size) {
        s.destroy();
        resolve(performance.now() - started);
      }
    });
    s.on('error', reject);
    s.on('close', () => got < size && reject(new Error(`download through port ${port}: ${got} of ${size} bytes before the connection closed`)));
  });
}

/** ms from connecting until the sink target confirmed `size` bytes sent through the forward. */
function upload(port: number, size: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const s = net.connect({ host: '127.0.0.1', port, noDelay: true });
    let done = false;
    s.on('connect', () => {
      s.write(header(size));
      writeBytes(s, size);
    });
    s.once('data', () => {
      done = true;
      s.destroy();
      resolve(performance.now() - started);
    });
    s.on('error', reject);
    s.on('close', () => !done && reject(new Error(`upload through port ${port}: the sink did not confirm ${size} bytes before the connection closed`)));
  });
}

import * as net from 'node:net';
import { tools, type Tool } from '../../test/harness/forwardClient';
import { startPair } from '../lib/pair';
import type { Rig } from '../lib/rig';
import { alternated, percentile } from '../lib/stats';
import { fixed, row, type Row } from '../lib/table';
import type { Mode } from './mode';

/** Round trips of 64 bytes through -L to an echo server on loopback, p50 and p99 (blocks of rounds, alternated). */
export async function echoLatency(rig: Rig, mode: Mode): Promise<Row[]> {
  const pair = await startPair(rig, 'loopback', (f) => [f.echo]);
  try {
    const blocks = 4;
    const results = await alternated(tools, blocks, (tool) => rounds(pair.forwards(tool).echo.localPort, Math.ceil(mode.echoRounds / blocks)));
    const all = (tool: Tool) => results.get(tool)!.flat();
    const rows: Row[] = [];
    for (const p of [50, 99]) {
      rows.push(row(`64-byte echo p${p}, loopback`, percentile(all('ssh-keepalive'), p), percentile(all('ssh'), p), fixed(3, ' ms'), 'lower'));
    }
    return rows;
  } finally {
    await pair.stop();
  }
}

/** `n` sequential 64-byte round trips on one connection (after 20 unmeasured), in ms each. */
function rounds(port: number, n: number): Promise<number[]> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port, noDelay: true });
    const msg = Buffer.alloc(64, 0x61);
    const warmup = 20;
    const times: number[] = [];
    let got = 0;
    let sentAt = 0;
    let i = 0;
    const send = () => {
      got = 0;
      sentAt = performance.now();
      s.write(msg);
    };
    s.on('connect', send);
    s.on('data', (d: Buffer) => {
      got += d.length;
      if (got < msg.length) return;
      if (i++ >= warmup) times.push(performance.now() - sentAt);
      if (times.length >= n) {
        s.destroy();
        resolve(times);
      } else send();
    });
    s.on('error', reject);
    s.on('close', () => times.length < n && reject(new Error(`echo through port ${port} closed after ${times.length} of ${n} rounds`)));
  });
}

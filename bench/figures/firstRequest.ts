import * as net from 'node:net';
import { sleep } from '../../test/harness/bounded';
import { tools } from '../../test/harness/forwardClient';
import { startPair } from '../lib/pair';
import type { Rig } from '../lib/rig';
import { alternated, median } from '../lib/stats';
import { fixed, row, type Row } from '../lib/table';
import type { Mode } from './mode';

/**
 * A new connection to a -L port after a quiet second, over 50 ms RTT: ms from connect() until
 * the answer to its first 64 bytes arrives (what a browser's first request waits).
 */
export async function firstRequest(rig: Rig, mode: Mode): Promise<Row[]> {
  const pair = await startPair(rig, 'rtt50', (f) => [f.echo]);
  try {
    const results = await alternated(tools, mode.runs, async (tool) => {
      await sleep(1100);
      return request(pair.forwards(tool).echo.localPort);
    });
    return [
      row(
        'first request on a new -L connection after 1 s quiet, 50 ms RTT',
        median(results.get('ssh-keepalive')!),
        median(results.get('ssh')!),
        fixed(0, ' ms'),
        'lower',
      ),
    ];
  } finally {
    await pair.stop();
  }
}

function request(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const s = net.connect({ host: '127.0.0.1', port, noDelay: true });
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`no answer through port ${port} within 10 s`));
    }, 10_000);
    s.on('connect', () => s.write(Buffer.alloc(64, 0x62)));
    let got = 0;
    s.on('data', (d: Buffer) => {
      got += d.length;
      if (got < 64) return;
      clearTimeout(timer);
      s.destroy();
      resolve(performance.now() - started);
    });
    s.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

import * as net from 'node:net';
import { tools, type Tool } from '../../test/harness/forwardClient';
import { startPair } from '../lib/pair';
import type { Rig } from '../lib/rig';
import { alternated, median } from '../lib/stats';
import { fixed, type Row } from '../lib/table';
import type { Mode } from './mode';

/** `mode.concurrency` connections opened at once to a -L port on loopback, each echoing one byte: ms until all answered. */
export async function concurrency(rig: Rig, mode: Mode): Promise<Row[]> {
  const pair = await startPair(rig, 'loopback', (f) => [f.echo]);
  try {
    const runs = Math.max(1, mode.runs - 2);
    const results = await alternated(tools, runs, (tool) => burst(pair.forwards(tool).echo.localPort, mode.concurrency));
    const ms = (tool: Tool) => median(results.get(tool)!.map((r) => r.ms));
    const ok = (tool: Tool) => Math.min(...results.get(tool)!.map((r) => r.ok));
    const cli = ms('ssh-keepalive');
    const ssh = ms('ssh');
    return [
      {
        figure: `${mode.concurrency} simultaneous -L connections, loopback (all answered)`,
        cli: `${fixed(0, ' ms')(cli)}, ${ok('ssh-keepalive')}/${mode.concurrency}`,
        ssh: `${fixed(0, ' ms')(ssh)}, ${ok('ssh')}/${mode.concurrency}`,
        ratio: cli / ssh,
        better: 'lower',
      },
    ];
  } finally {
    await pair.stop();
  }
}

function burst(port: number, n: number): Promise<{ ms: number; ok: number }> {
  const started = performance.now();
  const one = () =>
    new Promise<boolean>((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port, noDelay: true });
      const done = (ok: boolean) => {
        clearTimeout(timer);
        s.destroy();
        resolve(ok);
      };
      const timer = setTimeout(() => done(false), 30_000);
      s.on('connect', () => s.write('y'));
      s.once('data', () => done(true));
      s.on('error', () => done(false));
    });
  return Promise.all(Array.from({ length: n }, one)).then((oks) => ({ ms: performance.now() - started, ok: oks.filter(Boolean).length }));
}

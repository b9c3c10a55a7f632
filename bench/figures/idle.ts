import { sleep } from '../../test/harness/bounded';
import { tools } from '../../test/harness/forwardClient';
import { startPair } from '../lib/pair';
import { cpuMs, rssKiB } from '../lib/proc';
import type { Rig } from '../lib/rig';

import { fixed, row, type Row } from '../lib/table';
import type { Mode } from './mode';

const SETTLE_MS = 10_000;

/** Both tools idle side by side with 4 forwards each and ServerAliveInterval 15: CPU used and RSS at the end. */
export async function idle(rig: Rig, mode: Mode): Promise<Row[]> {
  const pair = await startPair(rig, 'loopback', (f) => [f.echo, f.source, f.sink, f.echo2], ['-o', 'ServerAliveInterval=15']);
  const clients = tools.map((tool) => pair.client(tool));
  try {
    // The 10 s after start-up are V8 finishing its work (optimising compiles, GC on helper
    // threads: about 40 ms for node, nothing for ssh): a row of their own, then the idle cost.
    const start = clients.map((c) => cpuMs(c.pid));
    await sleep(SETTLE_MS);
    const before = clients.map((c) => cpuMs(c.pid));
    await sleep(mode.idleSeconds * 1000);
    const cpu = clients.map((c, i) => cpuMs(c.pid) - before[i]);
    const settle = before.map((b, i) => b - start[i]);
    const rss = clients.map((c) => rssKiB(c.pid));
    return [
      row(`CPU in the ${SETTLE_MS / 1000} s after start-up, 4 forwards`, settle[0], settle[1], fixed(1, ' ms'), 'lower'),
      row(`idle CPU, ${mode.idleSeconds} s after those, 4 forwards`, cpu[0], cpu[1], fixed(1, ' ms'), 'lower'),
      row('RSS of the client process, idle, 4 forwards', rss[0] / 1024, rss[1] / 1024, fixed(1, ' MiB'), 'lower'),
    ];
  } finally {
    await pair.stop();
  }
}

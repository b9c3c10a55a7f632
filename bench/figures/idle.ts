import { sleep } from '../../test/harness/bounded';
import { startClient, tools, type RunningClient } from '../../test/harness/forwardClient';
import { cpuMs, rssKiB } from '../lib/proc';
import type { Rig } from '../lib/rig';

import { fixed, row, type Row } from '../lib/table';
import type { Mode } from './mode';

/** Both tools idle side by side with 4 forwards each and ServerAliveInterval 15: CPU used and RSS at the end. */
export async function idle(rig: Rig, mode: Mode): Promise<Row[]> {
  const p = await rig.path('loopback');
  const clients: RunningClient[] = [];
  try {
    for (const tool of tools) {
      const f = await rig.forwards();
      const more = await rig.forwards();
      clients.push(await startClient(tool, p, [f.echo, f.source, f.sink, more.echo], ['-o', 'ServerAliveInterval=15']));
    }
    await sleep(2000);
    const before = clients.map((c) => cpuMs(c.pid));
    await sleep(mode.idleSeconds * 1000);
    const cpu = clients.map((c, i) => cpuMs(c.pid) - before[i]);
    const rss = clients.map((c) => rssKiB(c.pid));
    return [
      row(`idle CPU, ${mode.idleSeconds} s, 4 forwards`, cpu[0] / 1000, cpu[1] / 1000, fixed(2, ' s'), 'lower'),
      row('RSS of the client process, idle, 4 forwards', rss[0] / 1024, rss[1] / 1024, fixed(1, ' MiB'), 'lower'),
    ];
  } finally {
    for (const c of clients) await c.stop();
  }
}

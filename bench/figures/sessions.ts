import { spawn, spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { repoRoot } from '../../tools/peers/repo';
import { rssKiB } from '../lib/proc';
import type { Rig } from '../lib/rig';
import { fixed, row, type Row } from '../lib/table';
import type { Mode } from './mode';

const MANY = 50;

/**
 * Memory with 1 and 50 sessions to the same sshd. ssh-keepalive: one node process holding the
 * core Sessions (what the extension host adds; bench/sessions/holder.ts); ssh: the sum of the
 * RSS of one `ssh -N` per session (ssh has no way to hold several hosts in one process; shared
 * pages are counted in each, so its sum overstates what the machine pays).
 */
export async function sessions(rig: Rig, _mode: Mode): Promise<Row[]> {
  const p = await rig.path('loopback');
  const holder = path.join(repoRoot, 'out', 'bench', 'sessions', 'holder.js');
  const r = spawnSync(process.execPath, ['--expose-gc', holder, p.configPath, p.alias, String(MANY)], { encoding: 'utf8', timeout: 300_000 });
  if (r.status !== 0) throw new Error(`sessions holder failed: ${r.stderr}`);
  const { rss1, rssN } = JSON.parse(r.stdout.trim().split('\n').pop()!) as { rss1: number; rssN: number };
  const ssh = await sshRss(p.configPath, p.alias);
  return [
    row('RSS, 1 session (one process: node holding core Sessions / ssh -N)', rss1 / 1024, ssh.one / 1024, fixed(1, ' MiB'), 'lower'),
    row(`RSS, ${MANY} sessions (one node process / sum of ${MANY} ssh -N)`, rssN / 1024, ssh.many / 1024, fixed(1, ' MiB'), 'lower'),
    row('RSS per extra session', (rssN - rss1) / 1024 / (MANY - 1), (ssh.many - ssh.one) / 1024 / (MANY - 1), fixed(2, ' MiB'), 'lower'),
  ];
}

async function sshRss(configPath: string, alias: string): Promise<{ one: number; many: number }> {
  const kids = [];
  try {
    for (let i = 0; i < MANY; i++) {
      kids.push(spawn('ssh', ['-F', configPath, '-N', alias], { stdio: 'ignore', env: { ...process.env, SSH_AUTH_SOCK: '' } }));
      // One at a time, as the holder: sshd's MaxStartups drops handshakes beyond 10 at once.
      await new Promise((r) => setTimeout(r, 150));
    }
    await new Promise((r) => setTimeout(r, 2000));
    const rss = kids.map((k) => rssKiB(k.pid!));
    return { one: rss[0], many: rss.reduce((a, b) => a + b, 0) };
  } finally {
    for (const k of kids) k.kill('SIGTERM');
  }
}

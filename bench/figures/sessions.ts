import { spawn, spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { repoRoot } from '../../tools/peers/repo';
import { readFileSync } from 'node:fs';
import type { Rig } from '../lib/rig';
import { fixed, row, type Row } from '../lib/table';
import type { Mode } from './mode';

const MANY = 50;

/**
 * Memory with 1 and 50 sessions to the same sshd. ssh-keepalive: one node process holding the
 * core Sessions (what the extension host adds; bench/sessions/holder.ts); ssh: the sum of the
 * proportional set size (PSS: shared pages split between the processes that map them) of one
 * `ssh -N` per session, as ssh holds one host per process; the RSS of one ssh for 1 session.
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
    row(`RSS, ${MANY} sessions (one node process / PSS summed over ${MANY} ssh -N)`, rssN / 1024, ssh.many / 1024, fixed(1, ' MiB'), 'lower'),
    row('memory per extra session (RSS / PSS)', (rssN - rss1) / 1024 / (MANY - 1), (ssh.many - ssh.one) / 1024 / (MANY - 1), fixed(2, ' MiB'), 'lower'),
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
    const pss = kids.map((k) => kib(k.pid!, 'Pss'));
    return { one: kib(kids[0].pid!, 'Rss'), many: pss.reduce((a, b) => a + b, 0) };
  } finally {
    for (const k of kids) k.kill('SIGTERM');
  }
}

/** A field of /proc/<pid>/smaps_rollup, in KiB. */
function kib(pid: number, field: 'Rss' | 'Pss'): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
  if (!m) throw new Error(`no ${field} for ${pid}`);
  return Number(m[1]);
}

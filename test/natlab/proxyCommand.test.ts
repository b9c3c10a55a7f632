import { pidAlive } from '../../tools/peers/pidAlive';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import { natlabAvailable } from '../../tools/peers/natlab';
import { type Lab, setupLab } from '../../tools/peers/natlabSshd';
import { sshdAvailability } from '../../tools/peers/sshd';
import { requireOrSkip } from '../harness/skip';
import { fetchThrough, KeepaliveCli, sleep } from './lab';

/**
 * ProxyCommand through a real NAT: socat and `ssh -W` carry the session; after the router
 * reboots (conntrack -F: every flow forgotten, so the proxy's own TCP connection is dead too)
 * the old command is ended, a fresh one is started and the -L forward works again.
 */

const natTimeoutSec = 4;
const keepalive = ['-o', 'ServerAliveInterval=1', '-o', 'ServerAliveCountMax=2'];

const available = () => {
  const nat = natlabAvailable();
  return nat.ok ? sshdAvailability() : nat;
};

const alive = pidAlive;

describe('ProxyCommand through a real NAT (natlab)', { concurrency: false }, () => {
  let lab: Lab | undefined;
  let dir = '';
  before(async () => {
    if (!available().ok) return;
    lab = await setupLab(natTimeoutSec);
    dir = mkdtempSync(join(tmpdir(), 'ska-natlab-proxy-'));
  });
  after(async () => {
    await lab?.dispose();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  const ready = (t: TestContext) => requireOrSkip(t, available) && !!lab;

  const cases = [
    { name: 'socat', port: 18181, command: (_: Lab) => 'socat - TCP:%h:%p' },
    { name: 'ssh -W', port: 18182, command: (l: Lab) => `ssh -F ${l.sshd.sshConfigPath} -o BatchMode=yes -o ConnectTimeout=3 -W %h:%p ${l.sshd.alias}` },
  ];
  for (const c of cases) {
    test(`${c.name}: connects, and after a router reboot a fresh command restores the -L forward`, async (t) => {
      if (!ready(t)) return;
      const pidFile = join(dir, `${c.port}.pids`);
      // Each run of the command appends its pid (exec keeps it), so runs can be counted and checked.
      const proxy = `sh -c 'echo $$ >> ${pidFile}; exec ${c.command(lab!)}'`;
      const cli = new KeepaliveCli(lab!, c.port, [...keepalive, '-o', `ProxyCommand=${proxy}`]);
      t.after(() => cli.stop());
      await cli.waitFor((e) => e.event === 'connected', 20_000);
      const first = await fetchThrough(lab!.natlab, c.port, 5);
      assert.ok(first.ok, `the forward works through ${c.name}: ${first.out}`);
      const pids = () => (existsSync(pidFile) ? readFileSync(pidFile, 'utf8').trim().split('\n').map(Number) : []);
      assert.equal(pids().length, 1, 'one command for the first connection');
      const firstPid = pids()[0];

      const since = Date.now();
      await lab!.natlab.reboot();
      await cli.waitFor((e) => e.event === 'lost', 15_000, since);
      const restored = await cli.waitFor((e) => e.event === 'restored', 20_000, since);
      t.diagnostic(`${c.name}: restored ${restored.at - since} ms after the reboot; ${pids().length} command runs in all`);
      assert.ok(pids().length >= 2, 'the reconnect ran a fresh ProxyCommand');
      const r = await fetchThrough(lab!.natlab, c.port, 5);
      assert.ok(r.ok, `the forward works again after the reboot: ${r.out}`);
      // The old command is ended with its connection, not left behind.
      for (let i = 0; i < 50 && alive(firstPid); i++) await sleep(100);
      assert.equal(alive(firstPid), false, `the first ProxyCommand (pid ${firstPid}) was ended`);
      await cli.stop();
      const last = pids()[pids().length - 1];
      for (let i = 0; i < 50 && alive(last); i++) await sleep(100);
      assert.equal(alive(last), false, `the last ProxyCommand (pid ${last}) ended with the CLI`);
    });
  }

  test('a ProxyCommand that exits at once: one clear line, retries about once a second, no storm', async (t) => {
    if (!ready(t)) return;
    const countFile = join(dir, 'fail.count');
    const proxy = `sh -c 'echo x >> ${countFile}; echo "bastion says no" >&2; exit 1'`;
    const cli = new KeepaliveCli(lab!, 18183, [...keepalive, '-o', `ProxyCommand=${proxy}`]);
    t.after(() => cli.stop());
    await sleep(5000);
    const runs = existsSync(countFile) ? readFileSync(countFile, 'utf8').trim().split('\n').length : 0;
    const said = cli.stderr.filter((l) => /exited with status 1 before the SSH connection was up; it said: bastion says no/.test(l));
    t.diagnostic(`${runs} runs in 5 s; stderr: ${cli.stderr.join(' | ')}`);
    assert.ok(runs >= 2 && runs <= 7, `bounded retries: ${runs} runs in 5 s`);
    assert.equal(said.length, 1, `the failure is printed once at the default verbosity: ${cli.stderr.join(' | ')}`);
  });
});

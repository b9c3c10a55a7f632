import assert from 'node:assert/strict';
import { after, before, describe, test, type TestContext } from 'node:test';
import type { Natlab } from '../../tools/peers/natlab';
import { natlabAvailable } from '../../tools/peers/natlab';
import { httpPort, type Lab, setupLab } from '../../tools/peers/natlabSshd';
import { sshdAvailability } from '../../tools/peers/sshd';
import { requireOrSkip } from '../harness/skip';
import { Driver } from './forwardDriverClient';
import { sleep } from './lab';

/**
 * -R and -D through a real NAT. The core runs in the client namespace (forwardDriver.js);
 * -D is used from the client namespace (curl --socks5-hostname), -R from the server
 * namespace, where its port listens. sshd runs with ClientAliveInterval 0, as most servers
 * do: after a NAT reboot it keeps the dead connection, and its -R listener, for hours.
 */

const natTimeoutSec = 4;
/** HTTP server in the client namespace: the target of the -R forwards. */
const clientHttpPort = 8001;
const clientHttpSource = `
require('http').createServer((req, res) => res.end('hello from the client side\\n'))
  .listen(${clientHttpPort}, '127.0.0.1', () => console.log('http ready'));`;

const available = () => {
  const nat = natlabAvailable();
  return nat.ok ? sshdAvailability() : nat;
};

async function viaSocks(natlab: Natlab, socksPort: number, maxSec: number): Promise<boolean> {
  const r = await natlab.exec(
    natlab.clientNs,
    'curl',
    ['-s', '--max-time', String(maxSec), '--socks5-hostname', `127.0.0.1:${socksPort}`, `http://localhost:${httpPort}/`],
    {
      timeoutMs: maxSec * 1000 + 2000,
    },
  );
  return r.code === 0 && r.stdout.includes('hello from the server side');
}

async function viaRemote(natlab: Natlab, remotePort: number, maxSec: number): Promise<boolean> {
  const r = await natlab.exec(natlab.serverNs, 'curl', ['-s', '--max-time', String(maxSec), `http://127.0.0.1:${remotePort}/`], {
    timeoutMs: maxSec * 1000 + 2000,
  });
  return r.code === 0 && r.stdout.includes('hello from the client side');
}

/** Polls `attempt` until it succeeds; ms from `since` to the first success, or undefined. */
async function timeUntil(attempt: () => Promise<boolean>, since: number, limitMs: number): Promise<number | undefined> {
  while (Date.now() - since < limitMs) {
    if (await attempt()) return Date.now() - since;
    await sleep(100);
  }
  return undefined;
}

/** The pid(s) listening on `port` in the server namespace. */
async function serverListeners(natlab: Natlab, port: number): Promise<number[]> {
  const r = await natlab.exec(natlab.serverNs, 'ss', ['-tlpn', `sport = :${port}`]);
  return [...new Set([...r.stdout.matchAll(/pid=(\d+)/g)].map((m) => Number(m[1])))];
}

describe('-R and -D through a real NAT (natlab)', { concurrency: false }, () => {
  let lab: Lab | undefined;
  before(async () => {
    if (!available().ok) return;
    lab = await setupLab(natTimeoutSec);
    const http = lab.natlab.spawn(lab.natlab.clientNs, process.execPath, ['-e', clientHttpSource], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('client-side http server did not start')), 5000);
      http.stdout!.once('data', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  });
  after(async () => {
    await lab?.dispose();
  });
  const ready = (t: TestContext) => requireOrSkip(t, available) && !!lab;

  describe('with reclaimStale: -R and -D come back by themselves', { concurrency: false }, () => {
    const remotePort = 19001;
    const socksPort = 11080;
    let driver: Driver | undefined;
    before(async () => {
      if (!lab) return;
      driver = new Driver(lab, ['--remote-reclaim', `${remotePort}:127.0.0.1:${clientHttpPort}`, '--dynamic', `127.0.0.1:${socksPort}`, '--retry', '500:3000']);
      await driver.waitFor((e) => e.event === 'ready', 20_000);
    });
    after(async () => {
      await driver?.stop();
    });

    test('both forwards carry traffic', async (t) => {
      if (!ready(t)) return;
      const ready_ = driver!.events.find((e) => e.event === 'ready')!;
      assert.deepEqual(
        (ready_.forwards as Array<{ state: string }>).map((f) => f.state),
        ['active', 'active'],
        JSON.stringify(ready_),
      );
      assert.ok(await viaSocks(lab!.natlab, socksPort, 5), 'curl through -D');
      assert.ok(await viaRemote(lab!.natlab, remotePort, 5), 'curl to the -R port on the server');
    });

    test('after an outage (DROP, then heal) both work again', async (t) => {
      if (!ready(t)) return;
      const since = Date.now();
      await lab!.natlab.outage();
      await driver!.waitFor((e) => e.event === 'session' && e.state === 'lost', 15_000, since);
      await sleep(3000);
      const healedAt = Date.now();
      await lab!.natlab.heal();
      const [d, r] = await Promise.all([
        timeUntil(() => viaSocks(lab!.natlab, socksPort, 2), healedAt, 30_000),
        timeUntil(() => viaRemote(lab!.natlab, remotePort, 2), healedAt, 30_000),
      ]);
      const restored = await driver!.waitFor((e) => e.event === 'session' && e.state === 'connected', 10_000, healedAt);
      t.diagnostic(`outage: session restored ${restored.t - healedAt} ms after the heal; -D worked after ${d} ms, -R after ${r} ms`);
      t.diagnostic(`-R states since the outage: ${driver!.forwardStates('remote', since).join(' | ')}`);
      assert.ok(d !== undefined, `-D did not come back\n${driver!.log.slice(-20).join('\n')}`);
      assert.ok(r !== undefined, `-R did not come back\n${driver!.log.slice(-20).join('\n')}`);
    });

    test('after a router reboot (conntrack -F): -R comes back by itself (keepalive, reconnect, reclaim)', async (t) => {
      if (!ready(t)) return;
      await sleep(1000);
      const [oldPid] = await serverListeners(lab!.natlab, remotePort);
      const rebootAt = Date.now();
      await lab!.natlab.reboot();
      // Nothing on the client side acts: the keepalive finds the dead path. Users of the -R
      // port on the server connect to the stale listener in vain meanwhile.
      const r = await timeUntil(() => viaRemote(lab!.natlab, remotePort, 2), rebootAt, 45_000);
      t.diagnostic(`reboot: -R worked again ${r} ms after the reboot`);
      t.diagnostic(`-R states since the reboot: ${driver!.forwardStates('remote', rebootAt).join(' | ')}`);
      const reclaimLine = driver!.log.find((l) => l.includes('reclaim of server port'));
      if (reclaimLine) t.diagnostic(reclaimLine);
      assert.ok(r !== undefined, `-R did not come back\n${driver!.log.slice(-20).join('\n')}`);
      const [newPid] = await serverListeners(lab!.natlab, remotePort);
      assert.notEqual(newPid, oldPid, 'a new sshd holds the port');
    });

    test('after a router reboot (conntrack -F): a SOCKS request finds the dead path and is served within a few seconds', async (t) => {
      if (!ready(t)) return;
      await sleep(1000);
      const rebootAt = Date.now();
      await lab!.natlab.reboot();
      // The request is a user action: a demand probe finds the dead path in about a second,
      // the session reconnects, and the held request is served on the new connection.
      const ok = await viaSocks(lab!.natlab, socksPort, 20);
      const d = Date.now() - rebootAt;
      t.diagnostic(`reboot: -D request answered ${d} ms after the reboot (one request, held through the reconnect)`);
      assert.ok(ok, `-D did not come back\n${driver!.log.slice(-20).join('\n')}`);
      assert.ok(d < 8000, `took ${d} ms`);
    });
  });

  describe('without reclaim: a stale -R listener on the server', { concurrency: false }, () => {
    const remotePort = 19002;
    let driver: Driver | undefined;
    before(async () => {
      if (!lab) return;
      driver = new Driver(lab, ['--remote', `${remotePort}:127.0.0.1:${clientHttpPort}`, '--retry', '500:2000']);
      await driver.waitFor((e) => e.event === 'ready', 20_000);
    });
    after(async () => {
      await driver?.stop();
    });

    test('is reported `waiting` with the reason, and restored once sshd frees the port', async (t) => {
      if (!ready(t)) return;
      assert.ok(await viaRemote(lab!.natlab, remotePort, 5));
      const [stalePid] = await serverListeners(lab!.natlab, remotePort);
      assert.ok(stalePid);
      const rebootAt = Date.now();
      await lab!.natlab.reboot();
      const waiting = await driver!.waitFor(
        (e) => e.event === 'forward' && e.kind === 'remote' && e.state === 'waiting' && /still holds port/.test(String(e.reason)),
        30_000,
        rebootAt,
      );
      t.diagnostic(`reboot: ${waiting.t - rebootAt} ms later the forward says: ${waiting.reason}`);
      assert.equal(waiting.reason, `the server still holds port ${remotePort} from the previous connection; retrying`);
      await sleep(4000);
      const last = driver!.events.filter((e) => e.event === 'forward' && e.kind === 'remote').at(-1)!;
      assert.equal(last.state, 'waiting', 'it keeps retrying and keeps saying why');
      assert.deepEqual(await serverListeners(lab!.natlab, remotePort), [stalePid], 'the old sshd still holds the port');
      // sshd notices the dead connection at last (what ClientAliveInterval would do): it exits.
      const freedAt = Date.now();
      await lab!.natlab.exec(lab!.natlab.serverNs, 'kill', [String(stalePid)]);
      const active = await driver!.waitFor((e) => e.event === 'forward' && e.kind === 'remote' && e.state === 'active', 10_000, freedAt);
      t.diagnostic(`-R active again ${active.t - freedAt} ms after the stale sshd exited (retry cap 2 s)`);
      assert.ok(await viaRemote(lab!.natlab, remotePort, 5));
    });
  });
});

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { natlabAvailable } from '../../tools/peers/natlab';
import { type Lab, setupLab } from '../../tools/peers/natlabSshd';
import { sshdAvailability } from '../../tools/peers/sshd';
import { requireOrSkip } from '../harness/skip';
import { fetchThrough, KeepaliveCli, sleep } from './lab';

// The NAT forgets an idle flow after this many seconds; keepalives every 2 s keep it.
const natTimeoutSec = 4;
const keepalive = ['-o', 'ServerAliveInterval=2', '-o', 'ServerAliveCountMax=3'];

describe('ssh-keepalive through a real NAT (natlab)', () => {
  let lab: Lab | undefined;
  let cli: KeepaliveCli | undefined;
  const port = 18080;

  before(async () => {
    if (!natlabAvailable().ok || !sshdAvailability().ok) return;
    lab = await setupLab(natTimeoutSec);
    cli = new KeepaliveCli(lab, port, keepalive);
    await cli.waitFor((e) => e.event === 'connected', 15_000);
  });
  after(async () => {
    await cli?.stop();
    await lab?.dispose();
  });

  const ready = (t: import('node:test').TestContext) => requireOrSkip(t, natlabAvailable) && requireOrSkip(t, sshdAvailability) && !!lab && !!cli;

  test('connected with an RTT, and the forward carries traffic', async (t) => {
    if (!ready(t)) return;
    const connected = cli!.events.find((e) => e.event === 'connected')!;
    assert.equal(typeof connected.rttMs, 'number');
    const r = await fetchThrough(lab!.natlab, port, 5);
    assert.ok(r.ok, r.out);
  });

  test('idle for 3x the NAT timeout stays connected thanks to keepalives', async (t) => {
    if (!ready(t)) return;
    const since = Date.now();
    await sleep(natTimeoutSec * 3 * 1000);
    assert.deepEqual(
      cli!.kinds(since).filter((k) => k === 'lost'),
      [],
      'no loss while idle',
    );
    const r = await fetchThrough(lab!.natlab, port, 3);
    assert.ok(r.ok, `forward works after idling: ${r.out}`);
    // The NAT really forgets idle flows: conntrack holds our flow only because of keepalives.
    assert.match(await lab!.natlab.conntrack(), /dport=22\b/);
  });

  test('after an outage longer than the NAT timeout, it is restored once the path heals', async (t) => {
    if (!ready(t)) return;
    const since = Date.now();
    await lab!.natlab.outage();
    await cli!.waitFor((e) => e.event === 'lost', 15_000, since);
    await cli!.waitFor((e) => e.event === 'waiting', 5000, since);
    await sleep(3000);
    const healedAt = Date.now();
    await lab!.natlab.heal();
    const restored = await cli!.waitFor((e) => e.event === 'restored', 10_000, healedAt);
    const ms = restored.at - healedAt;
    t.diagnostic(`restored ${ms} ms after the heal`);
    assert.ok(ms < 4000, `restored ${ms} ms after heal`);
    const r = await fetchThrough(lab!.natlab, port, 5);
    assert.ok(r.ok, r.out);
  });

  test('after a router reboot (conntrack -F) a user action on the forward gets through within about 2 s', async (t) => {
    if (!ready(t)) return;
    await sleep(1000);
    await lab!.natlab.reboot();
    const r = await fetchThrough(lab!.natlab, port, 10);
    t.diagnostic(`forward answered ${r.ms} ms after the reboot`);
    assert.ok(r.ok, r.out);
    assert.ok(r.ms < 3000, `took ${r.ms} ms`);
  });

  test('a forward client that connects during an outage is served after the heal', async (t) => {
    if (!ready(t)) return;
    const since = Date.now();
    await lab!.natlab.outage();
    await cli!.waitFor((e) => e.event === 'lost', 15_000, since);
    // The client connects while the path is down; it is held, not refused.
    const pending = fetchThrough(lab!.natlab, port, 30);
    await sleep(4000);
    await lab!.natlab.heal();
    const r = await pending;
    assert.ok(r.ok, `held client served after the heal: ${r.out}`);
  });
});

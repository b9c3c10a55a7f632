import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { natlabAvailable } from '../../tools/peers/natlab';
import { type Lab, setupLab } from '../../tools/peers/natlabSshd';
import { sshdAvailability } from '../../tools/peers/sshd';
import { requireOrSkip } from '../harness/skip';
import { fetchThrough, KeepaliveCli, sleep } from './lab';

// A NAT that forgets idle flows after 6 s, and the default keepalive (every 15 s): every idle
// of more than 6 s used to kill the connection silently, forever (issue 14 item 3).
const natTimeoutSec = 6;

describe('a keepalive interval that fits the path (natlab, NAT idle timeout 6 s, default settings)', () => {
  let lab: Lab | undefined;
  let cli: KeepaliveCli | undefined;
  const port = 18081;
  // The CLI's state directory, shared by the runs of this file (what a run learned is kept there).
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ska-adaptive-state-'));

  before(async () => {
    if (!natlabAvailable().ok || !sshdAvailability().ok) return;
    lab = await setupLab(natTimeoutSec);
    cli = new KeepaliveCli(lab, port, [], stateDir);
    await cli.waitFor((e) => e.event === 'connected', 15_000);
  });
  after(async () => {
    await cli?.stop();
    await lab?.dispose();
    fs.rmSync(stateDir, { recursive: true, force: true });
  });

  const ready = (t: import('node:test').TestContext) => requireOrSkip(t, natlabAvailable) && requireOrSkip(t, sshdAvailability) && !!lab && !!cli;

  test('after the first idle death the interval is kept under the NAT timeout, said so; 60 s idle then bring no death and the forward works', async (t) => {
    if (!ready(t)) return;
    const start = Date.now();
    const unconfirmed = await cli!.waitFor((e) => e.event === 'unconfirmed', 30_000, start);
    // The death is `lost`, or `checking` when the session keeper bridges it with a second
    // connection (the -L forward rides the keeper); either is the path dying while idle.
    const lost = await cli!.waitFor((e) => e.event === 'lost' || e.event === 'checking', 30_000, start);
    t.diagnostic(
      `first idle death noticed ${lost.at - start} ms into the idle (unconfirmed after ${unconfirmed.at - start} ms, ${lost.event}): ${String(lost.reason)}`,
    );
    assert.ok(unconfirmed.at <= lost.at, 'unconfirmed before lost');
    await cli!.waitFor((e) => e.event === 'restored', 20_000, lost.at);
    const said = cli!.stderr.find((l) => /drops idle connections/.test(l));
    assert.match(said ?? cli!.stderr.join('\n'), /this network drops idle connections after at most \d+(\.\d)? s; keepalive every \d+(\.\d)? s/);
    const interval = Number(/keepalive every (\d+(?:\.\d)?) s/.exec(said!)![1]);
    assert.ok(interval < natTimeoutSec && interval >= 2, `the learned interval ${interval} s is under the NAT's ${natTimeoutSec} s and above the floor`);

    const idleFrom = Date.now();
    await sleep(60_000);
    assert.deepEqual(
      cli!.kinds(idleFrom).filter((k) => k === 'lost' || k === 'checking'),
      [],
      'no further death while idle',
    );
    const r = await fetchThrough(lab!.natlab, port, 5);
    assert.ok(r.ok, `the forward works after 60 s idle: ${r.out}`);
  });

  test('a path that goes dark while idle turns unconfirmed within the interval + a few RTTs, with no user action', async (t) => {
    if (!ready(t)) return;
    const said = cli!.stderr.find((l) => /drops idle connections/.test(l));
    const intervalMs = said ? Number(/keepalive every (\d+(?:\.\d)?) s/.exec(said)![1]) * 1000 : 15_000;
    await sleep(500);
    const darkAt = Date.now();
    await lab!.natlab.outage();
    try {
      const unconfirmed = await cli!.waitFor((e) => e.event === 'unconfirmed', intervalMs + 10_000, darkAt);
      const ms = unconfirmed.at - darkAt;
      t.diagnostic(`unconfirmed ${ms} ms after the path went dark (interval ${intervalMs} ms)`);
      assert.ok(ms <= intervalMs + 2500, `unconfirmed after ${ms} ms`);
      const lost = await cli!.waitFor((e) => e.event === 'lost' || e.event === 'checking', 5000, darkAt);
      t.diagnostic(`lost ${lost.at - darkAt} ms after the path went dark`);
    } finally {
      await lab!.natlab.heal();
    }
    await cli!.waitFor((e) => e.event === 'restored', 20_000, darkAt);
  });

  test('remembered per network: the next run on this network starts at the learned interval, and dies no more while idle', async (t) => {
    if (!ready(t)) return;
    const file = path.join(stateDir, 'ssh-keepalive', 'keepalive-learned.json');
    const saved = JSON.parse(fs.readFileSync(file, 'utf8')) as { networks: Record<string, { diesAfterMs: number; intervalMs: number }> };
    t.diagnostic(`kept: ${JSON.stringify(saved.networks)}`);
    await cli!.stop();
    const startedAt = Date.now();
    cli = new KeepaliveCli(lab!, port, [], stateDir);
    await cli.waitFor((e) => e.event === 'connected', 15_000, startedAt);
    // The configured interval (15 s) would die in the first idle past the NAT's 6 s.
    const idleFrom = Date.now();
    await sleep(3 * natTimeoutSec * 1000);
    assert.deepEqual(
      cli.kinds(idleFrom).filter((k) => k === 'lost'),
      [],
      `no death while idle for ${3 * natTimeoutSec} s; stderr: ${cli.stderr.join(' | ')}`,
    );
    const r = await fetchThrough(lab!.natlab, port, 5);
    assert.ok(r.ok, `the forward works after the idle: ${r.out}`);
  });
});

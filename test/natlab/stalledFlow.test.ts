import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { natlabAvailable } from '../../tools/peers/natlab';
import { type Lab, setupLab } from '../../tools/peers/natlabSshd';
import { sshdAvailability } from '../../tools/peers/sshd';
import { requireOrSkip } from '../harness/skip';
import { KeepaliveCli, sleep } from './lab';

/** Serves an endless download: 4 KiB every 20 ms, so that bytes flow until the path dies. */
const streamPort = 8001;
const streamServer = `
require('http').createServer((req, res) => {
  const chunk = Buffer.alloc(4096, 120);
  const t = setInterval(() => res.write(chunk), 20);
  res.on('close', () => clearInterval(t));
}).listen(${streamPort}, '127.0.0.1', () => console.log('stream ready'));`;

describe('a stalled flow is noticed (natlab; default keepalive of 15 s)', () => {
  let lab: Lab | undefined;
  let cli: KeepaliveCli | undefined;
  const port = 18082;
  const streamLocalPort = 18083;

  before(async () => {
    if (!natlabAvailable().ok || !sshdAvailability().ok) return;
    lab = await setupLab(300);
    const server = lab.natlab.spawn(lab.natlab.serverNs, process.execPath, ['-e', streamServer]);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the stream server did not start within 10 s')), 10_000);
      server.stdout!.on('data', (d: Buffer) => {
        if (d.toString().includes('stream ready')) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    cli = new KeepaliveCli(lab, port, ['-L', `127.0.0.1:${streamLocalPort}:127.0.0.1:${streamPort}`]);
    await cli.waitFor((e) => e.event === 'connected', 15_000);
  });
  after(async () => {
    await cli?.stop();
    await lab?.dispose();
  });

  const ready = (t: import('node:test').TestContext) => requireOrSkip(t, natlabAvailable) && requireOrSkip(t, sshdAvailability) && !!lab && !!cli;

  test('a download that stops because the path died: lost within about 2 s, not after interval x count', async (t) => {
    if (!ready(t)) return;
    const { natlab } = lab!;
    const curl = natlab.spawn(natlab.clientNs, 'curl', ['-s', '-o', '/dev/null', '--max-time', '60', `http://127.0.0.1:${streamLocalPort}/`]);
    t.after(() => curl.kill('SIGKILL'));
    await sleep(3000);
    assert.strictEqual(curl.exitCode, null, 'the download is flowing');
    const darkAt = Date.now();
    await natlab.outage();
    try {
      // The dead path is said within about 2 s: `lost`, or `checking` when the download rides
      // the session keeper (make-before-break tries a second connection before giving the
      // path up; `lost` follows once that fails too).
      const noticed = await cli!.waitFor((e) => e.event === 'lost' || e.event === 'checking', 10_000, darkAt);
      const ms = noticed.at - darkAt;
      t.diagnostic(`${noticed.event} ${ms} ms after the path died mid-download: ${String(noticed.reason)}`);
      assert.ok(ms < 3000, `${noticed.event} after ${ms} ms`);
      // Lost once the doubt's longer wait is over too (six deadlines: a lossy path is not cut
      // sooner, see Keepalive.suspect), still far from interval x count (45 s).
      const lost = await cli!.waitFor((e) => e.event === 'lost', 15_000, darkAt);
      t.diagnostic(`lost ${lost.at - darkAt} ms after the path died: ${String(lost.reason)}`);
      assert.ok(lost.at - darkAt < 12_000, `lost after ${lost.at - darkAt} ms, not after interval x count`);
    } finally {
      await natlab.heal();
    }
    await cli!.waitFor((e) => e.event === 'restored', 20_000, darkAt);
  });
});

/**
 * The first request on a new -L connection after 2 s quiet, through a 300 ms RTT delay
 * line, with `ssh` beside ssh-keepalive: ssh opens the channel at once (one round trip) and
 * then the request goes through (another). ssh-keepalive's demand probe must run beside the
 * channel open, not before it (that was a third round trip).
 */
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { connect, createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { writeClientFiles } from '../../tools/peers/clientFiles';
import { startDelayLine } from '../../tools/peers/delayLine';
import { freePort, sshdAvailability, startSshd } from '../../tools/peers/sshd';
import { sleep, within } from '../harness/bounded';
import { startClient, tools, type Tool } from '../harness/forwardClient';
import { requireOrSkip } from '../harness/skip';

const RTT_MS = 300;

async function echoServer(t: TestContext): Promise<number> {
  const server = createServer((s) => {
    s.on('error', () => undefined);
    s.pipe(s);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise((r) => server.close(r)));
  return (server.address() as AddressInfo).port;
}

/** ms from connect() until 64 bytes sent through the forward come back. */
function firstRequest(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const s = connect({ host: '127.0.0.1', port, noDelay: true });
    let got = 0;
    s.on('connect', () => s.write(Buffer.alloc(64, 0x71)));
    s.on('data', (d: Buffer) => {
      got += d.length;
      if (got < 64) return;
      s.destroy();
      resolve(performance.now() - started);
    });
    s.on('error', reject);
  });
}

test('first request on a new -L connection after 2 s quiet: two round trips, as with ssh', async (t) => {
  if (!requireOrSkip(t, sshdAvailability())) return;
  const sshd = await startSshd();
  t.after(() => sshd.stop());
  const line = await startDelayLine({ targetHost: sshd.host, targetPort: sshd.port, oneWayMs: RTT_MS / 2 });
  t.after(() => line.close());
  const dir = join(sshd.dir, 'via-delay-line');
  await mkdir(dir);
  const files = await writeClientFiles({
    dir,
    alias: 'slow',
    host: line.host,
    port: line.port,
    user: sshd.user,
    clientKeyPath: sshd.clientKeyPath,
    hostKeyPublicLine: sshd.hostKeyPublicLine,
  });
  const target = await echoServer(t);
  const took = new Map<Tool, number>();
  for (const tool of tools) {
    const localPort = await freePort();
    const client = await startClient(tool, { configPath: files.sshConfigPath, alias: 'slow' }, [{ localPort, targetPort: target }]);
    t.after(() => client.stop());
    await sleep(2000); // well past the demand probe's quiet time (1 s), counted from the last packet
    took.set(tool, await within(firstRequest(localPort), 10_000, `${tool}: the echo of the first request`));
  }
  const ours = took.get('ssh-keepalive')!;
  t.diagnostic(`ssh-keepalive ${took.get('ssh-keepalive')!.toFixed(0)} ms, ssh ${took.get('ssh')!.toFixed(0)} ms`);
  const ssh = took.get('ssh')!;
  assert.ok(ours < 2.5 * RTT_MS, `ssh-keepalive took ${ours.toFixed(0)} ms (ssh ${ssh.toFixed(0)} ms): more than two round trips of ${RTT_MS} ms`);
  assert.ok(ours < ssh + RTT_MS / 2, `ssh-keepalive took ${ours.toFixed(0)} ms, ssh ${ssh.toFixed(0)} ms`);
});

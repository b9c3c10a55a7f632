import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { after, before, test, type TestContext } from 'node:test';
import { nullLogger } from '../../src/core/base/logger';
import { resolveHost } from '../../src/core/config/sshConfig';
import { ForwardRegistry } from '../../src/core/forward/registry';
import type { Forward } from '../../src/core/forward/types';
import { KeeperLink } from '../../src/core/keeper/keeperLink';
import { noPrompter } from '../../src/core/session/prompter';
import { Session, sessionOptionsFor } from '../../src/core/session/session';
import { startFaultProxy, type FaultProxy } from '../../tools/peers/faultProxy';
import { sshdAvailability, startSshd, type SshdHandle } from '../../tools/peers/sshd';
import { sleep, until, within } from '../harness/bounded';
import { fastRetry, fastSession } from '../harness/fastOptions';
import { keeperProgramText } from '../harness/keeperPeer';
import { configThroughProxy } from '../harness/proxiedConfig';
import { requireOrSkip } from '../harness/skip';
import { openLocal, paced, receive, socks5, type Received } from '../harness/transfers';

/**
 * Data integrity through forwards (real sshd behind a fault proxy, core Session):
 * - without the keeper, a transfer cut by a drop ends with a reset (ECONNRESET) on our side
 *   of the forward, never a clean end after lost bytes: the local client of -L and -D, the
 *   local target of -R (test/integration/keptForwards.test.ts has -L under a router reboot);
 * - once the session is restored, a new transfer through the same forward carries a
 *   several-MiB random payload both ways byte-exact (sha256 at both ends); through -R the
 *   local target ends first, with more than the channel window still queued (it caught a
 *   pipe that closed the channel before writing that out: a clean end after lost bytes);
 * - on the keeper, an upload and its echo through a kept -L cross a drop complete and
 *   hash-identical both ways (keptForwards.test.ts has downloads).
 */

const MiB = 1024 * 1024;
const program = keeperProgramText();

let sshd: SshdHandle | undefined;
before(async () => {
  if (sshdAvailability().ok) sshd = await startSshd({ alias: 'integrity' });
});
after(() => sshd?.stop());

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Every connection's upload as the target saw it, and how it ended. */
interface EchoTarget {
  port: number;
  seen: Received[];
}

/** Echoes every byte back while hashing it; the client's EOF is passed on after the echo. */
async function echoTarget(t: TestContext): Promise<EchoTarget> {
  const seen: Received[] = [];
  const server: Server = createServer({ allowHalfOpen: true }, (s) => {
    const hash = createHash('sha256');
    let bytes = 0;
    let done = false;
    const finish = (ending: string) => {
      if (done) return;
      done = true;
      seen.push({ bytes, sha256: hash.digest('hex'), ending });
    };
    s.on('data', (d: Buffer) => {
      hash.update(d);
      bytes += d.length;
      s.write(d);
    });
    s.on('end', () => {
      finish('end');
      s.end();
    });
    s.on('error', (err: NodeJS.ErrnoException) => finish(err.code ?? err.message));
    s.on('close', () => finish('closed without end'));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise((r) => server.close(r)));
  return { port: (server.address() as AddressInfo).port, seen };
}

/**
 * Sends `payload` on `socket` at about `bytesPerSec` (as fast as backpressure allows when
 * undefined), then half-closes; resolves with what came back until the end.
 */
function upload(socket: Socket, payload: Buffer, bytesPerSec?: number): Promise<Received> {
  const back = receive(socket);
  const chunk = bytesPerSec ? Math.max(1, Math.round(bytesPerSec / 50)) : 64 * 1024;
  let at = 0;
  const step = () => {
    while (at < payload.length && !socket.destroyed) {
      const ok = socket.write(payload.subarray(at, at + chunk));
      at += chunk;
      if (at >= payload.length) return void socket.end();
      if (bytesPerSec) return void setTimeout(step, 20);
      if (!ok) return void socket.once('drain', step);
    }
  };
  step();
  return back;
}

/** A session through a fault proxy, with a forward registry (and the keeper with `keeper`). */
async function setup(t: TestContext, keeper: boolean): Promise<{ proxy: FaultProxy; session: Session; registry: ForwardRegistry }> {
  const proxy = await startFaultProxy('127.0.0.1', sshd!.port);
  const host = resolveHost(sshd!.alias, { configFile: configThroughProxy(sshd!, proxy.port), env: { SSH_AUTH_SOCK: undefined } });
  const session = new Session(host, sessionOptionsFor(host, fastSession), { prompter: noPrompter, logger: nullLogger });
  let link: KeeperLink | undefined;
  const keeperSource = keeper
    ? () => Promise.resolve((link ??= new KeeperLink(session, { program, name: `di${process.pid}-${proxy.port}`, idleSeconds: 60 })))
    : undefined;
  const registry = new ForwardRegistry(session, nullLogger, { ...fastRetry, keeper: keeperSource });
  t.after(async () => {
    registry.dispose();
    link?.dispose();
    session.dispose();
    await proxy.close();
  });
  await within(session.start(), 15_000, 'the session to connect');
  return { proxy, session, registry };
}

const portOf = (f: Forward) => Number(f.address!.split(':').pop());

/** Waits until the session is connected again after a drop and the forward is active. */
async function restored(session: Session, forward: Forward): Promise<void> {
  await until(() => session.state.kind !== 'connected', 10_000, 'the session to notice the drop');
  await until(() => session.state.kind === 'connected' && forward.state.kind === 'active', 20_000, `the session and ${forward.label} to be back`);
}

/** A fresh random payload up and back through `socket`: byte-exact both ways, clean ends. */
async function roundTrip(socket: Socket, target: EchoTarget, size: number, what: string): Promise<void> {
  const payload = randomBytes(size);
  const before = target.seen.length;
  const back = await within(upload(socket, payload), 30_000, `${what}: the echo of ${size} bytes`);
  await until(() => target.seen.length > before, 5000, `${what}: the target to see the upload end`);
  assert.deepEqual(target.seen[before], { bytes: size, sha256: sha(payload), ending: 'end' }, `${what}: the target got every byte, then a clean end`);
  assert.deepEqual(back, { bytes: size, sha256: sha(payload), ending: 'end' }, `${what}: every byte came back, then a clean end`);
}

const faults = {
  /** A router reboot: the flow is forgotten, nothing signalled. */
  reboot: (p: FaultProxy) => p.forgetAll(),
  /** The path goes silent for 3 s, then comes back (the old flow is gone by then). */
  outage: async (p: FaultProxy) => {
    p.forgetAll();
    p.blackhole();
    await sleep(3000);
    p.resume();
  },
};

test('-L without the keeper: a download cut by a 3 s outage ends with a reset; after the restore 4 MiB go both ways byte-exact', async (t) => {
  if (!requireOrSkip(t, sshdAvailability())) return;
  const download = await paced(16 * MiB, 6 * MiB);
  t.after(() => download.server.close());
  const echo = await echoTarget(t);
  const { proxy, session, registry } = await setup(t, false);
  const toDownload = await registry.add({ kind: 'local', spec: { bindAddress: '127.0.0.1', bindPort: 0, host: '127.0.0.1', hostPort: download.port } });
  const toEcho = await registry.add({ kind: 'local', spec: { bindAddress: '127.0.0.1', bindPort: 0, host: '127.0.0.1', hostPort: echo.port } });
  assert.equal(toDownload.kept, false);
  const client = await openLocal(portOf(toDownload));
  let seen = 0;
  client.on('data', (d: Buffer) => (seen += d.length));
  const got = receive(client);
  await until(() => seen > 2 * MiB, 15_000, 'the first 2 MiB');
  const fault = faults.outage(proxy);
  const r = await within(got, 30_000, 'the cut');
  assert.equal(r.ending, 'ECONNRESET', `the client saw ${r.ending} after ${r.bytes} bytes`);
  assert.ok(r.bytes < 16 * MiB, 'bytes were lost (else the test proves nothing)');
  await fault;
  await restored(session, toEcho);
  await roundTrip(await openLocal(portOf(toEcho)), echo, 4 * MiB, '-L after the restore');
});

test('-D without the keeper: a download cut by a router reboot ends with a reset; after the restore 4 MiB go both ways byte-exact', async (t) => {
  if (!requireOrSkip(t, sshdAvailability())) return;
  const download = await paced(16 * MiB, 6 * MiB);
  t.after(() => download.server.close());
  const echo = await echoTarget(t);
  const { proxy, session, registry } = await setup(t, false);
  const socks = await registry.add({ kind: 'dynamic', spec: { bindAddress: '127.0.0.1', bindPort: 0 } });
  assert.equal(socks.kept, false);
  const { code, socket } = await socks5(portOf(socks), download.port);
  assert.equal(code, 0, 'SOCKS succeeded');
  let seen = 0;
  socket.on('data', (d: Buffer) => (seen += d.length));
  const got = receive(socket);
  await until(() => seen > 2 * MiB, 15_000, 'the first 2 MiB');
  faults.reboot(proxy);
  const r = await within(got, 30_000, 'the cut');
  assert.equal(r.ending, 'ECONNRESET', `the SOCKS client saw ${r.ending} after ${r.bytes} bytes`);
  assert.ok(r.bytes < 16 * MiB, 'bytes were lost (else the test proves nothing)');
  await restored(session, socks);
  const again = await socks5(portOf(socks), echo.port);
  assert.equal(again.code, 0, 'SOCKS succeeded after the restore');
  await roundTrip(again.socket, echo, 4 * MiB, '-D after the restore');
});

test('-R without the keeper: an upload cut by a router reboot ends with a reset at the local target; after the restore 4 MiB go both ways byte-exact', async (t) => {
  if (!requireOrSkip(t, sshdAvailability())) return;
  const echo = await echoTarget(t);
  const { proxy, session, registry } = await setup(t, false);
  const fwd = await registry.add({ kind: 'remote', spec: { bindAddress: '127.0.0.1', bindPort: 0, host: '127.0.0.1', hostPort: echo.port } });
  assert.equal(fwd.kept, false);
  assert.equal(fwd.state.kind, 'active');
  // The "server side" is this machine too: a client of the port sshd listens on uploads,
  // slowly, through the forward to our local target.
  const remote = connect(portOf(fwd), '127.0.0.1');
  remote.on('error', () => undefined);
  void upload(remote, randomBytes(16 * MiB), 4 * MiB);
  await until(() => echo.seen.length === 0 && remote.bytesWritten > 2 * MiB, 15_000, 'the first 2 MiB of the upload');
  faults.reboot(proxy);
  await until(() => echo.seen.length === 1, 15_000, 'the local target to see the cut');
  assert.equal(echo.seen[0].ending, 'ECONNRESET', `the local target saw ${echo.seen[0].ending} after ${echo.seen[0].bytes} bytes`);
  assert.ok(echo.seen[0].bytes < 16 * MiB, 'bytes were lost (else the test proves nothing)');
  remote.destroy();
  await restored(session, fwd);
  await roundTrip(await openLocal(portOf(fwd)), echo, 4 * MiB, '-R after the restore');
});

for (const [name, fault] of Object.entries(faults)) {
  test(`-L on the keeper: an upload echoed back across a ${name === 'reboot' ? 'router reboot' : '3 s outage'} arrives complete and hash-identical both ways`, async (t) => {
    if (!requireOrSkip(t, sshdAvailability())) return;
    const echo = await echoTarget(t);
    const { proxy, registry } = await setup(t, true);
    const fwd = await registry.add({ kind: 'local', spec: { bindAddress: '127.0.0.1', bindPort: 0, host: '127.0.0.1', hostPort: echo.port } });
    const client = await openLocal(portOf(fwd));
    const payload = randomBytes(8 * MiB);
    const back = upload(client, payload, 4 * MiB);
    let seen = 0;
    client.on('data', (d: Buffer) => (seen += d.length));
    await until(() => seen > 2 * MiB, 15_000, 'the first 2 MiB back');
    assert.equal(fwd.kept, true, 'the forward is kept');
    await fault(proxy);
    const r = await within(back, 60_000, 'the whole echo');
    assert.deepEqual(r, { bytes: payload.length, sha256: sha(payload), ending: 'end' }, 'every byte came back, then a clean end');
    await until(() => echo.seen.length === 1, 5000, 'the target to see the upload end');
    assert.deepEqual(echo.seen[0], { bytes: payload.length, sha256: sha(payload), ending: 'end' }, 'the target got every byte, then a clean end');
  });
}

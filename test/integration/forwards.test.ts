import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import { Client } from 'ssh2';
import { waitForEvent } from '../../src/core/base/event';
import { nullLogger, type Logger } from '../../src/core/base/logger';
import { resolveHost } from '../../src/core/config/sshConfig';
import type { DynamicForward } from '../../src/core/forward/dynamicForward';
import type { LocalForward } from '../../src/core/forward/localForward';
import { ForwardRegistry, type ForwardRegistryOptions } from '../../src/core/forward/registry';
import type { RemoteForward } from '../../src/core/forward/remoteForward';
import { reclaimStaleListener } from '../../src/core/forward/staleListener';
import type { Forward, ForwardState } from '../../src/core/forward/types';
import { noPrompter } from '../../src/core/session/prompter';
import { Session, sessionOptionsFor, type SessionOptions } from '../../src/core/session/session';
import { startFaultProxy, type FaultProxy } from '../../tools/peers/faultProxy';
import { freePort, sshdAvailability, startSshd, type SshdHandle } from '../../tools/peers/sshd';
import { eventWithin, within } from '../harness/bounded';
import { requireOrSkip } from '../harness/skip';
import { fastRetry, fastSession } from '../harness/fastOptions';

/** -R and -D (and the registry) against a real OpenSSH sshd on loopback: the server side is this machine. */

function listen(server: Server, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve((server.address() as AddressInfo).port));
  });
}

function echoServer(t: TestContext): Promise<number> {
  // A connection cut by a drop resets the target (-R), as it resets a client (-L, -D).
  const srv = createServer((s) => s.on('error', () => undefined).pipe(s));
  t.after(() => srv.close());
  return listen(srv, '127.0.0.1');
}

/** Sends `msg`, resolves with what came back before the peer closed or `msg.length` bytes arrived. */
function roundTrip(port: number, msg: string, host = '127.0.0.1', timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = connect(port, host);
    let got = '';
    const timer = setTimeout(() => {
      c.destroy();
      reject(new Error(`no echo from ${host}:${port} within ${timeoutMs} ms (got ${JSON.stringify(got)})`));
    }, timeoutMs);
    c.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      // A peer that closes with unread data resets: for us that is "closed".
      if (err.code === 'ECONNRESET') resolve(got);
      else reject(err);
    });
    c.on('data', (d: Buffer) => {
      got += d.toString();
      if (got.length >= msg.length) {
        clearTimeout(timer);
        c.destroy();
        resolve(got);
      }
    });
    c.on('close', () => {
      clearTimeout(timer);
      resolve(got);
    });
    c.write(msg);
  });
}

/** Whether anything accepts TCP on host:port right now. */
function accepts(port: number, host = '127.0.0.1'): Promise<boolean> {
  const c = connect(port, host);
  const answered = new Promise<boolean>((resolve) => {
    c.once('connect', () => resolve(true));
    c.once('error', () => resolve(false));
  });
  return within(answered, 5000, `a TCP connect to ${host}:${port} to be accepted or refused`).finally(() => c.destroy());
}

function curl(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('curl', ['-sS', '--max-time', '10', ...args], (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? -1) : 0, stdout, stderr });
    });
  });
}

function waitState(f: Forward, pred: (s: ForwardState) => boolean, timeoutMs: number): Promise<ForwardState> {
  if (pred(f.state)) return Promise.resolve(f.state);
  return waitForEvent(f.onDidChangeState, pred, timeoutMs).catch((err) => {
    throw new Error(`${f.label}: ${(err as Error).message}; state is ${JSON.stringify(f.state)}`);
  });
}

async function until(pred: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await pred())) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A logger that keeps lines, to assert on what was logged (the reclaim must say what it did). */
function memoryLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const push = (level: string) => (m: string) => lines.push(`${level} ${m}`);
  return { lines, trace: push('trace'), debug: push('debug'), info: push('info'), warn: push('warn'), error: push('error') };
}

/** Pids of processes listening on `port` (as this user sees them). */
function listenerPids(port: number): Promise<number[]> {
  return new Promise((resolve) => {
    execFile('ss', ['-tlpn', `sport = :${port}`], (_err, stdout) => {
      resolve([...new Set([...stdout.matchAll(/pid=(\d+)/g)].map((m) => Number(m[1])))]);
    });
  });
}

const ipv6Loopback: Promise<boolean> = new Promise((resolve) => {
  const s = createServer();
  s.once('error', () => resolve(false));
  s.listen(0, '::1', () => s.close(() => resolve(true)));
});

describe('remote (-R) and dynamic (-D) forwards against a real OpenSSH sshd', () => {
  let sshd: SshdHandle | undefined;
  const cleanups: Array<() => void | Promise<void>> = [];
  before(async () => {
    if (!sshdAvailability().ok) return;
    sshd = await startSshd({ alias: 'fwd' });
  });
  after(async () => {
    for (const c of cleanups.reverse()) await c();
    await sshd?.stop();
  });
  const ready = (t: TestContext) => requireOrSkip(t, sshdAvailability) && !!sshd;

  async function connected(opts: { configFile?: string; session?: Partial<SessionOptions>; registry?: ForwardRegistryOptions; logger?: Logger } = {}) {
    const host = resolveHost(sshd!.alias, { configFile: opts.configFile ?? sshd!.sshConfigPath, env: { SSH_AUTH_SOCK: undefined } });
    const session = new Session(host, sessionOptionsFor(host, opts.session ?? {}), { prompter: noPrompter, logger: opts.logger ?? nullLogger });
    const registry = new ForwardRegistry(session, opts.logger ?? nullLogger, opts.registry ?? fastRetry);
    cleanups.push(() => {
      registry.dispose();
      session.dispose();
    });
    await within(session.start(), 15_000, 'the session to connect to sshd');
    return { session, registry };
  }

  test('-R round trip: a connection to the server-side port reaches a local echo server; counters move', async (t) => {
    if (!ready(t)) return;
    const echo = await echoServer(t);
    const { registry } = await connected();
    const port = await freePort();
    const fwd = (await registry.add({ kind: 'remote', spec: { bindPort: port, host: '127.0.0.1', hostPort: echo } })) as RemoteForward;
    assert.equal(fwd.state.kind, 'active', JSON.stringify(fwd.state));
    assert.equal(fwd.address, `localhost:${port}`);
    assert.equal(fwd.id, `R ${port}:127.0.0.1:${echo}`);
    assert.equal(await roundTrip(port, 'over the reverse tunnel'), 'over the reverse tunnel');
    assert.equal(await roundTrip(port, 'twice'), 'twice');
    await until(() => fwd.counters.openConnections === 0, 2000, 'connections to close');
    assert.equal(fwd.counters.totalConnections, 2);
    assert.equal(fwd.counters.bytesOut, 'over the reverse tunnel'.length + 'twice'.length);
    assert.equal(fwd.counters.bytesIn, fwd.counters.bytesOut);
  });

  test('-R bind addresses: "*" is sent as "" (all), an explicit ::1 as is; incoming channels match either', async (t) => {
    if (!ready(t)) return;
    const echo = await echoServer(t);
    const { registry } = await connected();
    const all = await freePort();
    const star = (await registry.add({ kind: 'remote', spec: { bindAddress: '*', bindPort: all, host: '127.0.0.1', hostPort: echo } })) as RemoteForward;
    assert.equal(star.bindAddress, '');
    assert.equal(star.address, `*:${all}`);
    assert.equal(star.state.kind, 'active', JSON.stringify(star.state));
    // GatewayPorts no: sshd still listens on loopback only.
    assert.equal(await roundTrip(all, 'to every interface'), 'to every interface');
    if (await ipv6Loopback) {
      const six = await freePort('::1');
      const v6 = (await registry.add({ kind: 'remote', spec: { bindAddress: '::1', bindPort: six, host: '127.0.0.1', hostPort: echo } })) as RemoteForward;
      assert.equal(v6.address, `[::1]:${six}`);
      assert.equal(v6.state.kind, 'active', JSON.stringify(v6.state));
      assert.equal(await roundTrip(six, 'over v6', '::1'), 'over v6');
    } else {
      t.diagnostic('::1 is not available here: the IPv6 bind part was skipped');
    }
  });

  test('-R with port 0: the server picks a port, reported in address and an event, and it works', async (t) => {
    if (!ready(t)) return;
    const echo = await echoServer(t);
    const { session, registry } = await connected();
    const { RemoteForward } = await import('../../src/core/forward/remoteForward');
    const fwd = new RemoteForward({ bindPort: 0, host: '127.0.0.1', hostPort: echo }, session, nullLogger);
    t.after(() => fwd.dispose());
    const announced = eventWithin(fwd.onDidChangeAddress, () => true, 5000, 'the port allocated for -R 0 to be announced');
    await within(fwd.start(), 10_000, 'the -R 0 forward to start');
    const { port, address } = await announced;
    assert.ok(port > 0);
    assert.equal(address, `localhost:${port}`);
    assert.equal(fwd.address, address);
    assert.equal(fwd.state.kind, 'active');
    assert.equal(await roundTrip(port, 'chosen by the server'), 'chosen by the server');
    // Through the registry too.
    const viaRegistry = await registry.add({ kind: 'remote', spec: { bindPort: 0, host: '127.0.0.1', hostPort: echo } });
    assert.match(viaRegistry.address ?? '', /^localhost:\d+$/);
    assert.notEqual(viaRegistry.address, address);
  });

  test('-R: a local target that refuses fails that one channel only', async (t) => {
    if (!ready(t)) return;
    const deadPort = await freePort();
    const echo = await echoServer(t);
    const { registry } = await connected();
    const [p1, p2] = [await freePort(), await freePort()];
    const bad = await registry.add({ kind: 'remote', spec: { bindPort: p1, host: '127.0.0.1', hostPort: deadPort } });
    await registry.add({ kind: 'remote', spec: { bindPort: p2, host: '127.0.0.1', hostPort: echo } });
    assert.equal(await roundTrip(p1, 'nobody home'), '', 'the server closes the refused connection');
    assert.equal(bad.state.kind, 'active', 'the forward itself stays up');
    assert.equal(await roundTrip(p2, 'still fine'), 'still fine');
    assert.equal(await roundTrip(p1, 'again'), '');
  });

  test('-D: curl through SOCKS5 with a host name, with an address, via SOCKS4/4a, and to IPv6 [::1]', async (t) => {
    if (!ready(t)) return;
    const http = createHttpServer((req, res) => res.end(`hello ${req.url}\n`));
    t.after(() => http.close());
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
    const httpPort = (http.address() as AddressInfo).port;
    const { registry } = await connected();
    const fwd = (await registry.add({ kind: 'dynamic', spec: { bindPort: 0 } })) as DynamicForward;
    assert.equal(fwd.state.kind, 'active');
    const proxy = fwd.address!;
    assert.match(proxy, /^127\.0\.0\.1:\d+$/);

    const byName = await curl(['--socks5-hostname', proxy, `http://localhost:${httpPort}/name`]);
    assert.equal(byName.stdout, 'hello /name\n', byName.stderr);
    const byAddress = await curl(['--socks5', proxy, `http://127.0.0.1:${httpPort}/address`]);
    assert.equal(byAddress.stdout, 'hello /address\n', byAddress.stderr);
    const v4 = await curl(['--socks4', proxy, `http://127.0.0.1:${httpPort}/v4`]);
    assert.equal(v4.stdout, 'hello /v4\n', v4.stderr);
    const v4a = await curl(['--socks4a', proxy, `http://localhost:${httpPort}/v4a`]);
    assert.equal(v4a.stdout, 'hello /v4a\n', v4a.stderr);
    assert.ok(fwd.counters.totalConnections >= 4);
    assert.ok(fwd.counters.bytesIn > 0 && fwd.counters.bytesOut > 0, JSON.stringify(fwd.counters));

    if (await ipv6Loopback) {
      const http6 = createHttpServer((req, res) => res.end(`six ${req.url}\n`));
      t.after(() => http6.close());
      await new Promise<void>((r) => http6.listen(0, '::1', r));
      const port6 = (http6.address() as AddressInfo).port;
      const v6 = await curl(['--socks5', proxy, `http://[::1]:${port6}/v6`]);
      assert.equal(v6.stdout, 'six /v6\n', v6.stderr);
    } else {
      t.diagnostic('::1 is not available here: the IPv6 CONNECT part was skipped');
    }
  });

  test('-D: a refused target gets SOCKS5 reply 05 (connection refused), an unknown name 04', async (t) => {
    if (!ready(t)) return;
    const { registry } = await connected();
    const fwd = await registry.add({ kind: 'dynamic', spec: { bindPort: 0 } });
    const proxyPort = Number(fwd.address!.split(':')[1]);
    const deadPort = await freePort();
    const ask = (atypAndAddr: number[], port: number) => {
      const c: Socket = connect(proxyPort, '127.0.0.1');
      const replied = new Promise<Buffer>((resolve, reject) => {
        const got: Buffer[] = [];
        c.on('data', (d: Buffer) => got.push(d));
        c.on('close', () => resolve(Buffer.concat(got)));
        c.on('error', reject);
        c.write(Buffer.from([5, 1, 0, 5, 1, 0, ...atypAndAddr, port >> 8, port & 0xff]));
      });
      return within(replied, 15_000, `the SOCKS reply and close for a CONNECT to port ${port}`).finally(() => c.destroy());
    };
    const refused = await ask([1, 127, 0, 0, 1], deadPort);
    assert.deepEqual([...refused.subarray(0, 4)], [5, 0, 5, 0x05], `reply ${refused.toString('hex')}`);
    const name = Buffer.from('no-such-host.invalid');
    const unknown = await ask([3, name.length, ...name], 80);
    assert.equal(unknown[3], 0x04, `reply ${unknown.toString('hex')}`);
  });

  test('registry: add/remove at run time; a removed -L port closes, a removed -R port is freed on the server', async (t) => {
    if (!ready(t)) return;
    const echo = await echoServer(t);
    const { session, registry } = await connected();
    const changes: string[] = [];
    registry.onDidChange((e) => changes.push(`${e.type} ${e.forward.kind}`));

    const local = (await registry.add({ kind: 'local', spec: { bindPort: 0, host: '127.0.0.1', hostPort: echo } })) as LocalForward;
    assert.equal(await roundTrip(local.port!, 'local'), 'local');
    const again = await registry.add({ kind: 'local', spec: { bindPort: 0, host: '127.0.0.1', hostPort: echo } });
    assert.equal(again, local, 'same id: the existing forward');
    assert.equal(registry.get(local.id), local);

    const rport = await freePort();
    const remote = await registry.add({ kind: 'remote', spec: { bindPort: rport, host: '127.0.0.1', hostPort: echo } });
    const dyn = await registry.add({ kind: 'dynamic', spec: { bindPort: 0 } });
    assert.deepEqual(
      registry.list().map((f) => f.kind),
      ['local', 'remote', 'dynamic'],
    );
    assert.equal(await roundTrip(rport, 'remote'), 'remote');

    assert.equal(registry.remove(local.id), true);
    assert.equal(registry.remove(local.id), false);
    assert.equal(await accepts(local.port!), false, 'the -L port is closed');

    assert.equal(registry.remove(remote.id), true);
    await until(async () => !(await accepts(rport)), 5000, 'the server to stop listening on the -R port');
    // Freed for real: the same port can be forwarded again at once.
    const re = await registry.add({ kind: 'remote', spec: { bindPort: rport, host: '127.0.0.1', hostPort: echo } });
    assert.equal(re.state.kind, 'active', JSON.stringify(re.state));
    assert.equal(await roundTrip(rport, 'back'), 'back');

    const dynPort = Number(dyn.address!.split(':')[1]);
    registry.remove(dyn.id);
    assert.equal(await accepts(dynPort), false, 'the -D port is closed');
    assert.equal(session.state.kind, 'connected');
    assert.ok(changes.includes('added remote') && changes.includes('removed remote') && changes.includes('state remote'), changes.join(', '));
  });

  test("registry: a local port in use is that forward's failure, listed with its reason; the session is unaffected", async (t) => {
    if (!ready(t)) return;
    const busy = createServer();
    t.after(() => busy.close());
    const port = await listen(busy, '127.0.0.1');
    const { session, registry } = await connected();
    const l = await registry.add({ kind: 'local', spec: { bindPort: port, host: '127.0.0.1', hostPort: 9 } });
    assert.equal(l.state.kind, 'failed');
    assert.match((l.state as { reason: string }).reason, new RegExp(`port 127\\.0\\.0\\.1:${port} is already in use`));
    const d = await registry.add({ kind: 'dynamic', spec: { bindPort: port } });
    assert.equal(d.state.kind, 'failed');
    assert.match((d.state as { reason: string }).reason, /already in use/);
    assert.deepEqual(registry.list(), [l, d]);
    assert.equal(session.state.kind, 'connected');
    // Two -R of one session on the same server port: the second fails clearly instead of retrying forever.
    const rport = await freePort();
    const r1 = await registry.add({ kind: 'remote', spec: { bindPort: rport, host: '127.0.0.1', hostPort: 1 } });
    const r2 = await registry.add({ kind: 'remote', spec: { bindPort: rport, host: '127.0.0.1', hostPort: 2 } });
    assert.equal(r1.state.kind, 'active');
    assert.equal(r2.state.kind, 'failed');
    assert.match((r2.state as { reason: string }).reason, /already forwarded by -R/);
  });

  test('forwards added before the session connects: -D holds a request, -R is requested once connected', async (t) => {
    if (!ready(t)) return;
    const echo = await echoServer(t);
    const host = resolveHost(sshd!.alias, { configFile: sshd!.sshConfigPath, env: { SSH_AUTH_SOCK: undefined } });
    const session = new Session(host, sessionOptionsFor(host), { prompter: noPrompter, logger: nullLogger });
    const registry = new ForwardRegistry(session, nullLogger, fastRetry);
    t.after(() => {
      registry.dispose();
      session.dispose();
    });
    const rport = await freePort();
    const remote = await registry.add({ kind: 'remote', spec: { bindPort: rport, host: '127.0.0.1', hostPort: echo } });
    assert.deepEqual(remote.state, { kind: 'waiting', reason: 'waiting for the session' });
    const dyn = (await registry.add({ kind: 'dynamic', spec: { bindPort: 0 } })) as DynamicForward;
    assert.equal(dyn.state.kind, 'waiting', 'bound, waiting for the session');
    // A SOCKS request before there is any connection: held (no reply yet), served once connected.
    const c = connect(dyn.port!, '127.0.0.1');
    t.after(() => c.destroy());
    const pending = new Promise<Buffer>((resolve, reject) => {
      const got: Buffer[] = [];
      c.on('error', reject);
      // Closed before the full reply: fail now with what came, not at the deadline.
      c.on('close', () => reject(new Error(`the held SOCKS client was closed after ${Buffer.concat(got).toString('hex') || 'no reply'}`)));
      c.on('data', (d: Buffer) => {
        got.push(d);
        const all = Buffer.concat(got);
        if (all.length >= 2 + 10 + 5) resolve(all);
      });
      c.write(Buffer.from([5, 1, 0, 5, 1, 0, 1, 127, 0, 0, 1, echo >> 8, echo & 0xff, ...Buffer.from('early')]));
    });
    pending.catch(() => undefined); // awaited below, after the session is up
    await new Promise((r) => setTimeout(r, 300));
    await within(session.start(), 15_000, 'the session to connect to sshd');
    await waitState(remote, (s) => s.kind === 'active', 5000);
    assert.equal(await roundTrip(rport, 'late but there'), 'late but there');
    const reply = await within(pending, 10_000, 'the SOCKS reply to the request held before the session connected');
    assert.deepEqual([...reply.subarray(0, 4)], [5, 0, 5, 0], 'method selection, then success');
    assert.equal(reply.subarray(12).toString(), 'early', 'bytes sent before the reply went through');
  });

  test('-R refused because the port is taken on the server: waiting with the reason, and restored once it is free', async (t) => {
    if (!ready(t)) return;
    const echo = await echoServer(t);
    const squatter = createServer();
    const port = await freePort();
    await new Promise<void>((r) => squatter.listen(port, '127.0.0.1', r));
    const { registry } = await connected();
    // Explicitly 127.0.0.1: "localhost" would also bind ::1, and sshd is content with one of them.
    const fwd = await registry.add({ kind: 'remote', spec: { bindAddress: '127.0.0.1', bindPort: port, host: '127.0.0.1', hostPort: echo } });
    assert.equal(fwd.state.kind, 'waiting');
    assert.match((fwd.state as { reason: string }).reason, new RegExp(`refused to listen on 127\\.0\\.0\\.1:${port} .*retrying`));
    await new Promise<void>((r) => squatter.close(() => r()));
    await waitState(fwd, (s) => s.kind === 'active', 5000);
    assert.equal(await roundTrip(port, 'after the squatter left'), 'after the squatter left');
  });

  describe('a stale listener left on the server by a silently dead connection', () => {
    /**
     * The session goes through a userland "NAT" that forgets the flow (no FIN, no RST reach
     * sshd): the old sshd keeps its -R listener, as after a real NAT reboot.
     */
    async function throughForgetfulProxy(t: TestContext, registry: ForwardRegistryOptions, logger: Logger = nullLogger) {
      const proxy: FaultProxy = await startFaultProxy('127.0.0.1', sshd!.port);
      t.after(() => proxy.close());
      const kh = join(sshd!.dir, `known_hosts_${proxy.port}`);
      writeFileSync(kh, `[127.0.0.1]:${proxy.port} ${sshd!.hostKeyPublicLine}\n`);
      const cfg = join(sshd!.dir, `proxy_config_${proxy.port}`);
      writeFileSync(
        cfg,
        readFileSync(sshd!.sshConfigPath, 'utf8')
          .replace(/Port \d+/, `Port ${proxy.port}`)
          .replace(sshd!.knownHostsPath, kh),
      );
      const c = await connected({ configFile: cfg, session: fastSession, registry, logger });
      return { proxy, ...c };
    }

    async function dropSilently(proxy: FaultProxy, session: Session): Promise<void> {
      proxy.setIdleTimeout(1);
      await eventWithin(session.onDidChangeState, (s) => s.kind === 'lost', 5000, 'the session to notice the silently dropped flow');
      proxy.setIdleTimeout(0);
      await eventWithin(session.onDidChangeState, (s) => s.kind === 'connected', 10_000, 'the session to reconnect after the silent drop');
    }

    test('without reclaim: `waiting` with "the server still holds port N", restored when that sshd goes', async (t) => {
      if (!ready(t)) return;
      const echo = await echoServer(t);
      const { proxy, session, registry } = await throughForgetfulProxy(t, fastRetry);
      const port = await freePort();
      const fwd = await registry.add({ kind: 'remote', spec: { bindPort: port, host: '127.0.0.1', hostPort: echo } });
      assert.equal(fwd.state.kind, 'active');
      const [stalePid] = await listenerPids(port);
      assert.ok(stalePid, 'an sshd listens for us');
      await dropSilently(proxy, session);
      const waiting = await waitState(fwd, (s) => s.kind === 'waiting' && /still holds port/.test(s.reason), 5000);
      assert.equal((waiting as { reason: string }).reason, `the server still holds port ${port} from the previous connection; retrying`);
      // It keeps trying and keeps saying so.
      await new Promise((r) => setTimeout(r, 2000));
      assert.equal(fwd.state.kind, 'waiting');
      // sshd "notices" the dead connection (ClientAliveInterval would do this): the port is freed.
      process.kill(stalePid, 'SIGTERM');
      const t0 = Date.now();
      await waitState(fwd, (s) => s.kind === 'active', 5000);
      t.diagnostic(`-R active again ${Date.now() - t0} ms after the stale sshd exited (retry cap 1.5 s)`);
      assert.equal(await roundTrip(port, 'restored'), 'restored');
    });

    test('with reclaimStale: the stale sshd is found and ended over the new connection, and the forward comes back by itself', async (t) => {
      if (!ready(t)) return;
      const echo = await echoServer(t);
      const logger = memoryLogger();
      const { proxy, session, registry } = await throughForgetfulProxy(t, fastRetry, logger);
      const port = await freePort();
      const fwd = await registry.add({ kind: 'remote', spec: { bindPort: port, host: '127.0.0.1', hostPort: echo }, reclaimStale: true });
      assert.equal(fwd.state.kind, 'active');
      const [stalePid] = await listenerPids(port);
      const lostAt = Date.now();
      await dropSilently(proxy, session);
      const reconnectedAt = Date.now();
      await waitState(fwd, (s) => s.kind === 'active', 10_000);
      t.diagnostic(`-R restored ${Date.now() - reconnectedAt} ms after the reconnect (${Date.now() - lostAt} ms after the drop)`);
      assert.equal(await roundTrip(port, 'reclaimed'), 'reclaimed');
      const line = logger.lines.find((l) => l.includes('reclaim of server port'));
      assert.ok(line, logger.lines.join('\n'));
      assert.match(line, new RegExp(`ended stale pid ${stalePid} \\(sshd: \\S+.*\\) with SIGTERM.*port is free`));
      assert.notEqual((await listenerPids(port))[0], stalePid);
      assert.equal(session.state.kind, 'connected', 'our own connection survived');
    });

    test('reclaim never ends the connection it runs over, nor a non-sshd process', async (t) => {
      if (!ready(t)) return;
      const { session } = await connected();
      const client = session.client!;
      const own = await freePort();
      await within(
        new Promise<void>((resolve, reject) => client.forwardIn('localhost', own, (err) => (err ? reject(err) : resolve()))),
        10_000,
        `sshd to grant -R ${own}`,
      );
      const o = await reclaimStaleListener(client, own, 10_000);
      assert.deepEqual(o.killed, []);
      assert.equal(o.skipped[0]?.why, 'own-connection', JSON.stringify(o));
      assert.equal(o.free, false);
      // Another program of the same user on a port (a child of this test, not an ancestor of the script).
      const plainPort = await freePort();
      const plain = spawn(process.execPath, ['-e', `require('net').createServer().listen(${plainPort}, '127.0.0.1', () => console.log('up'))`]);
      t.after(() => plain.kill());
      await within(new Promise((r) => plain.stdout.once('data', r)), 10_000, 'the plain listener to say it is up');
      const p = await reclaimStaleListener(client, plainPort, 10_000);
      assert.deepEqual(p.killed, []);
      assert.equal(p.skipped[0]?.why, 'not-sshd', JSON.stringify(p));
      assert.equal(await accepts(plainPort), true);
      // A live connection of someone else (same user) is an sshd session: it would be ended,
      // which is why reclaim is opt-in. Shown with a bystander client here.
      const bystander = new Client();
      t.after(() => bystander.end());
      await within(
        new Promise<void>((resolve, reject) => {
          bystander.once('ready', () => resolve()).once('error', reject);
          bystander.connect({
            host: sshd!.host,
            port: sshd!.port,
            username: sshd!.user,
            privateKey: readFileSync(sshd!.clientKeyPath),
            hostVerifier: () => true,
          });
        }),
        10_000,
        'the bystander client to log in',
      );
      const theirs = await freePort();
      await within(
        new Promise<void>((resolve, reject) => bystander.forwardIn('localhost', theirs, (err) => (err ? reject(err) : resolve()))),
        10_000,
        `sshd to grant the bystander -R ${theirs}`,
      );
      const closed = new Promise<void>((r) => bystander.once('close', () => r()));
      const q = await reclaimStaleListener(client, theirs, 10_000);
      assert.equal(q.killed.length, 1, JSON.stringify(q));
      assert.equal(q.free, true);
      await within(closed, 10_000, "the bystander's connection to end after its sshd was ended");
      assert.equal(session.state.kind, 'connected');
    });
  });
});

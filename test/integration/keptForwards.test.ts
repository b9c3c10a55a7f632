import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { connect, createServer, type AddressInfo } from 'node:net';
import { after, before, describe, test, type TestContext } from 'node:test';
import { nullLogger } from '../../src/core/base/logger';
import { resolveHost } from '../../src/core/config/sshConfig';
import { ForwardRegistry } from '../../src/core/forward/registry';
import type { Forward } from '../../src/core/forward/types';
import { KeeperLink } from '../../src/core/keeper/keeperLink';
import { noPrompter } from '../../src/core/session/prompter';
import { Session, sessionOptionsFor } from '../../src/core/session/session';
import { startFaultProxy, type FaultProxy } from '../../tools/peers/faultProxy';
import { cliPath } from '../../tools/peers/repo';
import type { SshdHandle } from '../../tools/peers/sshd';
import { sleep, until, within } from '../harness/bounded';
import { fastSession } from '../harness/fastOptions';
import { keeperProgramText } from '../harness/keeperPeer';
import { configThroughProxy } from '../harness/proxiedConfig';
import { testServers } from '../harness/servers';
import { requireOrSkip } from '../harness/skip';
import { openLocal, paced, receive, socks5 } from '../harness/transfers';

const program = keeperProgramText();

for (const server of testServers)
  describe(`forwards kept by the session keeper (${server.name})`, { timeout: 300_000 }, () => {
    let sshd: SshdHandle | undefined;
    const cleanups: Array<() => unknown> = [];
    before(async () => {
      if (!server.availability().ok) return;
      sshd = await server.start({ alias: 'keptfwd' });
    });
    after(async () => {
      for (const c of cleanups.reverse()) await c();
      await sshd?.stop();
    });
    const ready = (t: TestContext) => requireOrSkip(t, () => server.availability()) && !!sshd;

    /** A session through a fault proxy with a forward registry; with the keeper unless `keeper: false`. */
    async function setup(opts: { keeper?: boolean } = {}) {
      const proxy: FaultProxy = await startFaultProxy('127.0.0.1', sshd!.port);
      cleanups.push(() => proxy.close());
      const host = resolveHost(sshd!.alias, { configFile: configThroughProxy(sshd!, proxy.port), env: { SSH_AUTH_SOCK: undefined } });
      const session = new Session(host, sessionOptionsFor(host, fastSession), { prompter: noPrompter, logger: nullLogger });
      cleanups.push(() => session.dispose());
      let link: KeeperLink | undefined;
      const keeper =
        opts.keeper === false
          ? undefined
          : () => Promise.resolve((link ??= new KeeperLink(session, { program, name: `f${process.pid}-${proxy.port}`, idleSeconds: 120 })));
      const registry = new ForwardRegistry(session, nullLogger, { keeper });
      cleanups.push(() => registry.dispose());
      cleanups.push(() => link?.dispose());
      await within(session.start(), 15_000, 'the session to connect');
      return { proxy, session, registry };
    }

    async function localForward(registry: ForwardRegistry, targetPort: number): Promise<{ forward: Forward; port: number }> {
      const forward = await registry.add({ kind: 'local', spec: { bindAddress: '127.0.0.1', bindPort: 0, host: '127.0.0.1', hostPort: targetPort } });
      const port = Number(forward.address!.split(':').pop());
      return { forward, port };
    }

    for (const fault of ['router reboot', '6 s outage'] as const) {
      test(`-L: a 24 MB download survives a ${fault} byte-exact, and counts as carried`, async (t) => {
        if (!ready(t)) return;
        const target = await paced(24 * 1024 * 1024, 6 * 1024 * 1024);
        cleanups.push(() => target.server.close());
        const { proxy, registry } = await setup();
        const { forward, port } = await localForward(registry, target.port);
        const client = await openLocal(port);
        const got = receive(client);
        let seen = 0;
        client.on('data', (d: Buffer) => (seen += d.length));
        await until(() => seen > 4 * 1024 * 1024, 15_000, 'the first 4 MB');
        assert.equal(forward.kept, true, 'the forward is kept');
        proxy.forgetAll();
        if (fault === '6 s outage') {
          proxy.blackhole();
          await sleep(6000);
          proxy.resume();
        }
        const r = await within(got, 60_000, 'the download to finish');
        assert.deepEqual(r, { bytes: 24 * 1024 * 1024, sha256: target.sha256, ending: 'end' }, 'every byte, then a clean end');
        await until(() => forward.counters.carriedConnections === 1, 5000, 'the connection to count as carried');
      });
    }

    test('-D (SOCKS5): a download survives a router reboot byte-exact; a refused target gets the SOCKS refusal', async (t) => {
      if (!ready(t)) return;
      const target = await paced(16 * 1024 * 1024, 6 * 1024 * 1024);
      cleanups.push(() => target.server.close());
      const { proxy, registry } = await setup();
      const forward = await registry.add({ kind: 'dynamic', spec: { bindAddress: '127.0.0.1', bindPort: 0 } });
      const socksPort = Number(forward.address!.split(':').pop());
      const { code, socket } = await socks5(socksPort, target.port);
      assert.equal(code, 0, 'SOCKS succeeded');
      const got = receive(socket);
      let seen = 0;
      socket.on('data', (d: Buffer) => (seen += d.length));
      await until(() => seen > 2 * 1024 * 1024, 15_000, 'the first 2 MB');
      proxy.forgetAll();
      const r = await within(got, 60_000, 'the download to finish');
      assert.deepEqual(r, { bytes: 16 * 1024 * 1024, sha256: target.sha256, ending: 'end' });

      const closed = createServer();
      await new Promise<void>((res) => closed.listen(0, '127.0.0.1', res));
      const refusedPort = (closed.address() as AddressInfo).port;
      closed.close();
      const refused = await socks5(socksPort, refusedPort);
      refused.socket.destroy();
      assert.equal(refused.code, 5, 'SOCKS5 reply 5: connection refused');
    });

    test('-L to a target that refuses: the client gets a reset, not a clean end', async (t) => {
      if (!ready(t)) return;
      const { registry } = await setup();
      const closed = createServer();
      await new Promise<void>((res) => closed.listen(0, '127.0.0.1', res));
      const refusedPort = (closed.address() as AddressInfo).port;
      closed.close();
      const { port } = await localForward(registry, refusedPort);
      const r = await within(receive(await openLocal(port)), 10_000, 'the refusal');
      assert.equal(r.ending, 'ECONNRESET');
    });

    test('-L half-close: the request ends with the client EOF and the answer still comes back', async (t) => {
      if (!ready(t)) return;
      const echo = createServer({ allowHalfOpen: true }, (s) => {
        const parts: Buffer[] = [];
        s.on('data', (d: Buffer) => parts.push(d));
        s.on('end', () => s.end(`got ${Buffer.concat(parts).toString()}`));
      });
      await new Promise<void>((res) => echo.listen(0, '127.0.0.1', res));
      cleanups.push(() => echo.close());
      const { registry } = await setup();
      const { port } = await localForward(registry, (echo.address() as AddressInfo).port);
      const client = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
      const answer = new Promise<string>((resolve) => {
        let text = '';
        client.on('data', (d: Buffer) => (text += d.toString()));
        client.on('end', () => resolve(text));
      });
      client.end('ping');
      assert.equal(await within(answer, 10_000, 'the answer after our EOF'), 'got ping');
      client.destroy();
    });

    test('without the keeper, a download cut by a drop ends with a reset at the client (ECONNRESET), never a clean end', async (t) => {
      if (!ready(t)) return;
      const target = await paced(24 * 1024 * 1024, 6 * 1024 * 1024);
      cleanups.push(() => target.server.close());
      const { proxy, registry } = await setup({ keeper: false });
      const { forward, port } = await localForward(registry, target.port);
      assert.equal(forward.kept, false);
      const client = await openLocal(port);
      const got = receive(client);
      let seen = 0;
      client.on('data', (d: Buffer) => (seen += d.length));
      await until(() => seen > 2 * 1024 * 1024, 15_000, 'the first 2 MB');
      proxy.forgetAll();
      const r = await within(got, 30_000, 'the cut');
      assert.equal(r.ending, 'ECONNRESET', `the client saw ${r.ending} after ${r.bytes} bytes`);
      assert.ok(r.bytes < 24 * 1024 * 1024);
    });

    test('-R on the keeper: a request made on the server during a 6 s outage is answered after the heal', async (t) => {
      if (!ready(t)) return;
      const local = createServer((s) => s.end('hello from the client side\n'));
      await new Promise<void>((res) => local.listen(0, '127.0.0.1', res));
      cleanups.push(() => local.close());
      const { proxy, registry, session } = await setup();
      const forward = await registry.add({ kind: 'remote', spec: { bindPort: 0, host: '127.0.0.1', hostPort: (local.address() as AddressInfo).port } });
      assert.equal(forward.kept, true, 'the -R port is held by the keeper');
      assert.equal(forward.state.kind, 'active');
      const remotePort = Number(forward.address!.split(':').pop());
      // The "server side" is this machine too: connect to the port the keeper listens on.
      const first = await within(receive(await openLocal(remotePort)), 10_000, 'a first request');
      assert.equal(first.ending, 'end');
      proxy.forgetAll();
      proxy.blackhole();
      await until(() => session.state.kind !== 'connected', 10_000, 'the session to notice the outage');
      const during = receive(await openLocal(remotePort));
      await sleep(6000);
      const healedAt = Date.now();
      proxy.resume();
      const r = await within(during, 20_000, 'the held request to be answered');
      t.diagnostic(`held request answered ${Date.now() - healedAt} ms after the heal`);
      assert.equal(r.ending, 'end');
      assert.equal(r.bytes, 'hello from the client side\n'.length);
    });

    test('CLI with only -R: it stays up through an outage (nothing else holds the process) and the port answers after the heal', async (t) => {
      if (!ready(t)) return;
      const local = createServer((s) => s.end('hello from the client side\n'));
      await new Promise<void>((res) => local.listen(0, '127.0.0.1', res));
      cleanups.push(() => local.close());
      const proxy = await startFaultProxy('127.0.0.1', sshd!.port);
      cleanups.push(() => proxy.close());
      const cfg = configThroughProxy(sshd!, proxy.port);
      const args = ['-F', cfg, '-N', '-o', 'BatchMode=yes', '-o', 'ServerAliveInterval=1', '-o', 'ServerAliveCountMax=2'];
      const cli = spawn(process.execPath, [cliPath, ...args, '-R', `0:127.0.0.1:${(local.address() as AddressInfo).port}`, sshd!.alias], {
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      cleanups.push(() => cli.kill('SIGKILL'));
      let err = '';
      cli.stderr.on('data', (d: Buffer) => (err += d.toString()));
      let exited: number | null | undefined;
      cli.once('exit', (code) => (exited = code));
      await until(() => /Allocated port (\d+)/.test(err), 20_000, `the allocated port (stderr: ${err})`);
      const port = Number(/Allocated port (\d+)/.exec(err)![1]);
      assert.equal((await within(receive(await openLocal(port)), 10_000, 'a first request')).ending, 'end');
      proxy.forgetAll();
      proxy.blackhole();
      await sleep(5000);
      assert.equal(exited, undefined, `the CLI is still running through the outage (stderr: ${err})`);
      const during = receive(await openLocal(port));
      proxy.resume();
      const r = await within(during, 20_000, `the request made during the outage to be answered (stderr: ${err})`);
      assert.equal(r.bytes, 'hello from the client side\n'.length);
    });

    test('-W through the keeper as the ProxyCommand of OpenSSH: the inner session survives a router reboot', async (t) => {
      if (!ready(t)) return;
      const proxy = await startFaultProxy('127.0.0.1', sshd!.port);
      cleanups.push(() => proxy.close());
      const cfg = configThroughProxy(sshd!, proxy.port);
      const cli = cliPath;
      // ssh runs the ProxyCommand; its own connection goes to sshd directly through our -W.
      const ssh = spawn(
        'ssh',
        [
          '-F',
          cfg,
          '-o',
          `ProxyCommand=${process.execPath} ${cli} -F ${cfg} -o ServerAliveInterval=1 -o ServerAliveCountMax=2 -W 127.0.0.1:${sshd!.port} ${sshd!.alias}`,
          '-o',
          'ServerAliveInterval=30',
          '-T',
          sshd!.alias,
          'while read line; do echo "got-$line-$$"; done',
        ],
        { stdio: ['pipe', 'pipe', 'pipe'] },
      );
      cleanups.push(() => ssh.kill('SIGKILL'));
      let out = '';
      let err = '';
      ssh.stdout.on('data', (d: Buffer) => (out += d.toString()));
      ssh.stderr.on('data', (d: Buffer) => (err += d.toString()));
      ssh.stdin.write('one\n');
      await until(() => /got-one-\d+/.test(out), 20_000, `the first line (stderr: ${err})`);
      const pid = /got-one-(\d+)/.exec(out)![1];
      proxy.forgetAll();
      ssh.stdin.write('two\n');
      await until(() => out.includes('got-two-'), 20_000, `the line typed right after the reboot (stderr: ${err})`);
      await sleep(500);
      assert.equal(out.split('got-two-').length - 1, 1, 'ran once');
      assert.match(out, new RegExp(`got-two-${pid}`), 'in the same remote shell');
      ssh.stdin.end();
    });
  });

import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { connect, createServer, type AddressInfo, type Server } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import { waitForEvent } from '../../src/core/base/event';
import { nullLogger, type Logger } from '../../src/core/base/logger';
import { resolveHost } from '../../src/core/config/sshConfig';
import { ForwardRegistry, type ForwardRegistryOptions } from '../../src/core/forward/registry';
import type { Forward, ForwardState } from '../../src/core/forward/types';
import { type SessionError } from '../../src/core/session/errors';
import { noPrompter } from '../../src/core/session/prompter';
import { Session, sessionOptionsFor, type SessionOptions } from '../../src/core/session/session';
import { execCapture } from '../../src/core/shell/remoteExec';
import { RemoteShell, type ShellState } from '../../src/core/shell/remoteShell';
import { startFaultProxy, type FaultProxy } from '../../tools/peers/faultProxy';
import { freePort, type SshdHandle } from '../../tools/peers/sshd';
import { testServers } from '../harness/servers';
import { requireOrSkip } from '../harness/skip';
import { fastRetry, fastSession } from '../harness/fastOptions';
import { cliPath } from '../../tools/peers/repo';

/**
 * The core cases, one body each, against every test server (OpenSSH and Dropbear): connect,
 * host key, keepalive, a tmux shell that reattaches, -L/-R/-D, authentication failure, and
 * restore after the server's per-connection process is killed; then the defects Dropbear
 * showed (issue 16).
 */

function memoryLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const push = (level: string) => (m: string) => lines.push(`${level} ${m}`);
  return { lines, trace: push('trace'), debug: push('debug'), info: push('info'), warn: push('warn'), error: push('error') };
}

function listen(server: Server, host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve((server.address() as AddressInfo).port));
  });
}

function roundTrip(port: number, msg: string, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = connect(port, '127.0.0.1');
    let got = '';
    const timer = setTimeout(() => {
      c.destroy();
      reject(new Error(`no echo from 127.0.0.1:${port} within ${timeoutMs} ms (got ${JSON.stringify(got)})`));
    }, timeoutMs);
    c.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    c.on('data', (d: Buffer) => {
      got += d.toString();
      if (got.length >= msg.length) {
        clearTimeout(timer);
        c.destroy();
        resolve(got);
      }
    });
    c.write(msg);
  });
}

function waitState(f: Forward, pred: (s: ForwardState) => boolean, timeoutMs: number, what: string): Promise<ForwardState> {
  if (pred(f.state)) return Promise.resolve(f.state);
  return waitForEvent(f.onDidChangeState, pred, timeoutMs).catch(() => {
    throw new Error(`${f.label}: timed out after ${timeoutMs} ms waiting for ${what}; state is ${JSON.stringify(f.state)}`);
  });
}

function waitShell(shell: RemoteShell, kind: ShellState['kind'], timeoutMs = 15_000): Promise<ShellState> {
  if (shell.state.kind === kind) return Promise.resolve(shell.state);
  return waitForEvent(shell.onDidChangeState, (s) => s.kind === kind, timeoutMs).catch(() => {
    throw new Error(`timed out after ${timeoutMs} ms waiting for the shell to be ${kind}; it is ${JSON.stringify(shell.state)}`);
  });
}

function listenerPids(port: number): Promise<number[]> {
  return new Promise((resolve) => {
    execFile('ss', ['-tlpn', `sport = :${port}`], (_err, stdout) => resolve([...new Set([...stdout.matchAll(/pid=(\d+)/g)].map((m) => Number(m[1])))]));
  });
}

/** Screen text of a shell, searchable: what the tests type and wait for. */
function screenOf(shell: RemoteShell) {
  let text = '';
  const waiters: Array<() => void> = [];
  shell.onDidData((d) => {
    text += d;
    waiters.splice(0).forEach((w) => w());
  });
  const waitFor = (re: RegExp, from: number, timeoutMs = 10_000) =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${re}; screen tail: ${JSON.stringify(text.slice(-400))}`)),
        timeoutMs,
      );
      const check = () => {
        if (re.test(text.slice(from))) {
          clearTimeout(timer);
          resolve();
        } else waiters.push(check);
      };
      check();
    });
  return {
    run: async (command: string, expect: RegExp) => {
      const from = text.length;
      assert.equal(shell.write(`${command}\r`), true, `write refused in state ${JSON.stringify(shell.state)}`);
      await waitFor(expect, from);
    },
  };
}

function hasTmux(): boolean {
  return execFileSyncOk('tmux', ['-V']);
}

function execFileSyncOk(cmd: string, args: string[]): boolean {
  const { spawnSync } = require('node:child_process') as typeof import('node:child_process');
  return spawnSync(cmd, args, { stdio: 'ignore' }).status === 0;
}

for (const server of testServers) {
  describe(`core cases against ${server.name}`, () => {
    let srv: SshdHandle | undefined;
    const cleanups: Array<() => void | Promise<void>> = [];
    before(async () => {
      if (!server.availability().ok) return;
      srv = await server.start({ alias: 'core' });
    });
    after(async () => {
      for (const c of cleanups.reverse()) await c();
      await srv?.stop();
    });
    const ready = (t: TestContext) => requireOrSkip(t, server.availability) && !!srv;
    const tmuxReady = (t: TestContext) =>
      ready(t) && requireOrSkip(t, () => (hasTmux() ? { ok: true } : { ok: false, reason: 'tmux not installed (Debian package tmux)' }));

    function session(opts: { configFile?: string; session?: Partial<SessionOptions>; logger?: Logger } = {}): Session {
      const host = resolveHost(srv!.alias, { configFile: opts.configFile ?? srv!.sshConfigPath, env: { SSH_AUTH_SOCK: undefined } });
      const s = new Session(host, sessionOptionsFor(host, opts.session ?? {}), { prompter: noPrompter, logger: opts.logger ?? nullLogger });
      cleanups.push(() => s.dispose());
      return s;
    }

    function registryFor(s: Session, options: ForwardRegistryOptions = fastRetry, logger: Logger = nullLogger): ForwardRegistry {
      const r = new ForwardRegistry(s, logger, options);
      cleanups.unshift(() => r.dispose());
      return r;
    }

    function shellOn(s: Session, id: string): RemoteShell {
      const shell = new RemoteShell(s, { term: 'xterm-256color', cols: 100, rows: 30, reattach: true, id }, { logger: nullLogger });
      cleanups.push(() => shell.dispose());
      return shell;
    }

    function configWith(name: string, edit: (text: string) => string): string {
      const cfg = join(srv!.dir, name);
      writeFileSync(cfg, edit(readFileSync(srv!.sshConfigPath, 'utf8')));
      return cfg;
    }

    test('connects and runs a command with its exit status', async (t) => {
      if (!ready(t)) return;
      const s = session();
      await s.start();
      const r = await execCapture(s.client!, 'echo hello-$((6*7)); exit 3', 5000);
      assert.equal(r.stdout, 'hello-42\n');
      assert.equal(r.code, 3);
    });

    test('host key: the known key connects, another key under its name is refused as changed', async (t) => {
      if (!ready(t)) return;
      const other = join(srv!.dir, 'other_known_hosts');
      // An ed25519 key that is not the server's.
      writeFileSync(other, `[${srv!.host}]:${srv!.port} ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKpJ1FqkY0yYzZ1nBs0Xq4mJ0hO5p4zWkq2iJvKp7f1A\n`);
      const cfg = configWith('changed_config', (c) => c.replace(srv!.knownHostsPath, other));
      await assert.rejects(session({ configFile: cfg }).start(), (e: SessionError) => e.code === 'host-key-changed');
      await session().start();
    });

    test('keepalive: probes are answered (a failure reply counts as alive) and the session stays up', async (t) => {
      if (!ready(t)) return;
      const s = session({ session: { keepalive: { intervalMs: 200, countMax: 2, demandMinMs: 400, demandRttFactor: 4, quietMs: 100 } } });
      await s.start();
      let probes = 0;
      s.onDidProbe(() => probes++);
      await new Promise((r) => setTimeout(r, 1500));
      assert.equal(s.state.kind, 'connected');
      assert.ok(probes >= 3, `only ${probes} probe replies in 1.5 s at a 200 ms interval`);
      assert.equal(typeof s.rttMs, 'number');
    });

    test('authentication failure is fatal after one connection, and names what was tried', async (t) => {
      if (!ready(t)) return;
      const stranger = join(srv!.dir, 'stranger_key');
      execFileSyncOk('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', stranger]);
      const cfg = configWith('wrong_config', (c) => c.replace(srv!.clientKeyPath, stranger));
      const before = (srv!.logs().match(server.connectionLog) ?? []).length;
      const s = session({ configFile: cfg });
      const err = await s.start().then(
        () => assert.fail('connected with a key the server does not know'),
        (e: SessionError) => e,
      );
      assert.equal(err.code, 'auth-failed');
      assert.equal(err.fatal, true);
      // Issue 16 item 7: the methods and keys tried, not "all methods tried:" and ssh2's text.
      assert.doesNotMatch(err.message, /all methods tried/);
      assert.match(err.message, new RegExp(`refused by the server: [^;]*${stranger.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} \\(ssh-ed25519 SHA256:`));
      assert.match(err.message, /publickey/);
      await new Promise((r) => setTimeout(r, 1500));
      assert.equal((srv!.logs().match(server.connectionLog) ?? []).length - before, 1, 'one connection, no retries');
    });

    test('-L, -R and -D round trips', async (t) => {
      if (!ready(t)) return;
      const echo = createServer((c) => c.on('error', () => undefined).pipe(c));
      t.after(() => echo.close());
      const echoPort = await listen(echo);
      const s = session();
      await s.start();
      const registry = registryFor(s);
      const l = await registry.add({ kind: 'local', spec: { bindPort: 0, host: '127.0.0.1', hostPort: echoPort } });
      assert.equal(await roundTrip(Number(l.address!.split(':').pop()), 'via -L'), 'via -L');
      const rport = await freePort();
      const r = await registry.add({ kind: 'remote', spec: { bindAddress: '127.0.0.1', bindPort: rport, host: '127.0.0.1', hostPort: echoPort } });
      assert.equal(r.state.kind, 'active', JSON.stringify(r.state));
      assert.equal(await roundTrip(rport, 'via -R'), 'via -R');
      const d = await registry.add({ kind: 'dynamic', spec: { bindPort: 0 } });
      const socksPort = Number(d.address!.split(':').pop());
      const reply = await new Promise<Buffer>((resolve, reject) => {
        const c = connect(socksPort, '127.0.0.1');
        const got: Buffer[] = [];
        const timer = setTimeout(() => reject(new Error('no SOCKS reply within 5 s')), 5000);
        c.on('error', reject);
        c.on('data', (b: Buffer) => {
          got.push(b);
          const all = Buffer.concat(got);
          if (all.length >= 2 + 10 + 6) {
            clearTimeout(timer);
            c.destroy();
            resolve(all);
          }
        });
        c.write(Buffer.from([5, 1, 0, 5, 1, 0, 1, 127, 0, 0, 1, echoPort >> 8, echoPort & 0xff, ...Buffer.from('via -D')]));
      });
      assert.deepEqual([...reply.subarray(0, 4)], [5, 0, 5, 0]);
      assert.equal(reply.subarray(12).toString(), 'via -D');
    });

    test('tmux shell: reattached after a reconnect with its state', async (t) => {
      if (!tmuxReady(t)) return;
      const s = session();
      await s.start();
      const shell = shellOn(s, `core-reattach-${server.name}`);
      const screen = screenOf(shell);
      await shell.start();
      await screen.run('export X=42; echo "set-$X"', /set-42/);
      const reopened = waitForEvent(shell.onDidChangeState, (st) => st.kind === 'open', 20_000);
      void s.reconnect('test drops the connection');
      assert.deepEqual(await reopened, { kind: 'open', generation: 2, reattached: true, multiplexer: 'tmux' });
      await screen.run('echo "X=[$X]"', /X=\[42\]/);
      await shell.close();
    });

    test("restore after the server's per-connection process is killed: session, tmux shell and -R come back", async (t) => {
      if (!tmuxReady(t)) return;
      const echo = createServer((c) => c.on('error', () => undefined).pipe(c));
      t.after(() => echo.close());
      const echoPort = await listen(echo);
      const s = session({ session: fastSession });
      await s.start();
      const registry = registryFor(s);
      const rport = await freePort();
      const r = await registry.add({ kind: 'remote', spec: { bindAddress: '127.0.0.1', bindPort: rport, host: '127.0.0.1', hostPort: echoPort } });
      assert.equal(r.state.kind, 'active');
      const shell = shellOn(s, `core-killed-${server.name}`);
      const screen = screenOf(shell);
      await shell.start();
      await screen.run('export Y=7; echo "y-$Y"', /y-7/);
      const pids = srv!.connectionPids();
      assert.ok(pids.length >= 1, 'the server has a process for our connection');
      const lost = waitForEvent(s.onDidChangeState, (st) => st.kind === 'lost', 5000);
      const reopened = waitForEvent(shell.onDidChangeState, (st) => st.kind === 'open', 20_000);
      for (const pid of pids) process.kill(pid, 'SIGKILL');
      await lost;
      assert.deepEqual(await reopened, { kind: 'open', generation: 2, reattached: true, multiplexer: 'tmux' });
      await screen.run('echo "Y=[$Y]"', /Y=\[7\]/);
      await waitState(r, (st) => st.kind === 'active', 10_000, '-R active again');
      assert.equal(await roundTrip(rport, 'after the kill'), 'after the kill');
      await shell.close();
    });

    describe('defects found with Dropbear (issue 16)', () => {
      test('2: a tmux-backed shell passes on the remote exit status', async (t) => {
        if (!tmuxReady(t)) return;
        const s = session();
        await s.start();
        const shell = shellOn(s, `exit-status-${server.name}`);
        const screen = screenOf(shell);
        await shell.start();
        await screen.run('echo READY-$((6*7))', /READY-42/);
        shell.write('exit 7\r');
        assert.deepEqual(await waitShell(shell, 'exited'), { kind: 'exited', code: 7 });
        await shell.close();
      });

      test("2: the CLI with -t on a tmux host exits with the shell's status", async (t) => {
        if (!tmuxReady(t)) return;
        const env = { ...process.env };
        delete env.SSH_AUTH_SOCK;
        const cli = spawn(process.execPath, [cliPath, '-F', srv!.sshConfigPath, '-o', 'BatchMode=yes', '-t', srv!.alias], {
          env,
          stdio: ['pipe', 'pipe', 'pipe'],
        });
        t.after(() => cli.kill('SIGKILL'));
        let out = '';
        cli.stdout.on('data', (d: Buffer) => (out += d));
        cli.stderr.on('data', (d: Buffer) => (out += d));
        cli.stdin.write('echo READY-$((6*7))\r');
        const code = await new Promise<number | null>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`the CLI did not exit within 20 s; output: ${JSON.stringify(out.slice(-500))}`)), 20_000);
          const wrote = setInterval(() => {
            if (/READY-42/.test(out)) {
              clearInterval(wrote);
              cli.stdin.write('exit 7\r');
            }
          }, 100);
          cli.on('close', (c) => {
            clearTimeout(timer);
            clearInterval(wrote);
            resolve(c);
          });
        });
        assert.equal(code, 7, out.slice(-500));
      });

      test('3: no dead tmux socket is left on the server after a shell exits or is closed', async (t) => {
        if (!tmuxReady(t)) return;
        const s = session();
        await s.start();
        const sockets = async () => (await execCapture(s.client!, 'ls -a "${TMUX_TMPDIR:-/tmp}/tmux-$(id -u)" 2>/dev/null; true', 5000)).stdout;
        const exiting = shellOn(s, `sock-exit-${server.name}`);
        await exiting.start();
        const name1 = exiting.remoteSessionName!;
        assert.match(await sockets(), new RegExp(`^${name1}$`, 'm'), 'the socket exists while the shell runs');
        exiting.write('exit\r');
        await waitShell(exiting, 'exited');
        await exiting.close();
        const closed = shellOn(s, `sock-close-${server.name}`);
        await closed.start();
        const name2 = closed.remoteSessionName!;
        await closed.close();
        const left = await sockets();
        assert.doesNotMatch(left, new RegExp(`^${name1}`, 'm'), `socket dir after exit: ${left}`);
        assert.doesNotMatch(left, new RegExp(`^${name2}`, 'm'), `socket dir after close: ${left}`);
      });

      test('4: -R "*:port" does not claim the server listens on every interface', async (t) => {
        if (!ready(t)) return;
        const logger = memoryLogger();
        const s = session();
        await s.start();
        const registry = registryFor(s, fastRetry, logger);
        const port = await freePort();
        const f = await registry.add({ kind: 'remote', spec: { bindAddress: '*', bindPort: port, host: '127.0.0.1', hostPort: 9 } });
        assert.equal(f.state.kind, 'active', JSON.stringify(f.state));
        const line = logger.lines.find((l) => l.includes(String(port)) && /server/.test(l));
        assert.ok(line, logger.lines.join('\n'));
        assert.doesNotMatch(line, /listens on \*:/);
        assert.match(line, /server decides|up to the server/);
      });

      test('1 and 6: reclaim ends our stale per-connection process and the -R forward comes back at once', async (t) => {
        if (!ready(t)) return;
        const echo = createServer((c) => c.on('error', () => undefined).pipe(c));
        t.after(() => echo.close());
        const echoPort = await listen(echo);
        const logger = memoryLogger();
        const { proxy, s } = await throughForgetfulProxy(t, logger);
        const registry = registryFor(s, fastRetry, logger);
        const port = await freePort();
        const fwd = await registry.add({
          kind: 'remote',
          spec: { bindAddress: '127.0.0.1', bindPort: port, host: '127.0.0.1', hostPort: echoPort },
          reclaimStale: true,
        });
        assert.equal(fwd.state.kind, 'active');
        const [stalePid] = await listenerPids(port);
        assert.ok(stalePid, 'a server process listens for us');
        await dropSilently(proxy, s);
        const reconnectedAt = Date.now();
        await waitState(fwd, (st) => st.kind === 'active', 10_000, 'the reclaimed -R to be active');
        t.diagnostic(`${server.name}: -R restored ${Date.now() - reconnectedAt} ms after the reconnect`);
        const line = logger.lines.find((l) => l.includes('reclaim of server port'));
        assert.ok(line, logger.lines.join('\n'));
        assert.match(line, new RegExp(`ended stale pid ${stalePid} .*port is free`));
        assert.equal(await roundTrip(port, 'reclaimed'), 'reclaimed');
        assert.equal(s.state.kind, 'connected', 'our own connection survived');
      });

      test('1: a reclaim that cannot help (the port is not held by a session of ours) runs once, not on every retry', async (t) => {
        if (!ready(t)) return;
        // Another program (not an ssh server) of another process tree holds the port, on every
        // address of both families: Dropbear without -a binds localhost (v4 and v6) whatever
        // address is asked, and says yes when either family binds.
        const port = await freePort();
        const squatter = spawn(process.execPath, ['-e', `require('net').createServer().listen(${port}, '::', () => console.log('up'))`]);
        t.after(() => squatter.kill());
        await new Promise((r) => squatter.stdout.once('data', r));
        const logger = memoryLogger();
        const s = session();
        await s.start();
        const registry = registryFor(s, fastRetry, logger);
        const fwd = await registry.add({
          kind: 'remote',
          spec: { bindAddress: '127.0.0.1', bindPort: port, host: '127.0.0.1', hostPort: 9 },
          reclaimStale: true,
        });
        await new Promise((r) => setTimeout(r, 4000));
        assert.equal(fwd.state.kind, 'waiting');
        const runs = logger.lines.filter((l) => l.includes('reclaim of server port'));
        assert.equal(runs.length, 1, logger.lines.join('\n'));
        assert.match((fwd.state as { reason: string }).reason, /reclaim cannot help/);
      });

      test('6: while the server holds the port, -R asks again at a short fixed cadence, not with a growing backoff', async (t) => {
        if (!ready(t)) return;
        const echo = createServer((c) => c.on('error', () => undefined).pipe(c));
        t.after(() => echo.close());
        const echoPort = await listen(echo);
        const { proxy, s } = await throughForgetfulProxy(t, nullLogger);
        // The product's defaults, not the fast test retry.
        const registry = registryFor(s, {});
        const port = await freePort();
        const fwd = await registry.add({ kind: 'remote', spec: { bindAddress: '127.0.0.1', bindPort: port, host: '127.0.0.1', hostPort: echoPort } });
        assert.equal(fwd.state.kind, 'active');
        const [stalePid] = await listenerPids(port);
        await dropSilently(proxy, s);
        await waitState(fwd, (st) => st.kind === 'waiting' && /still holds port/.test(st.reason), 5000, 'the stale-port wait');
        // Long enough for an exponential backoff from 1 s to have grown past 8 s.
        await new Promise((r) => setTimeout(r, 9000));
        process.kill(stalePid, 'SIGKILL');
        const freedAt = Date.now();
        await waitState(fwd, (st) => st.kind === 'active', 10_000, '-R active after the port was freed');
        const ms = Date.now() - freedAt;
        t.diagnostic(`${server.name}: -R active ${ms} ms after the stale process exited (after 9 s of waiting)`);
        assert.ok(ms < 2500, `-R came back ${ms} ms after the port was freed`);
      });
    });

    async function throughForgetfulProxy(t: TestContext, logger: Logger) {
      const proxy: FaultProxy = await startFaultProxy('127.0.0.1', srv!.port);
      t.after(() => proxy.close());
      const kh = join(srv!.dir, `known_hosts_${proxy.port}`);
      writeFileSync(kh, `[127.0.0.1]:${proxy.port} ${srv!.hostKeyPublicLine}\n`);
      const cfg = configWith(`proxy_config_${proxy.port}`, (c) => c.replace(/Port \d+/, `Port ${proxy.port}`).replace(srv!.knownHostsPath, kh));
      const s = session({ configFile: cfg, session: fastSession, logger });
      await s.start();
      return { proxy, s };
    }
  });
}

async function dropSilently(proxy: FaultProxy, session: Session): Promise<void> {
  proxy.setIdleTimeout(1);
  await waitForEvent(session.onDidChangeState, (s) => s.kind === 'lost', 5000);
  proxy.setIdleTimeout(0);
  await waitForEvent(session.onDidChangeState, (s) => s.kind === 'connected', 10_000);
}

describe('a server that closes idle connections by policy (Dropbear -I)', () => {
  const dropbear = testServers.find((s) => s.name === 'Dropbear')!;
  let srv: SshdHandle | undefined;
  before(async () => {
    if (!dropbear.availability().ok) return;
    srv = await dropbear.start({ alias: 'idle', idleTimeoutSeconds: 2 });
  });
  after(async () => {
    await srv?.stop();
  });

  test('5: a repeated clean close after the same idle time is recognised and said once; the session keeps restoring', async (t) => {
    if (!requireOrSkip(t, dropbear.availability) || !srv) return;
    const logger = memoryLogger();
    const host = resolveHost(srv.alias, { configFile: srv.sshConfigPath, env: { SSH_AUTH_SOCK: undefined } });
    const s = new Session(host, sessionOptionsFor(host, { keepalive: { intervalMs: 500, countMax: 3, demandMinMs: 400, demandRttFactor: 4, quietMs: 200 } }), {
      prompter: noPrompter,
      logger,
    });
    t.after(() => s.dispose());
    await s.start();
    let restores = 0;
    s.onDidChangeState((st) => {
      if (st.kind === 'connected') restores++;
    });
    const end = Date.now() + 20_000;
    while (restores < 5 && Date.now() < end) await new Promise((r) => setTimeout(r, 200));
    assert.ok(restores >= 5, `only ${restores} restores in 20 s with a 2 s server idle timeout`);
    const explained = logger.lines.filter((l) => /idle/.test(l) && /server/.test(l));
    assert.equal(explained.length, 1, `the idle policy is explained once:\n${logger.lines.join('\n')}`);
    const seconds = Number(/about (\d+(?:\.\d+)?) s/.exec(explained[0])?.[1]);
    assert.ok(seconds >= 1 && seconds <= 2.5, `the idle time said (${seconds} s) is about the server's 2 s: ${explained[0]}`);
    assert.match(explained[0], /-I|ClientAlive|idle timeout/);
    // Once recognised, the loop is quiet: no warning per close.
    const at = logger.lines.indexOf(explained[0]);
    const noisyAfter = logger.lines.slice(at + 1).filter((l) => /^(warn|info) /.test(l) && /connection lost|restored after/.test(l));
    assert.deepEqual(noisyAfter, []);
    assert.equal(s.state.kind === 'connected' || s.state.kind === 'lost' || s.state.kind === 'waiting' || s.state.kind === 'connecting', true);
  });

  test('5: the CLI terminal says it once too: no "connection lost" / "restored" notes per close once the policy is recognised', async (t) => {
    if (!requireOrSkip(t, dropbear.availability) || !srv) return;
    if (!requireOrSkip(t, () => (hasTmux() ? { ok: true } : { ok: false, reason: 'tmux not installed (Debian package tmux)' }))) return;
    const env = { ...process.env };
    delete env.SSH_AUTH_SOCK;
    const cli = spawn(process.execPath, [cliPath, '-F', srv.sshConfigPath, '-o', 'BatchMode=yes', '-o', 'ServerAliveInterval=1', '-t', srv.alias], {
      env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    t.after(() => cli.kill('SIGKILL'));
    let stderr = '';
    cli.stdout.on('data', () => undefined);
    cli.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const explanation = /closes idle connections by policy/;
    const deadline = Date.now() + 25_000;
    while (!explanation.test(stderr) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    assert.match(stderr, explanation, `no explanation within 25 s; stderr: ${stderr}`);
    // At least three more idle closes (2 s each, plus the restore) after the explanation.
    await new Promise((r) => setTimeout(r, 9000));
    const exited = new Promise((r) => cli.once('close', r));
    cli.kill('SIGTERM');
    await exited;
    const lines = stderr.split(/\r?\n/).filter((l) => l.trim() !== '');
    const at = lines.findIndex((l) => explanation.test(l));
    assert.equal(lines.filter((l) => explanation.test(l)).length, 1, `explained once:\n${lines.join('\n')}`);
    const noisy = lines.slice(at + 1).filter((l) => /connection lost|restor/.test(l));
    assert.deepEqual(noisy, [], `lines per close after the explanation:\n${lines.join('\n')}`);
  });
});

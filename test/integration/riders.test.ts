import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import { waitForEvent } from '../../src/core/base/event';
import { nullLogger } from '../../src/core/base/logger';
import { resolveHost } from '../../src/core/config/sshConfig';
import { LocalForward } from '../../src/core/forward/localForward';
import { RemoteForward } from '../../src/core/forward/remoteForward';
import type { Forward, ForwardState } from '../../src/core/forward/types';
import { noPrompter } from '../../src/core/session/prompter';
import { Session, sessionOptionsFor } from '../../src/core/session/session';
import { RemoteShell } from '../../src/core/shell/remoteShell';
import type { ShellState } from '../../src/core/shell/shellState';
import { sshdAvailability, startSshd, type SshdHandle } from '../../tools/peers/sshd';
import { requireOrSkip } from '../harness/skip';
import { cliPath } from '../../tools/peers/repo';

/** A TCP relay whose target can be switched, and whose connections can be cut (a server swap). */
async function startSwitchableRelay(targetPort: number): Promise<{ port: number; retarget(port: number): void; cut(): void; close(): Promise<void> }> {
  let target = targetPort;
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect(target, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => sockets.delete(s));
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    retarget: (port) => (target = port),
    cut: () => sockets.forEach((s) => s.destroy()),
    close: () => {
      sockets.forEach((s) => s.destroy());
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
}

function forwardState(f: Forward, kind: ForwardState['kind'], what: string): Promise<ForwardState> {
  if (f.state.kind === kind) return Promise.resolve(f.state);
  return waitForEvent(f.onDidChangeState, (s) => s.kind === kind, 15_000, what);
}

function shellState(shell: RemoteShell, kind: ShellState['kind'], what: string): Promise<ShellState> {
  if (shell.state.kind === kind) return Promise.resolve(shell.state);
  return waitForEvent(shell.onDidChangeState, (s) => s.kind === kind, 15_000, what);
}

describe('what rides a session when it fails, against real OpenSSH servers', () => {
  let real: SshdHandle | undefined;
  let impostor: SshdHandle | undefined;
  before(async () => {
    if (!sshdAvailability().ok) return;
    real = await startSshd();
    impostor = await startSshd({ alias: 'impostor' }); // its own host key
  });
  after(async () => {
    await real?.stop();
    await impostor?.stop();
  });
  const ready = (t: TestContext) => requireOrSkip(t, sshdAvailability) && !!real && !!impostor;

  test('a failed session: shell failed, -L and -R waiting with the reason, clients refused at once; all back after Reconnect', async (t) => {
    if (!ready(t)) return;
    const relay = await startSwitchableRelay(real!.port);
    t.after(() => relay.close());
    const knownHosts = join(real!.dir, 'relay_known_hosts');
    writeFileSync(knownHosts, `[127.0.0.1]:${relay.port} ${real!.hostKeyPublicLine}\n`);
    const resolved = resolveHost(real!.alias, { configFile: real!.sshConfigPath, env: { SSH_AUTH_SOCK: undefined } });
    const host = { ...resolved, port: relay.port, userKnownHostsFiles: [knownHosts] };
    const session = new Session(host, sessionOptionsFor(host, { connectTimeoutMs: 5000 }), { prompter: noPrompter, logger: nullLogger });
    t.after(() => session.dispose());
    await session.start();

    const echo = createServer((s) => s.on('error', () => undefined).pipe(s));
    await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
    t.after(() => echo.close());
    const echoPort = (echo.address() as AddressInfo).port;
    const local = new LocalForward({ bindPort: 0, host: '127.0.0.1', hostPort: echoPort }, session, nullLogger);
    const remote = new RemoteForward({ bindPort: 0, host: '127.0.0.1', hostPort: echoPort }, session, nullLogger);
    const shell = new RemoteShell(session, { term: 'xterm', cols: 80, rows: 24, reattach: false }, { logger: nullLogger });
    t.after(() => {
      local.dispose();
      remote.dispose();
      shell.dispose();
    });
    await Promise.all([local.start(), remote.start(), shell.start()]);
    assert.equal(local.state.kind, 'active');
    assert.equal(remote.state.kind, 'active');
    assert.equal(shell.state.kind, 'open');

    // The host now answers with another key: the reconnect is refused, the session fails.
    relay.retarget(impostor!.port);
    relay.cut();
    const failed = await waitForEvent(session.onDidChangeState, (s) => s.kind === 'failed', 15_000, 'the session to fail');
    assert.equal(failed.kind === 'failed' && failed.error.code, 'host-key-changed');

    const shellFailed = await shellState(shell, 'failed', 'the shell to say the session failed');
    assert.match((shellFailed as { reason: string }).reason, /REMOTE HOST IDENTIFICATION HAS CHANGED/);
    for (const f of [local, remote]) {
      const s = await forwardState(f, 'waiting', `${f.label} to wait`);
      assert.match((s as { reason: string }).reason, /^the session failed: REMOTE HOST IDENTIFICATION HAS CHANGED/, f.label);
    }
    // A client of the -L port is not held for a minute: the session will not come back by itself.
    const t0 = Date.now();
    const client = connect(local.port!, '127.0.0.1');
    client.on('error', () => undefined);
    await new Promise<void>((resolve) => client.once('close', () => resolve()));
    assert.ok(Date.now() - t0 < 3000, `refused after ${Date.now() - t0} ms`);
    // Keys typed meanwhile are refused, not sent anywhere.
    assert.equal(shell.write('echo nope\r'), false);

    // A person fixes it (the real server is back) and reconnects: everything comes back.
    relay.retarget(real!.port);
    await session.reconnect();
    await Promise.all([forwardState(local, 'active', '-L back'), forwardState(remote, 'active', '-R back'), shellState(shell, 'open', 'the shell back')]);
  });

  test('a server that refuses the pty: the CLI prints one line and exits 255, in the shell and the one-off paths', async (t) => {
    if (!requireOrSkip(t, sshdAvailability)) return;
    const noTty = await startSshd({ alias: 'notty', extraConfig: ['PermitTTY no'] });
    t.after(() => noTty.stop());
    for (const args of [
      ['-t', 'notty'],
      ['-t', 'notty', 'echo', 'hi'],
      ['-t', '--no-reattach', 'notty'],
    ]) {
      const env = { ...process.env };
      delete env.SSH_AUTH_SOCK;
      const child = spawn(process.execPath, [cliPath, '-F', noTty.sshConfigPath, '-o', 'BatchMode=yes', ...args], { stdio: ['pipe', 'pipe', 'pipe'], env });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d));
      child.stdout.on('data', () => undefined);
      const code = await new Promise<number | null>((resolve) => {
        const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
        child.on('close', (c) => {
          clearTimeout(timer);
          resolve(c);
        });
      });
      const lines = stderr.split('\n').filter((l) => l.trim() !== '');
      assert.equal(code, 255, `${args.join(' ')}: exit ${code}; stderr: ${stderr}`);
      assert.doesNotMatch(stderr, /internal error|\n\s+at /, `${args.join(' ')}: no stack trace`);
      assert.equal(lines.length, 1, `${args.join(' ')}: one line, got ${JSON.stringify(lines)}`);
      assert.match(lines[0], /^ssh-keepalive: /);
    }
  });
});

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import { nullLogger, type Logger } from '../../src/core/base/logger';
import { resolveHost } from '../../src/core/config/sshConfig';
import { LocalForward } from '../../src/core/forward/localForward';
import { type SessionError } from '../../src/core/session/errors';
import { noPrompter, type Prompter } from '../../src/core/session/prompter';
import { Session, sessionOptionsFor } from '../../src/core/session/session';
import type { Client } from 'ssh2';
import { sshdAvailability, startSshd, type SshdHandle } from '../../tools/peers/sshd';
import { within } from '../harness/bounded';
import { assertNoSecrets, recordingLogger } from '../harness/recordingLogger';
import { requireOrSkip } from '../harness/skip';
import { cliPath } from '../../tools/peers/repo';

function exec(client: Client, command: string): Promise<{ out: string; code: number | null }> {
  return within(execUnbounded(client, command), 10_000, `the remote command "${command}" to finish`);
}

function execUnbounded(client: Client, command: string): Promise<{ out: string; code: number | null }> {
  return new Promise((resolve, reject) => {
    client.exec(command, (err, ch) => {
      if (err) return reject(err);
      let out = '';
      let code: number | null = null;
      ch.on('data', (d: Buffer) => (out += d));
      ch.stderr.on('data', () => undefined);
      ch.on('exit', (c: number) => (code = c));
      ch.on('close', () => resolve({ out, code }));
    });
  });
}

function runCli(args: string[], timeoutMs = 20_000): Promise<{ stdout: string; stderr: string; code: number | null }> {
  return new Promise((resolve) => {
    const env = { ...process.env };
    delete env.SSH_AUTH_SOCK;
    const c = spawn(process.execPath, [cliPath, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
    let stdout = '';
    let stderr = '';
    c.stdout.on('data', (d: Buffer) => (stdout += d));
    c.stderr.on('data', (d: Buffer) => (stderr += d));
    const timer = setTimeout(() => c.kill('SIGKILL'), timeoutMs);
    c.on('close', (code) => {
      clearTimeout(timer);
      resolve({ stdout, stderr, code });
    });
  });
}

describe('against a real OpenSSH sshd', () => {
  let sshd: SshdHandle | undefined;
  let jump: SshdHandle | undefined;
  const sessions: Session[] = [];
  before(async () => {
    if (!sshdAvailability().ok) return;
    sshd = await startSshd();
    jump = await startSshd({ alias: 'jump' });
  });
  after(async () => {
    sessions.forEach((s) => s.dispose());
    await sshd?.stop();
    await jump?.stop();
  });
  const ready = (t: TestContext) => requireOrSkip(t, sshdAvailability) && !!sshd;
  const env = { SSH_AUTH_SOCK: undefined } as NodeJS.ProcessEnv;

  function session(alias: string, configFile: string, prompter: Prompter = noPrompter, logger: Logger = nullLogger): Session {
    const host = resolveHost(alias, { configFile, env });
    const s = new Session(host, sessionOptionsFor(host), { prompter, logger });
    sessions.push(s);
    return s;
  }

  test('connects through ssh_config and runs a command', async (t) => {
    if (!ready(t)) return;
    const s = session(sshd!.alias, sshd!.sshConfigPath);
    await within(s.start(), 15_000, 'the session to connect');
    const r = await exec(s.client!, 'echo hello; exit 3');
    assert.equal(r.out, 'hello\n');
    assert.equal(r.code, 3);
    assert.equal(typeof s.rttMs, 'number');
  });

  test('an encrypted identity asks for its passphrase through the prompter, once', async (t) => {
    if (!ready(t)) return;
    const cfg = join(sshd!.dir, 'enc_config');
    writeFileSync(cfg, readFileSync(sshd!.sshConfigPath, 'utf8').replace(sshd!.clientKeyPath, sshd!.encryptedClientKeyPath));
    let asked = 0;
    const prompter: Prompter = { ...noPrompter, passphrase: async () => (asked++, sshd!.passphrase) };
    const logger = recordingLogger();
    const s = session(sshd!.alias, cfg, prompter, logger);
    const states: string[] = [];
    s.onDidChangeState((st) => states.push(JSON.stringify(st)));
    await within(s.start(), 15_000, 'the session to connect');
    await s.reconnect();
    assert.equal(asked, 1, 'the passphrase is remembered for reconnects');
    assertNoSecrets([sshd!.passphrase], [...logger.lines.map((l) => l.message), ...states], 'the log or a state event');
  });

  test('authenticates through a real ssh-agent (IdentityAgent), and IdentitiesOnly offers only matching agent keys', async (t) => {
    if (!ready(t)) return;
    const { execFileSync } = require('node:child_process') as typeof import('node:child_process');
    const sock = join(sshd!.dir, 'agent.sock');
    const out = execFileSync('ssh-agent', ['-a', sock], { encoding: 'utf8' });
    const pid = Number(/SSH_AGENT_PID=(\d+)/.exec(out)?.[1]);
    t.after(() => {
      try {
        process.kill(pid);
      } catch {
        /* already gone */
      }
    });
    execFileSync('ssh-add', [sshd!.clientKeyPath], { env: { ...process.env, SSH_AUTH_SOCK: sock }, stdio: 'ignore' });
    const base = readFileSync(sshd!.sshConfigPath, 'utf8').replace(/^\s*IdentityFile .*$/m, '');
    const agentCfg = join(sshd!.dir, 'agent_config');
    writeFileSync(
      agentCfg,
      base.replace(/IdentitiesOnly\s+yes/i, 'IdentitiesOnly no') + `\nHost *\n  IdentityAgent ${sock}\n  IdentityFile ${join(sshd!.dir, 'no_such_key')}\n`,
    );
    const viaAgent = session(sshd!.alias, agentCfg);
    await within(viaAgent.start(), 15_000, 'the session to connect');
    assert.equal((await exec(viaAgent.client!, 'echo agent-ok')).out, 'agent-ok\n');

    // IdentitiesOnly yes with an IdentityFile whose public half is not the agent's key: the agent key is not offered.
    const other = join(sshd!.dir, 'other_key');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', other]);
    const onlyCfg = join(sshd!.dir, 'agent_only_config');
    writeFileSync(onlyCfg, base + `\nHost *\n  IdentityAgent ${sock}\n  IdentityFile ${other}\n`);
    await assert.rejects(within(session(sshd!.alias, onlyCfg).start(), 15_000, 'the session to give up'), (e: SessionError) => e.code === 'auth-failed');

    // Issue 14: a refusal names the agent's keys that were offered (comment and fingerprint), as ssh -v does.
    const agentEnv = { ...process.env, SSH_AUTH_SOCK: sock };
    execFileSync('ssh-add', ['-D'], { env: agentEnv, stdio: 'ignore' });
    const stranger = join(sshd!.dir, 'stranger_agent_key');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'stranger@agent', '-f', stranger]);
    execFileSync('ssh-add', [stranger], { env: agentEnv, stdio: 'ignore' });
    const fingerprint = execFileSync('ssh-keygen', ['-lf', `${stranger}.pub`], { encoding: 'utf8' }).split(' ')[1];
    const refused = await within(session(sshd!.alias, agentCfg).start(), 15_000, 'the session to give up').then(
      () => assert.fail('connected with a key the server does not know'),
      (e: SessionError) => e,
    );
    assert.equal(refused.code, 'auth-failed');
    assert.ok(refused.message.includes(`refused by the server: agent ${sock}: "stranger@agent" ssh-ed25519 ${fingerprint}`), refused.message);
    assert.match(refused.message, /the server accepts: [^;]*publickey/);
  });

  test('authentication failure is fatal: zero retries', async (t) => {
    if (!ready(t)) return;
    const cfg = join(sshd!.dir, 'wrong_config');
    // The encrypted key without a passphrase (BatchMode): no usable identity.
    writeFileSync(cfg, readFileSync(sshd!.sshConfigPath, 'utf8').replace(sshd!.clientKeyPath, sshd!.encryptedClientKeyPath));
    const before = (sshd!.logs().match(/Connection from/g) ?? []).length;
    const s = session(sshd!.alias, cfg);
    await assert.rejects(within(s.start(), 15_000, 'the session to give up'), (e: SessionError) => e.code === 'auth-failed' && e.fatal);
    await new Promise((r) => setTimeout(r, 2000));
    const connections = (sshd!.logs().match(/Connection from/g) ?? []).length - before;
    assert.equal(connections, 1, 'one connection, no retries');
    assert.equal(s.state.kind, 'failed');
  });

  test('unknown host key: refused under StrictHostKeyChecking=yes, asked under ask, added under accept-new', async (t) => {
    if (!ready(t)) return;
    const kh = join(sshd!.dir, 'empty_known_hosts');
    writeFileSync(kh, '');
    const base = readFileSync(sshd!.sshConfigPath, 'utf8').replace(sshd!.knownHostsPath, kh);
    const strictCfg = join(sshd!.dir, 'strict_config');
    writeFileSync(strictCfg, base);
    await assert.rejects(
      within(session(sshd!.alias, strictCfg).start(), 15_000, 'the session to give up'),
      (e: SessionError) => e.code === 'host-key-unknown' && /SHA256:/.test(e.message),
    );

    const askCfg = join(sshd!.dir, 'ask_config');
    writeFileSync(askCfg, base.replace(/StrictHostKeyChecking\s+yes/i, 'StrictHostKeyChecking ask'));
    let question: { fingerprint: string } | undefined;
    await assert.rejects(
      within(session(sshd!.alias, askCfg, { ...noPrompter, confirmHostKey: async (q) => ((question = q), false) }).start(), 15_000, 'the session to give up'),
      /not accepted/,
    );
    assert.match(question!.fingerprint, /^SHA256:/);
    await within(
      session(sshd!.alias, askCfg, { ...noPrompter, confirmHostKey: async () => true }).start(),
      15_000,
      'the session to connect once the key is accepted',
    );
    assert.match(readFileSync(kh, 'utf8'), new RegExp(`\\[${sshd!.host}\\]:${sshd!.port} ssh-ed25519 `));
    // Now known: strict mode connects.
    await within(session(sshd!.alias, strictCfg).start(), 15_000, 'the session to connect with the key now known');
  });

  test('a changed host key is refused, whatever StrictHostKeyChecking says', async (t) => {
    if (!ready(t)) return;
    const kh = join(sshd!.dir, 'changed_known_hosts');
    // The jump server's key under this server's name: a key change as ssh sees it.
    const other = jump!.hostKeyPublicLine;
    writeFileSync(kh, `[${sshd!.host}]:${sshd!.port} ${other}\n`);
    const cfg = join(sshd!.dir, 'changed_config');
    writeFileSync(
      cfg,
      readFileSync(sshd!.sshConfigPath, 'utf8')
        .replace(sshd!.knownHostsPath, kh)
        .replace(/StrictHostKeyChecking\s+yes/i, 'StrictHostKeyChecking no'),
    );
    const s = session(sshd!.alias, cfg);
    await assert.rejects(
      within(s.start(), 15_000, 'the session to give up'),
      (e: SessionError) => e.code === 'host-key-changed' && e.message.includes(`${kh}:1`),
    );
  });

  test('ProxyJump through a second sshd', async (t) => {
    if (!ready(t)) return;
    const kh = join(sshd!.dir, 'both_known_hosts');
    writeFileSync(kh, readFileSync(sshd!.knownHostsPath, 'utf8') + readFileSync(jump!.knownHostsPath, 'utf8'));
    const cfg = join(sshd!.dir, 'jump_config');
    writeFileSync(
      cfg,
      [
        `Host jumpbox`,
        `  HostName ${jump!.host}`,
        `  Port ${jump!.port}`,
        `  IdentityFile ${jump!.clientKeyPath}`,
        `Host target`,
        `  HostName ${sshd!.host}`,
        `  Port ${sshd!.port}`,
        `  IdentityFile ${sshd!.clientKeyPath}`,
        `  ProxyJump jumpbox`,
        `Host *`,
        `  User ${sshd!.user}`,
        `  IdentitiesOnly yes`,
        `  UserKnownHostsFile ${kh}`,
        `  StrictHostKeyChecking yes`,
        '',
      ].join('\n'),
    );
    const jumpLogBefore = (jump!.logs().match(/Connection from/g) ?? []).length;
    const s = session('target', cfg);
    await within(s.start(), 15_000, 'the session to connect');
    const r = await exec(s.client!, 'echo $SSH_CONNECTION');
    assert.match(r.out, /^127\.0\.0\.1 \d+ 127\.0\.0\.1 \d+/);
    assert.equal((jump!.logs().match(/Connection from/g) ?? []).length - jumpLogBefore, 1, 'the jump host carried the connection');
  });

  test("local forward round trip, and a port in use is that forward's clear error", async (t) => {
    if (!ready(t)) return;
    const echo = createServer((sock) => sock.pipe(sock));
    await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
    t.after(() => echo.close());
    const echoPort = (echo.address() as AddressInfo).port;
    const s = session(sshd!.alias, sshd!.sshConfigPath);
    await within(s.start(), 15_000, 'the session to connect');
    const fwd = new LocalForward({ bindPort: 0, host: '127.0.0.1', hostPort: echoPort }, s, nullLogger);
    t.after(() => fwd.dispose());
    await fwd.listen();
    assert.equal(fwd.state.kind, 'active');
    const reply = await within(
      new Promise<string>((resolve, reject) => {
        const c = require('node:net').connect(fwd.port, '127.0.0.1');
        c.on('error', reject);
        c.on('data', (d: Buffer) => {
          resolve(d.toString());
          c.destroy();
        });
        c.write('ping through the tunnel');
      }),
      10_000,
      'the echo through the local forward',
    );
    assert.equal(reply, 'ping through the tunnel');
    assert.equal(fwd.counters.totalConnections, 1);

    const busy = new LocalForward({ bindPort: fwd.port!, host: '127.0.0.1', hostPort: echoPort }, s, nullLogger);
    t.after(() => busy.dispose());
    await assert.rejects(busy.listen(), /already in use/);
    assert.equal(busy.state.kind, 'failed');
    assert.equal(s.state.kind, 'connected', 'the session is unaffected');
  });

  test('CLI: runs a command, passes its exit code, and exits 255 with one line on a fatal error', async (t) => {
    if (!ready(t)) return;
    const ok = await runCli(['-F', sshd!.sshConfigPath, '-o', 'BatchMode=yes', sshd!.alias, 'echo', 'from-cli;', 'exit', '7']);
    assert.equal(ok.stdout, 'from-cli\n');
    assert.equal(ok.code, 7, ok.stderr);
    const bad = await runCli([
      '-F',
      sshd!.sshConfigPath,
      '-o',
      'BatchMode=yes',
      '-i',
      sshd!.encryptedClientKeyPath,
      '-o',
      `IdentityFile=${sshd!.encryptedClientKeyPath}`,
      '-o',
      'IdentitiesOnly=yes',
      '-l',
      'nosuchuser',
      sshd!.alias,
      'true',
    ]);
    assert.equal(bad.code, 255);
    assert.match(bad.stderr, /^ssh-keepalive: authentication to .* failed/m);
    assert.equal(bad.stderr.trim().split('\n').length, 1, bad.stderr);
  });

  test('CLI: -R 0 reports the allocated port, -D serves SOCKS, forward states are events', async (t) => {
    if (!ready(t)) return;
    const web = createServer((sock) => sock.end('HTTP/1.0 200 OK\r\n\r\ncli-forward-ok'));
    await new Promise<void>((r) => web.listen(0, '127.0.0.1', r));
    t.after(() => web.close());
    const webPort = (web.address() as AddressInfo).port;
    const socksPort = 20000 + Math.floor(Math.random() * 20000);
    const env = { ...process.env };
    delete env.SSH_AUTH_SOCK;
    const cli = spawn(
      process.execPath,
      [cliPath, '-F', sshd!.sshConfigPath, '-N', '-o', 'BatchMode=yes', '--events', '-R', `0:127.0.0.1:${webPort}`, '-D', String(socksPort), sshd!.alias],
      { env },
    );
    t.after(() => cli.kill('SIGTERM'));
    let stderr = '';
    const allocated = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no allocated port: ${stderr}`)), 15_000);
      cli.stderr.on('data', (d: Buffer) => {
        stderr += d;
        const m = /Allocated port (\d+) for remote forward/.exec(stderr);
        if (m) {
          clearTimeout(timer);
          resolve(Number(m[1]));
        }
      });
    });
    assert.match(stderr, /"event":"forward".*"forward":"-D \d+","state":"active"/);
    const viaRemote = await within(
      new Promise<string>((resolve, reject) => {
        const c = require('node:net').connect(allocated, '127.0.0.1');
        let got = '';
        c.on('data', (d: Buffer) => (got += d));
        c.on('end', () => resolve(got));
        c.on('error', reject);
      }),
      10_000,
      "the reply through the CLI's -R port",
    );
    assert.match(viaRemote, /cli-forward-ok/);
    const curl = spawn('curl', ['-s', '--max-time', '10', '--socks5-hostname', `127.0.0.1:${socksPort}`, `http://localhost:${webPort}/`]);
    let body = '';
    curl.stdout.on('data', (d: Buffer) => (body += d));
    await within(new Promise((r) => curl.on('close', r)), 15_000, "curl through the CLI's -D port to finish");
    assert.match(body, /cli-forward-ok/);
  });

  test('CLI: a malformed ssh_config is a clear error naming the file', async (t) => {
    if (!ready(t)) return;
    const cfg = join(sshd!.dir, 'broken_config');
    writeFileSync(cfg, 'Host broken\n  Port notaport\n');
    const r = await runCli(['-F', cfg, 'broken', 'true']);
    assert.equal(r.code, 255);
    assert.match(r.stderr, /broken_config/);
    assert.match(r.stderr, /Port/);
  });
});

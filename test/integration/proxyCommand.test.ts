import { pidAlive } from '../../tools/peers/pidAlive';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { resolveHost } from '../../src/core/config/sshConfig';
import { ConfigError } from '../../src/core/config/types';
import type { SessionError } from '../../src/core/session/errors';
import { noPrompter } from '../../src/core/session/prompter';
import { Session, sessionOptionsFor } from '../../src/core/session/session';
import { cliPath } from '../../tools/peers/repo';
import { sshdAvailability, startSshd, type SshdHandle } from '../../tools/peers/sshd';
import { eventWithin, sleep, until, within } from '../harness/bounded';
import { fastSession } from '../harness/fastOptions';
import { recordingLogger } from '../harness/recordingLogger';
import { requireOrSkip } from '../harness/skip';

/**
 * ProxyCommand against a real sshd, each case beside `ssh` with the same config and -o:
 * socat and `ssh -W` as the proxy, a command that exits at once, one that is not found,
 * and host names that would inject into the command.
 */

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], timeoutMs = 15_000): Promise<Run> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs }, (err, stdout, stderr) => {
      const code = err ? ((err as { code?: unknown }).code as number | null) : 0;
      resolve({ code: typeof code === 'number' ? code : null, stdout, stderr });
    });
  });
}

const sshWith = (sshd: SshdHandle, proxy: string, extra: string[] = []) =>
  run('ssh', ['-F', sshd.sshConfigPath, '-o', 'BatchMode=yes', '-o', `ProxyCommand=${proxy}`, ...extra, sshd.alias, 'echo', 'ok']);

function sessionWith(t: TestContext, sshd: SshdHandle, proxy: string, logger = recordingLogger()): Session {
  const host = resolveHost(sshd.alias, { configFile: sshd.sshConfigPath, env: { SSH_AUTH_SOCK: undefined }, overrides: [['ProxyCommand', proxy]] });
  const session = new Session(host, sessionOptionsFor(host, fastSession), { prompter: noPrompter, logger });
  t.after(() => session.dispose());
  return session;
}

async function sshdFor(t: TestContext): Promise<SshdHandle> {
  const sshd = await startSshd();
  t.after(() => sshd.stop());
  return sshd;
}

function scratch(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'ska-proxycmd-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const alive = pidAlive;

test('ProxyCommand socat: connects as ssh does, and the process group ends with the session', async (t) => {
  if (!requireOrSkip(t, sshdAvailability)) return;
  const sshd = await sshdFor(t);
  const dir = scratch(t);
  const pidFile = join(dir, 'pid');
  const helperFile = join(dir, 'helper');
  // The shell records its pid, then exec keeps it: that pid is the proxy (and its group).
  // The background sleep stands for what real proxies leave (aws ssm's session-manager-plugin):
  // it ignores stdin, so only ending the process group ends it.
  const proxy = `sh -c 'sleep 300 </dev/null >/dev/null 2>&1 & echo $! > ${helperFile}; echo $$ > ${pidFile}; exec socat - TCP:%h:%p'`;
  const ssh = await sshWith(sshd, proxy);
  assert.equal(ssh.stdout.trim(), 'ok', `ssh through the same ProxyCommand: ${ssh.stderr}`);
  const sshHelper = Number(readFileSync(helperFile, 'utf8'));
  t.after(() => alive(sshHelper) && process.kill(sshHelper));
  rmSync(pidFile);
  const session = sessionWith(t, sshd, proxy);
  await within(session.start(), 15_000, 'connecting through socat');
  const pid = Number(readFileSync(pidFile, 'utf8'));
  const helper = Number(readFileSync(helperFile, 'utf8'));
  t.after(() => alive(helper) && process.kill(helper));
  assert.ok(alive(pid) && alive(helper), 'the proxy runs while connected');
  session.dispose();
  await until(() => !alive(pid), 5000, `the ProxyCommand (pid ${pid}) to end after the session was disposed`);
  await until(() => !alive(helper), 5000, `the ProxyCommand's background child (pid ${helper}) to end with its process group`);
});

test('ProxyCommand ssh -W %h:%p through a jump host, and a fresh command after the connection drops', async (t) => {
  if (!requireOrSkip(t, sshdAvailability)) return;
  const sshd = await sshdFor(t);
  const dir = scratch(t);
  const countFile = join(dir, 'count');
  // The jump host is the same sshd: what counts is that ssh -W carries the session.
  const proxy = `sh -c 'echo x >> ${countFile}; exec ssh -F ${sshd.sshConfigPath} -o BatchMode=yes -W %h:%p ${sshd.alias}'`;
  const ssh = await sshWith(sshd, proxy);
  assert.equal(ssh.stdout.trim(), 'ok', `ssh through ssh -W: ${ssh.stderr}`);
  writeFileSync(countFile, '');
  const session = sessionWith(t, sshd, proxy);
  await within(session.start(), 20_000, 'connecting through ssh -W');
  assert.equal(readFileSync(countFile, 'utf8').length, 2, 'one command for the first connection');
  await sshd.restart();
  await eventWithin(session.onDidChangeState, (s) => s.kind === 'connected', 20_000, 'the session to come back after an sshd restart');
  assert.ok(readFileSync(countFile, 'utf8').length >= 4, 'the reconnect started a new ProxyCommand');
});

test('a ProxyCommand that exits at once: a clear error with its stderr, and retries at most about once a second', async (t) => {
  if (!requireOrSkip(t, sshdAvailability)) return;
  const sshd = await sshdFor(t);
  const dir = scratch(t);
  const countFile = join(dir, 'count');
  const proxy = `sh -c 'echo x >> ${countFile}; echo "no route to the bastion" >&2; exit 3'`;
  const ssh = await sshWith(sshd, proxy);
  assert.equal(ssh.code, 255, 'ssh fails too');
  assert.match(ssh.stderr, /no route to the bastion/);
  writeFileSync(countFile, '');
  const logger = recordingLogger();
  const host = resolveHost(sshd.alias, { configFile: sshd.sshConfigPath, env: { SSH_AUTH_SOCK: undefined }, overrides: [['ProxyCommand', proxy]] });
  // Production pacing of path-down retries (the fast test options would retry every 100 ms).
  const session = new Session(host, sessionOptionsFor(host, { ...fastSession, pathDownRetryMs: { min: 100, max: 500 }, pathDownMinCycleMs: 1000 }), {
    prompter: noPrompter,
    logger,
  });
  t.after(() => session.dispose());
  void session.start().catch(() => undefined);
  const waiting = await eventWithin(session.onDidChangeState, (s) => s.kind === 'waiting', 10_000, 'a failed attempt');
  const lastError = (waiting as { lastError: string }).lastError;
  assert.match(lastError, /ProxyCommand "sh -c .*" exited with status 3 before the SSH connection was up; it said: no route to the bastion/);
  assert.ok(
    logger.lines.some((l) => l.level === 'warn' && /exited with status 3/.test(l.message)),
    'the first failure is a warning (shown at the default verbosity)',
  );
  const since = Date.now();
  const before = readFileSync(countFile, 'utf8').length / 2;
  await sleep(4000);
  const spawned = readFileSync(countFile, 'utf8').length / 2 - before;
  t.diagnostic(`${spawned} ProxyCommand runs in ${Date.now() - since} ms`);
  assert.ok(spawned >= 2, `it keeps trying (${spawned} runs in 4 s)`);
  assert.ok(spawned <= 5, `no storm: ${spawned} runs in 4 s`);
  assert.notEqual(session.state.kind, 'failed', 'an exit status other than 126/127 is retried');
});

test('a ProxyCommand that is not found fails once, as a config error', async (t) => {
  if (!requireOrSkip(t, sshdAvailability)) return;
  const sshd = await sshdFor(t);
  const proxy = 'no-such-proxy-command-ska %h %p';
  const ssh = await sshWith(sshd, proxy);
  assert.equal(ssh.code, 255);
  const session = sessionWith(t, sshd, proxy);
  await assert.rejects(session.start(), (err: SessionError) => {
    assert.equal(err.code, 'config');
    assert.match(err.message, /exited with status 127 \(command not found or not executable\).*not found/);
    return true;
  });
  assert.equal(session.state.kind, 'failed');
});

test('host names and users with shell syntax never reach a ProxyCommand (CVE-2023-51385), as in ssh', async (t) => {
  const dir = scratch(t);
  const marker = join(dir, 'pwned');
  const config = join(dir, 'config');
  writeFileSync(config, `Host *\n  ProxyCommand sh -c 'echo %n %r' >/dev/null\n  BatchMode yes\n`);
  const hostile = [
    'a;id',
    'a$(id)',
    'a`id`',
    `a$(touch ${marker})`,
    `a\`touch ${marker}\``,
    `a;touch ${marker}`,
    `a|touch ${marker}`,
    `a&touch ${marker}`,
    'a>x',
    '-oProxyCommand=x',
  ];
  for (const alias of hostile) {
    assert.throws(
      () => resolveHost(alias, { configFile: config, env: {} }),
      (err: Error) => err instanceof ConfigError && /invalid|not allowed/.test(err.message),
      `alias ${JSON.stringify(alias)} is refused`,
    );
    const ssh = await run('ssh', ['-F', config, '--', alias, 'true'], 10_000);
    assert.equal(ssh.code, 255, `ssh refuses ${alias} too`);
    assert.match(ssh.stderr, /hostname contains invalid characters|invalid|illegal/i, `ssh on ${alias}: ${ssh.stderr}`);
  }
  for (const user of ['u$(id)', 'u;id', 'u`id`', 'u|id']) {
    assert.throws(
      () => resolveHost('plain', { configFile: config, env: {}, overrides: [['User', user]] }),
      (err: Error) => err instanceof ConfigError && /not allowed in a user name/.test(err.message),
      `user ${JSON.stringify(user)} is refused`,
    );
    const ssh = await run('ssh', ['-F', config, '-l', user, 'plain', 'true'], 10_000);
    assert.equal(ssh.code, 255);
    assert.match(ssh.stderr, /remote username contains invalid characters/, `ssh on user ${user}: ${ssh.stderr}`);
  }
  // End to end: the CLI with an alias that would run `touch` through the ProxyCommand's shell.
  const injecting = `a;touch\${IFS}${marker};b`;
  const cli = await run(process.execPath, [cliPath, '-F', config, injecting, 'true'], 10_000);
  assert.equal(cli.code, 255, `the CLI refuses ${injecting}: ${cli.stderr}`);
  assert.match(cli.stderr, /not allowed in a host name; refusing to run ProxyCommand/);
  const sshRun = await run('ssh', ['-F', config, injecting, 'true'], 10_000);
  assert.match(sshRun.stderr, /hostname contains invalid characters/);
  // An ordinary name is fine, and nothing ran while resolving.
  assert.equal(
    resolveHost('host-1.example.com', { configFile: config, env: {} }).proxyCommand,
    "sh -c 'echo host-1.example.com root' >/dev/null".replace('root', process.env.USER ?? 'root'),
  );
  assert.equal(existsSync(marker), false, 'no hostile name executed anything');
});

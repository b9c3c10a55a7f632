/**
 * The command line held to ssh's behaviour on bad input and on failures, each case run with
 * `ssh` beside ssh-keepalive where ssh's outcome can be observed. (Issue 9, defects 4 to 9.)
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { cliPath } from '../../tools/peers/repo';
import { freePort, sshdAvailability, startSshd, type SshdHandle } from '../../tools/peers/sshd';
import { until } from '../harness/bounded';
import { runCli, runProgram, runSsh } from '../harness/runSideBySide';
import { requireOrSkip } from '../harness/skip';

const noAgent = { SSH_AUTH_SOCK: undefined };

function scratch(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'ska-cli-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function server(t: TestContext): Promise<SshdHandle> {
  const sshd = await startSshd();
  t.after(() => sshd.stop());
  return sshd;
}

/** `ssh -G` and `ssh-keepalive -G` on the same arguments: exit codes and stderr. */
async function printBoth(args: string[]) {
  const [ssh, ours] = await Promise.all([
    runSsh(['-G', ...args], { env: noAgent, timeoutMs: 10_000 }),
    runCli(['-G', ...args], { env: noAgent, timeoutMs: 10_000 }),
  ]);
  return { ssh, ours };
}

test('config errors stop as in ssh -G: unknown keyword (file:line), unknown -o, bad value, missing -F; IgnoreUnknown lets them pass', async (t) => {
  const dir = scratch(t);
  const file = (name: string, text: string) => {
    writeFileSync(join(dir, name), text);
    return join(dir, name);
  };
  const bogus = file('bogus', 'Host other\n  HostName x\n  Bogus yes\n');
  const cases: Array<{ args: string[]; code: number; ssh?: RegExp; ours?: RegExp }> = [
    { args: ['-F', bogus, 'h'], code: 255, ssh: /line 3: Bad configuration option: bogus/, ours: /bogus:3: Bad configuration option: Bogus/ },
    {
      args: ['-F', '/dev/null', '-o', 'UnknownOpt=1', 'h'],
      code: 255,
      ssh: /Bad configuration option: unknownopt/,
      ours: /Bad configuration option: UnknownOpt/,
    },
    { args: ['-F', '/dev/null', '-o', 'BatchMode=perhaps', 'h'], code: 255, ssh: /"perhaps"/, ours: /BatchMode value "perhaps"/ },
    {
      args: ['-F', file('badflag', 'Host elsewhere\n  IdentitiesOnly maybe\n'), 'h'],
      code: 255,
      ssh: /"maybe"/,
      ours: /badflag:2: bad IdentitiesOnly value "maybe"/,
    },
    {
      args: ['-F', join(dir, 'missing'), 'h'],
      code: 255,
      ssh: /Can't open user config file .*missing: No such file or directory/,
      ours: /Can't open user config file .*missing: No such file or directory/,
    },
    { args: ['-F', file('ignored', 'IgnoreUnknown bogus,other*\nHost *\n  Bogus yes\n  OtherThing 2\n'), 'h'], code: 0 },
    // Known to OpenSSH, not implemented here: accepted (and reported when connecting), never an error.
    { args: ['-F', file('known', 'Host *\n  AddKeysToAgent yes\n  ControlMaster auto\n'), 'h'], code: 0 },
  ];
  for (const c of cases) {
    const { ssh, ours } = await printBoth(c.args);
    const what = c.args.join(' ');
    assert.equal(ssh.code, c.code, `ssh -G ${what}: ${ssh.stderr}`);
    assert.equal(ours.code, c.code, `ssh-keepalive -G ${what}: ${ours.stderr}`);
    if (c.ssh) assert.match(ssh.stderr, c.ssh, `ssh -G ${what}`);
    if (c.ours) assert.match(ours.stderr, c.ours, `ssh-keepalive -G ${what}`);
  }
});

test('-F /dev/zero, a config over 4 MiB, or an endless pipe are refused with a message, at once; a named pipe is read as ssh reads it', async (t) => {
  const dir = scratch(t);
  const big = join(dir, 'big');
  writeFileSync(big, `# ${'x'.repeat(78)}\n`.repeat(60_000));
  // A named pipe with a writer: ssh reads it to its end, and so does ssh-keepalive. (ssh
  // cannot read `-F <(...)`: it closes every descriptor above 2 at start.)
  const fifo = join(dir, 'fifo');
  execFileSync('mkfifo', [fifo]);
  // Reader first, and writer first (it waits in open() for a reader, writes at once and is
  // gone: a reader that opened the pipe twice lost what it wrote and waited forever).
  for (const pause of ['', 'sleep 0.2;']) {
    const script = `printf 'Host h\\n  Port 2200\\n' > "$0" & ${pause} "$@" -G -F "$0" h`;
    for (const client of [['ssh'], [process.execPath, cliPath]]) {
      const r = await runProgram('bash', ['-c', script, fifo, ...client], { timeoutMs: 10_000 });
      assert.equal(r.code, 0, `${client.join(' ')} -F fifo (${pause || 'reader first'}): ${r.stderr}`);
      assert.match(r.stdout, /^port 2200$/m, `${client.join(' ')} read the pipe (${pause || 'reader first'})`);
    }
  }
  const endless = await runProgram('bash', ['-c', `yes '# endless' > "$0" & "$@" -G -F "$0" h`, fifo, process.execPath, cliPath], { timeoutMs: 10_000 });
  assert.equal(endless.timedOut, false, 'an endless pipe must not hang');
  assert.equal(endless.code, 255);
  assert.match(endless.stderr, /more than 4194304 bytes; config files over 4194304 bytes \(4 MiB\) are refused/);
  for (const [file, message] of [
    ['/dev/zero', /\/dev\/zero: not a regular file/],
    [big, /big: it is 4860000 bytes; config files over 4194304 bytes \(4 MiB\) are refused/],
  ] as const) {
    const r = await runCli(['-G', '-F', file, 'h'], { timeoutMs: 10_000 });
    assert.equal(r.timedOut, false, `-F ${file} must not hang`);
    assert.equal(r.code, 255, `-F ${file}: ${r.stderr}`);
    assert.match(r.stderr, message);
  }
});

test('ServerAliveInterval and ConnectTimeout too long for a timer are clamped with a warning and connect, as ssh connects', async (t) => {
  if (!requireOrSkip(t, sshdAvailability)) return;
  const sshd = await server(t);
  const args = ['-F', sshd.sshConfigPath, '-o', 'BatchMode=yes', '-o', 'ServerAliveInterval=2147484', '-o', 'ConnectTimeout=2147484', sshd.alias, 'true'];
  const [ssh, ours] = await Promise.all([runSsh(args, { env: noAgent }), runCli(args, { env: noAgent })]);
  assert.equal(ssh.code, 0, ssh.stderr);
  assert.equal(ours.code, 0, ours.stderr);
  assert.match(ours.stderr, /ServerAliveInterval 2147484 is longer than the longest timer/);
  assert.match(ours.stderr, /ConnectTimeout 2147484 is longer than the longest timer/);
  assert.doesNotMatch(ours.stderr, /attempt \d+ failed|TimeoutOverflowWarning/);
});

/** `ssh-keepalive -N` in the background; its stderr so far and its exit, both observable. */
function startN(t: TestContext, args: string[]) {
  const child = spawn(process.execPath, [cliPath, '-N', ...args], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, SSH_AUTH_SOCK: '' } });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  t.after(() => child.kill('SIGKILL'));
  return { child, exited, stderr: () => stderr };
}

async function exitWithin(run: ReturnType<typeof startN>, ms: number, what: string): Promise<number | null> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((r) => (timer = setTimeout(() => r('late'), ms)));
  const code = await Promise.race([run.exited, late]).finally(() => clearTimeout(timer));
  assert.notEqual(code, 'late', `timed out after ${ms} ms waiting for ${what}; stderr: ${run.stderr()}`);
  return code as number | null;
}

/** A copy of the server's ssh_config elsewhere: restart() kills every process whose command line names the server's directory. */
function configOutside(t: TestContext, sshd: SshdHandle): string {
  const config = join(scratch(t), 'ssh_config');
  copyFileSync(sshd.sshConfigPath, config);
  return config;
}

function reinstallHostKey(sshd: SshdHandle): void {
  const keyFile = join(sshd.dir, 'ssh_host_ed25519_key');
  rmSync(keyFile);
  rmSync(`${keyFile}.pub`);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'reinstalled-host', '-f', keyFile]);
}

test('-N: a host key that changes across a reconnect is printed once and exits 255, as ssh ends', async (t) => {
  if (!requireOrSkip(t, sshdAvailability)) return;
  const sshd = await server(t);
  const config = configOutside(t, sshd);
  const port = await freePort();
  const run = startN(t, ['-F', config, '-o', 'BatchMode=yes', '-L', `${port}:127.0.0.1:${sshd.port}`, sshd.alias]);
  await until(() => sshd.logs().includes('Accepted publickey'), 15_000, 'the first connection');
  const ssh = spawn('ssh', ['-N', '-F', config, '-o', 'BatchMode=yes', sshd.alias], { stdio: 'ignore', env: { ...process.env, SSH_AUTH_SOCK: '' } });
  const sshExit = new Promise<number | null>((resolve) => ssh.on('exit', (code) => resolve(code)));
  t.after(() => ssh.kill('SIGKILL'));
  await until(() => (sshd.logs().match(/Accepted publickey/g) ?? []).length >= 2, 15_000, 'ssh -N to connect too');
  reinstallHostKey(sshd);
  await sshd.restart();
  const code = await exitWithin(run, 15_000, 'ssh-keepalive -N to exit after the host key changed');
  assert.equal(code, 255, run.stderr());
  assert.equal(run.stderr().match(/HAS CHANGED/g)?.length, 1, `the reason is printed once: ${run.stderr()}`);
  assert.equal(await sshExit, 255, 'ssh -N ends with 255 when its server goes away');
});

test('-N --keep-listeners: after a fatal error the local port stays bound, the reason printed once', async (t) => {
  if (!requireOrSkip(t, sshdAvailability)) return;
  const sshd = await server(t);
  const config = configOutside(t, sshd);
  const port = await freePort();
  const run = startN(t, ['-F', config, '-o', 'BatchMode=yes', '--keep-listeners', '-L', `${port}:127.0.0.1:${sshd.port}`, sshd.alias]);
  await until(() => sshd.logs().includes('Accepted publickey'), 15_000, 'the first connection');
  reinstallHostKey(sshd);
  await sshd.restart();
  await until(() => /--keep-listeners/.test(run.stderr()), 15_000, 'the note that the listeners are kept');
  assert.equal(run.child.exitCode, null, 'still running');
  assert.equal(run.stderr().match(/HAS CHANGED/g)?.length, 1, run.stderr());
  const probe: Server = createServer();
  const bound = await new Promise<boolean>((resolve) => {
    probe.once('error', () => resolve(true));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(false)));
  });
  assert.ok(bound, `local port ${port} is still bound`);
});

test('a refused port is printed at the default verbosity while retried; ssh prints it too', async (t) => {
  const port = await freePort();
  const run = startN(t, ['-F', '/dev/null', '-o', 'BatchMode=yes', '-p', String(port), '127.0.0.1']);
  await until(() => /refused/.test(run.stderr()), 5_000, 'the first refusal to be printed');
  // Retries go on (about once a second): still one line.
  await new Promise((r) => setTimeout(r, 2500));
  assert.equal(run.stderr().match(/refused/g)?.length, 1, run.stderr());
  const ssh = await runSsh(['-F', '/dev/null', '-o', 'BatchMode=yes', '-p', String(port), '127.0.0.1', 'true'], { env: noAgent });
  assert.equal(ssh.code, 255);
  assert.match(ssh.stderr, /Connection refused/);
});

test('a host name over 253 characters is fatal at once (exit 255), as in ssh', async () => {
  const name = `${'a'.repeat(60)}.`.repeat(5) + 'example';
  const [ssh, ours] = await Promise.all([
    runSsh(['-F', '/dev/null', '-o', 'BatchMode=yes', name, 'true'], { env: noAgent, timeoutMs: 15_000 }),
    runCli(['-F', '/dev/null', '-o', 'BatchMode=yes', name, 'true'], { env: noAgent, timeoutMs: 15_000 }),
  ]);
  assert.equal(ssh.code, 255, ssh.stderr);
  assert.equal(ours.timedOut, false, 'not retried');
  assert.equal(ours.code, 255, ours.stderr);
  assert.match(ours.stderr, /the host name is \d+ characters long \(at most 253\)/);
});

test('a local port in use is reported once, with or without ExitOnForwardFailure (ssh exits 255 with it)', async (t) => {
  if (!requireOrSkip(t, sshdAvailability)) return;
  const sshd = await server(t);
  const squatter = createServer();
  await new Promise<void>((r) => squatter.listen(0, '127.0.0.1', r));
  t.after(() => squatter.close());
  const busy = (squatter.address() as { port: number }).port;
  // The address given: ssh would otherwise also bind ::1 and count that as success.
  const forward = `127.0.0.1:${busy}:127.0.0.1:${sshd.port}`;
  const base = ['-F', sshd.sshConfigPath, '-o', 'BatchMode=yes'];

  const exiting = await runCli([...base, '-o', 'ExitOnForwardFailure=yes', '-N', '-L', forward, sshd.alias], { env: noAgent, timeoutMs: 15_000 });
  assert.equal(exiting.code, 255, exiting.stderr);
  assert.equal(exiting.stderr.match(/already in use/g)?.length, 1, exiting.stderr);
  const ssh = await runSsh([...base, '-o', 'ExitOnForwardFailure=yes', '-N', '-L', forward, sshd.alias], { env: noAgent, timeoutMs: 15_000 });
  assert.equal(ssh.code, 255, ssh.stderr);

  const staying = startN(t, [...base, '-L', forward, sshd.alias]);
  await until(() => /already in use/.test(staying.stderr()) && sshd.logs().includes('Accepted publickey'), 15_000, 'the warning and the connection');
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(staying.stderr().match(/already in use/g)?.length, 1, staying.stderr());
});

import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { chmod, writeFile } from 'node:fs/promises';
import * as net from 'node:net';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { dropbearAvailability, startDropbear } from '../../tools/peers/dropbear';
import { sshdAvailability, startSshd, type SshdHandle } from '../../tools/peers/sshd';
import { requireOrSkip } from '../harness/skip';

interface Run {
  stdout: string;
  stderr: string;
  code: number | null;
}

/** Run a command with a hard deadline; the test's own agent and config never leak in. */
function run(cmd: string, args: string[], opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const env = { ...process.env, ...opts.env };
    delete env.SSH_AUTH_SOCK;
    const c = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
    let stdout = '';
    let stderr = '';
    c.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    c.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const timer = setTimeout(() => c.kill('SIGKILL'), opts.timeoutMs ?? 15_000);
    c.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    c.on('close', (code) => {
      clearTimeout(timer);
      resolve({ stdout, stderr, code });
    });
  });
}

/** ssh options that pin everything but the identity, for trying other keys. */
function bareSsh(sshd: SshdHandle, identity: string, extra: string[] = []): string[] {
  return [
    '-F',
    '/dev/null',
    '-p',
    String(sshd.port),
    '-o',
    'IdentitiesOnly=yes',
    '-o',
    `IdentityFile=${identity}`,
    '-o',
    `UserKnownHostsFile=${sshd.knownHostsPath}`,
    '-o',
    'StrictHostKeyChecking=yes',
    '-o',
    'PreferredAuthentications=publickey',
    ...extra,
    `${sshd.user}@${sshd.host}`,
  ];
}

/** `p`, or a rejection after `ms`; the timer never outlives the race. */
async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timeout: ${what}`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

function portOpen(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, host);
    s.setTimeout(2000);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
    s.once('timeout', () => {
      s.destroy();
      resolve(false);
    });
  });
}

function pidsWithEnv(needle: string): number[] {
  const out: number[] = [];
  for (const n of readdirSync('/proc')) {
    if (!/^\d+$/.test(n)) continue;
    try {
      if (readFileSync(`/proc/${n}/environ`, 'latin1').split('\0').includes(needle)) out.push(Number(n));
    } catch {
      // gone or not ours
    }
  }
  return out;
}

describe('harness: real sshd', () => {
  let sshd: SshdHandle | undefined;

  before(async () => {
    if (sshdAvailability().ok) sshd = await startSshd();
  });
  after(async () => {
    await sshd?.stop();
  });

  it('plain ssh with the generated ssh_config runs a command', async (t) => {
    if (!requireOrSkip(t, sshdAvailability)) return;
    const r = await run('ssh', ['-F', sshd!.sshConfigPath, '-o', 'BatchMode=yes', sshd!.alias, 'echo', 'ok']);
    assert.equal(r.code, 0, `ssh failed: ${r.stderr}\n--- sshd ---\n${sshd!.logs()}`);
    assert.equal(r.stdout.trim(), 'ok');
    assert.match(sshd!.logs(), /Accepted publickey/);
    assert.match(sshd!.hostKeyPublicLine, /^ssh-ed25519 AAAA\S+$/);
    assert.equal(readFileSync(sshd!.knownHostsPath, 'utf8').trim(), `[${sshd!.host}]:${sshd!.port} ${sshd!.hostKeyPublicLine}`);
  });

  it('the encrypted key is refused without its passphrase and works with it', async (t) => {
    if (!requireOrSkip(t, sshdAvailability)) return;
    const batch = await run('ssh', bareSsh(sshd!, sshd!.encryptedClientKeyPath, ['-o', 'BatchMode=yes']).concat('echo', 'ok'));
    assert.equal(batch.code, 255, `expected refusal, got ${batch.code}: ${batch.stdout}${batch.stderr}`);
    assert.match(batch.stderr, /Permission denied/);

    const askpass = path.join(sshd!.dir, 'askpass.sh');
    await writeFile(askpass, `#!/bin/sh\nprintf '%s\\n' '${sshd!.passphrase}'\n`);
    await chmod(askpass, 0o700);
    const withPass = await run('ssh', bareSsh(sshd!, sshd!.encryptedClientKeyPath).concat('echo', 'ok'), {
      env: { SSH_ASKPASS: askpass, SSH_ASKPASS_REQUIRE: 'force', DISPLAY: ':0' },
    });
    assert.equal(withPass.code, 0, `passphrase rejected: ${withPass.stderr}`);
    assert.equal(withPass.stdout.trim(), 'ok');
  });

  it('an unknown host key is refused (StrictHostKeyChecking works)', async (t) => {
    if (!requireOrSkip(t, sshdAvailability)) return;
    const r = await run('ssh', ['-F', sshd!.sshConfigPath, '-o', 'BatchMode=yes', '-o', 'UserKnownHostsFile=/dev/null', sshd!.alias, 'echo', 'ok']);
    assert.equal(r.code, 255);
    assert.match(r.stderr, /Host key verification failed/);
  });

  it('restart() keeps port and host key and kills live sessions', async (t) => {
    if (!requireOrSkip(t, sshdAvailability)) return;
    const live = spawn('ssh', ['-F', sshd!.sshConfigPath, '-o', 'BatchMode=yes', sshd!.alias, 'echo up; exec sleep 300'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    t.after(() => {
      live.kill('SIGKILL');
    });
    const exited = new Promise<number | null>((resolve) => live.on('close', (code) => resolve(code)));
    await within(new Promise<void>((resolve) => live.stdout.on('data', (b: Buffer) => b.toString().includes('up') && resolve())), 10_000, 'session start');
    await sshd!.restart();
    await within(exited, 10_000, 'the session dies with the server');
    const r = await run('ssh', ['-F', sshd!.sshConfigPath, '-o', 'BatchMode=yes', sshd!.alias, 'echo', 'again']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'again');
  });

  it('stop() kills sshd, its sessions and their daemons (tmux), frees the port, removes the dir', async (t) => {
    if (!requireOrSkip(t, sshdAvailability)) return;
    const own = await startSshd({ alias: 'other', extraConfig: ['ClientAliveInterval 30'] });
    let stopped = false;
    t.after(async () => {
      if (!stopped) await own.stop();
    });
    assert.match(readFileSync(path.join(own.dir, 'sshd_config'), 'utf8'), /^ClientAliveInterval 30$/m);
    assert.doesNotMatch(readFileSync(path.join(own.dir, 'sshd_config'), 'utf8'), /^ClientAliveInterval 0$/m);

    const haveTmux = (await run('sh', ['-c', 'command -v tmux'])).code === 0;
    if (haveTmux) {
      // tmux daemonizes out of the session's process tree: only the env marker finds it.
      const r = await run('ssh', ['-F', own.sshConfigPath, '-o', 'BatchMode=yes', 'other', 'tmux new-session -d -s h "sleep 300"; echo $TMUX_TMPDIR']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.trim(), own.tmuxTmpDir);
    }
    const live = spawn('ssh', ['-F', own.sshConfigPath, '-o', 'BatchMode=yes', 'other', 'exec sleep 300'], { stdio: 'ignore' });
    t.after(() => {
      live.kill('SIGKILL');
    });
    const exited = new Promise<void>((resolve) => live.on('close', () => resolve()));
    const needle = `SSHK_HARNESS_SSHD=${own.dir}`;
    assert.ok(pidsWithEnv(needle).length > 0);

    await own.stop();
    stopped = true;
    await own.stop(); // idempotent
    assert.equal(await portOpen(own.host, own.port), false, 'port closed');
    assert.equal(existsSync(own.dir), false, 'temp dir removed');
    assert.deepEqual(pidsWithEnv(needle), [], 'no process of that server left');
    await within(exited, 10_000, 'ssh client ends when its server is gone');
  });
});

describe('Dropbear test server (tools/peers/dropbear.ts)', () => {
  it('logs in its throwaway user with the generated key and known_hosts, never a real account; stop() removes user, processes and dir', async (t) => {
    if (!requireOrSkip(t, dropbearAvailability)) return;
    const db = await startDropbear({ alias: 'db' });
    let stopped = false;
    t.after(async () => {
      if (!stopped) await db.stop();
    });
    assert.match(db.user, /^ska-db-\d+-\d+$/);
    const r = await run('ssh', [
      '-F',
      db.sshConfigPath,
      '-o',
      'BatchMode=yes',
      'db',
      'id -un; echo "$HOME"; tmux -V >/dev/null 2>&1 && tmux new-session -d -s h "sleep 300"; true',
    ]);
    assert.equal(r.code, 0, `ssh failed: ${r.stderr}\n--- dropbear ---\n${db.logs()}`);
    const [user, home] = r.stdout.trim().split('\n');
    assert.equal(user, db.user);
    assert.ok(home.startsWith(db.dir), `home ${home} is inside the server's temp dir`);
    // A pty works (dropbear must be able to give it to the user: group tty).
    const pty = await run('ssh', ['-F', db.sshConfigPath, '-o', 'BatchMode=yes', '-tt', 'db', 'tty']);
    assert.match(pty.stdout, /\/dev\/pts\//, pty.stderr);
    await db.stop();
    stopped = true;
    await db.stop(); // idempotent
    assert.equal(await portOpen(db.host, db.port), false, 'port closed');
    assert.equal(existsSync(db.dir), false, 'temp dir removed');
    assert.doesNotMatch(readFileSync('/etc/passwd', 'utf8'), new RegExp(`^${db.user}:`, 'm'), 'user deleted');
    const left = readdirSync('/proc')
      .filter((n) => /^\d+$/.test(n))
      .filter((pid) => {
        try {
          return new RegExp(`^Uid:\\s+${db.uid}\\s`, 'm').test(readFileSync(`/proc/${pid}/status`, 'utf8'));
        } catch {
          return false;
        }
      });
    assert.deepEqual(left, [], 'no process of the throwaway user left (tmux included)');
  });
});

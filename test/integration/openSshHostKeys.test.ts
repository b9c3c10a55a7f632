/**
 * Host keys and agents as OpenSSH treats them, each case run with `ssh` and with
 * ssh-keepalive side by side against the same real sshd: both must connect, or both must
 * refuse. (Issue 9, defects 1 to 3.)
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { knownHostsName } from '../../src/core/base/hostPort';
import { runCli, runSsh, type Ran } from '../harness/runSideBySide';
import { requireOrSkip } from '../harness/skip';
import { sshdAvailability, startSshd, type SshdHandle, type SshdOptions } from '../../tools/peers/sshd';

async function server(t: TestContext, options: SshdOptions = {}): Promise<SshdHandle> {
  const sshd = await startSshd(options);
  t.after(() => sshd.stop());
  return sshd;
}

function scratch(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'ska-openssh-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A public key line "type AAAA..." of a fresh key that no server holds. */
function strangerKey(dir: string, type: 'rsa' | 'ed25519'): string {
  const file = join(dir, `stranger_${type}`);
  execFileSync('ssh-keygen', ['-q', '-t', type, ...(type === 'rsa' ? ['-b', '2048'] : []), '-N', '', '-f', file]);
  return readFileSync(`${file}.pub`, 'utf8').trim().split(/\s+/).slice(0, 2).join(' ');
}

/** The same command line for both clients: the sshd's ssh_config, BatchMode, and `extra` -o options. */
async function both(sshd: SshdHandle, extra: string[], env: NodeJS.ProcessEnv = { SSH_AUTH_SOCK: undefined }): Promise<{ ssh: Ran; ours: Ran }> {
  const args = ['-F', sshd.sshConfigPath, '-o', 'BatchMode=yes', ...extra.flatMap((o) => ['-o', o]), sshd.alias, 'true'];
  const [ssh, ours] = await Promise.all([runSsh(args, { env, timeoutMs: 20_000 }), runCli(args, { env, timeoutMs: 20_000 })]);
  return { ssh, ours };
}

function assertBoth(r: { ssh: Ran; ours: Ran }, code: number, what: string): void {
  assert.equal(r.ssh.code, code, `ssh: ${what}; its stderr: ${r.ssh.stderr}`);
  assert.equal(r.ours.code, code, `ssh-keepalive: ${what}; its stderr: ${r.ours.stderr}`);
}

test('a stale SSH_AUTH_SOCK (no such socket) is skipped and the identity file used, as ssh does', async (t) => {
  if (!requireOrSkip(t, sshdAvailability)) return;
  const sshd = await server(t);
  const gone = join(scratch(t), 'agent.gone.sock');
  const r = await both(sshd, ['IdentitiesOnly=no'], { SSH_AUTH_SOCK: gone });
  assertBoth(r, 0, 'connects with the identity file');
  assert.equal(r.ours.stderr.match(/agent cannot be used/g)?.length, 1, `one warning about the agent: ${r.ours.stderr}`);
  // Every failed attempt is printed (the first of its kind as a warning): none may fail.
  assert.doesNotMatch(r.ours.stderr, /attempt \d+ failed/);
});

test('an IdentityAgent socket whose agent died (connection refused) is skipped, as ssh does', async (t) => {
  if (!requireOrSkip(t, sshdAvailability)) return;
  const sshd = await server(t);
  const dead = join(scratch(t), 'agent.dead.sock');
  // A socket file left behind by a process that exited: connecting to it is refused.
  spawnSync('python3', ['-c', `import socket; s = socket.socket(socket.AF_UNIX); s.bind(${JSON.stringify(dead)})`]);
  const r = await both(sshd, [`IdentityAgent=${dead}`, 'IdentitiesOnly=no']);
  assertBoth(r, 0, 'connects with the identity file');
  assert.match(r.ours.stderr, /agent cannot be used/);
  assert.doesNotMatch(r.ours.stderr, /attempt \d+ failed/);
});

test('accept-new refuses a key of a new type when known_hosts holds another type for the host, as ssh does', async (t) => {
  if (!requireOrSkip(t, sshdAvailability)) return;
  const sshd = await server(t);
  const name = knownHostsName(sshd.host, sshd.port);
  const recorded = `${name} ${strangerKey(scratch(t), 'rsa')}\n`;
  writeFileSync(sshd.knownHostsPath, recorded);
  const r = await both(sshd, ['StrictHostKeyChecking=accept-new', 'GlobalKnownHostsFile=none']);
  assertBoth(r, 255, 'refuses the ed25519 key');
  assert.match(r.ssh.stderr, /has changed and you have requested strict checking/);
  assert.match(r.ours.stderr, /HAS CHANGED/);
  assert.equal(readFileSync(sshd.knownHostsPath, 'utf8'), recorded, 'known_hosts is left as it was');
});

test('a server with the recorded RSA key and a newer ed25519 key is verified with the RSA key, as ssh does', async (t) => {
  if (!requireOrSkip(t, sshdAvailability)) return;
  const sshd = await server(t, { rsaHostKey: true });
  const rsa = readFileSync(join(sshd.dir, 'ssh_host_rsa_key.pub'), 'utf8').trim().split(/\s+/).slice(0, 2).join(' ');
  writeFileSync(sshd.knownHostsPath, `${knownHostsName(sshd.host, sshd.port)} ${rsa}\n`);
  const r = await both(sshd, ['StrictHostKeyChecking=yes', 'GlobalKnownHostsFile=none']);
  assertBoth(r, 0, 'connects: the RSA key is asked for first');
});

test('GlobalKnownHostsFile: a key pinned there is not bypassed by accept-new, and a pinned key is trusted', async (t) => {
  if (!requireOrSkip(t, sshdAvailability)) return;
  const sshd = await server(t);
  const dir = scratch(t);
  const name = knownHostsName(sshd.host, sshd.port);
  const global = join(dir, 'ssh_known_hosts');
  writeFileSync(sshd.knownHostsPath, '');
  writeFileSync(global, `${name} ${strangerKey(dir, 'ed25519')}\n`);
  const refused = await both(sshd, ['StrictHostKeyChecking=accept-new', `GlobalKnownHostsFile=${global}`]);
  assertBoth(refused, 255, 'refuses a key other than the pinned one');
  assert.equal(readFileSync(sshd.knownHostsPath, 'utf8'), '', 'nothing was added to the user file');

  writeFileSync(global, `${name} ${sshd.hostKeyPublicLine}\n`);
  const trusted = await both(sshd, ['StrictHostKeyChecking=yes', `GlobalKnownHostsFile=${global}`]);
  assertBoth(trusted, 0, 'connects with the key pinned in the global file only');
});

test('HashKnownHosts yes: a key added with accept-new is written under a hashed name, as ssh writes it', async (t) => {
  if (!requireOrSkip(t, sshdAvailability)) return;
  const sshd = await server(t);
  const dir = scratch(t);
  const files = { ssh: join(dir, 'kh_ssh'), ours: join(dir, 'kh_ours') };
  const common = ['StrictHostKeyChecking=accept-new', 'GlobalKnownHostsFile=none', 'HashKnownHosts=yes'];
  const args = (file: string) => [
    '-F',
    sshd.sshConfigPath,
    '-o',
    'BatchMode=yes',
    ...[...common, `UserKnownHostsFile=${file}`].flatMap((o) => ['-o', o]),
    sshd.alias,
    'true',
  ];
  const env = { SSH_AUTH_SOCK: undefined };
  const [ssh, ours] = await Promise.all([runSsh(args(files.ssh), { env }), runCli(args(files.ours), { env })]);
  assertBoth({ ssh, ours }, 0, 'connects and adds the key');
  for (const [who, file] of Object.entries(files)) {
    const line = readFileSync(file, 'utf8').trim();
    assert.match(line, /^\|1\|[A-Za-z0-9+/=]+\|[A-Za-z0-9+/=]+ ssh-ed25519 /, `${who} wrote a hashed entry: ${line}`);
    // Each client reads the other's entry: the same key under the same (hashed) name.
    const other = who === 'ssh' ? files.ours : files.ssh;
    assert.equal(line.split(' ').slice(1).join(' '), readFileSync(other, 'utf8').trim().split(' ').slice(1).join(' '));
  }
  const again = await runSsh(
    ['-F', sshd.sshConfigPath, '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=yes', '-o', `UserKnownHostsFile=${files.ours}`, sshd.alias, 'true'],
    {
      env,
    },
  );
  assert.equal(again.code, 0, `ssh accepts the hashed entry ssh-keepalive wrote: ${again.stderr}`);
});

import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { resolveHost } from '../../src/core/config/sshConfig';
import type { SessionError } from '../../src/core/session/errors';
import { noPrompter } from '../../src/core/session/prompter';
import { Session, sessionOptionsFor } from '../../src/core/session/session';
import { sshdAvailability, startSshd, type SshdHandle } from '../../tools/peers/sshd';
import { until } from '../harness/bounded';
import { fastSession } from '../harness/fastOptions';
import { fakeSkEd25519 } from '../harness/keys';
import { recordingLogger } from '../harness/recordingLogger';
import { requireOrSkip } from '../harness/skip';

/**
 * Keys ssh uses that ssh2 cannot: an OpenSSH certificate beside the IdentityFile or in the
 * agent, and a FIDO sk- key. The server trusts a user CA and has none of these keys in
 * authorized_keys, so ssh gets in with the certificate while ssh-keepalive cannot: its
 * failure must name each key and say what to do, not just "all methods failed".
 */

interface Keys {
  dir: string;
  key: string;
  cert: string;
  sk: string;
}

function makeKeys(t: TestContext): Keys {
  const dir = mkdtempSync(join(tmpdir(), 'ska-keys-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const keygen = (...args: string[]) => execFileSync('ssh-keygen', ['-q', ...args], { stdio: 'pipe' });
  keygen('-t', 'ed25519', '-N', '', '-C', 'user-ca', '-f', join(dir, 'ca'));
  keygen('-t', 'ed25519', '-N', '', '-C', 'certified', '-f', join(dir, 'id_cert_user'));
  keygen('-s', join(dir, 'ca'), '-I', 'ska-test', '-n', userInfo().username, join(dir, 'id_cert_user.pub'));
  const sk = join(dir, 'id_ed25519_sk');
  writeFileSync(sk, fakeSkEd25519('fake security key'), { mode: 0o600 });
  return { dir, key: join(dir, 'id_cert_user'), cert: join(dir, 'id_cert_user-cert.pub'), sk };
}

async function caSshd(t: TestContext, keys: Keys): Promise<SshdHandle> {
  const sshd = await startSshd({ extraConfig: [`TrustedUserCAKeys ${join(keys.dir, 'ca.pub')}`] });
  t.after(() => sshd.stop());
  // Only the CA lets anyone in: the peer's own client key is no longer authorized.
  writeFileSync(join(sshd.dir, 'authorized_keys'), '');
  return sshd;
}

async function failure(t: TestContext, sshd: SshdHandle, overrides: Array<[string, string]>, env: NodeJS.ProcessEnv = {}): Promise<SessionError> {
  const host = resolveHost(sshd.alias, { configFile: sshd.sshConfigPath, env: { SSH_AUTH_SOCK: undefined, ...env }, overrides });
  const session = new Session(host, sessionOptionsFor(host, fastSession), { prompter: noPrompter, logger: recordingLogger() });
  t.after(() => session.dispose());
  let error: SessionError | undefined;
  await session.start().catch((e: SessionError) => (error = e));
  assert.ok(error, 'the login fails');
  return error;
}

function ssh(sshd: SshdHandle, args: string[], env: NodeJS.ProcessEnv = {}): number {
  try {
    execFileSync('ssh', ['-F', sshd.sshConfigPath, '-o', 'BatchMode=yes', ...args, sshd.alias, 'true'], {
      stdio: 'pipe',
      env: { ...process.env, SSH_AUTH_SOCK: '', ...env },
    });
    return 0;
  } catch (err) {
    return (err as { status: number }).status;
  }
}

test('an IdentityFile with a -cert.pub beside it: ssh logs in with the certificate; the failure here names the certificate', async (t) => {
  if (!requireOrSkip(t, sshdAvailability)) return;
  const keys = makeKeys(t);
  const sshd = await caSshd(t, keys);
  assert.equal(ssh(sshd, ['-o', `IdentityFile=${keys.key}`]), 0, 'ssh logs in with the certificate');
  const err = await failure(t, sshd, [['IdentityFile', keys.key]]);
  assert.equal(err.code, 'auth-failed');
  assert.match(err.message, new RegExp(`certificate ${keys.cert} is an OpenSSH certificate \\(ssh-ed25519-cert-v01@openssh.com\\).*authorized_keys`));
});

test('CertificateFile: ssh logs in with the certificate; here it is named at start and in the failure, with what to do', async (t) => {
  if (!requireOrSkip(t, sshdAvailability)) return;
  const keys = makeKeys(t);
  const sshd = await caSshd(t, keys);
  // Not beside the key: only CertificateFile points ssh at it.
  const cert = join(keys.dir, 'elsewhere.cert');
  renameSync(keys.cert, cert);
  const overrides: Array<[string, string]> = [
    ['IdentityFile', keys.key],
    ['CertificateFile', cert],
  ];
  assert.equal(ssh(sshd, overrides.map(([k, v]) => ['-o', `${k}=${v}`]).flat()), 0, 'ssh logs in with the CertificateFile');
  const host = resolveHost(sshd.alias, { configFile: sshd.sshConfigPath, env: {}, overrides });
  const reported = host.unsupported.find((u) => u.option === 'CertificateFile');
  assert.match(reported?.reason ?? '', /cannot be used here.*authorized_keys/, 'reported when the host is resolved (the CLI prints it at start)');
  const err = await failure(t, sshd, overrides);
  assert.equal(err.code, 'auth-failed');
  assert.match(
    err.message,
    new RegExp(`certificate ${cert} \\(CertificateFile\\) is an OpenSSH certificate \\(ssh-ed25519-cert-v01@openssh.com\\).*authorized_keys`),
  );
});

test('an sk- IdentityFile: named as a security key, with what to do', async (t) => {
  if (!requireOrSkip(t, sshdAvailability)) return;
  const keys = makeKeys(t);
  const sshd = await caSshd(t, keys);
  const err = await failure(t, sshd, [['IdentityFile', keys.sk]]);
  assert.equal(err.code, 'auth-failed');
  assert.match(err.message, new RegExp(`identity file ${keys.sk} is a FIDO security-key key \\(sk-ssh-ed25519@openssh.com\\).*ssh-keygen -t ed25519`));
  assert.match(err.message, /not tried: identity file .*id_ed25519_sk \(it is a FIDO security-key key/);
});

test('an agent holding a certificate and an sk key: ssh logs in with the certificate; the failure here names both agent keys', async (t) => {
  if (!requireOrSkip(t, sshdAvailability)) return;
  const keys = makeKeys(t);
  const sshd = await caSshd(t, keys);
  const socket = join(keys.dir, 'agent.sock');
  const agent = spawn('ssh-agent', ['-D', '-a', socket], { stdio: 'ignore' });
  t.after(() => agent.kill());
  await until(() => existsSync(socket), 5000, 'ssh-agent to create its socket');
  const env = { ...process.env, SSH_AUTH_SOCK: socket };
  // ssh-add adds the key and the -cert.pub beside it.
  execFileSync('ssh-add', [keys.key, keys.sk], { stdio: 'pipe', env });
  assert.match(execFileSync('ssh-add', ['-l'], { env }).toString(), /ED25519-CERT/);
  assert.equal(ssh(sshd, ['-o', 'IdentityFile=none', '-o', 'IdentitiesOnly=no'], { SSH_AUTH_SOCK: socket }), 0, 'ssh logs in with the agent certificate');
  const err = await failure(t, sshd, [
    ['IdentityFile', 'none'],
    ['IdentitiesOnly', 'no'],
    ['IdentityAgent', socket],
  ]);
  assert.equal(err.code, 'auth-failed');
  assert.match(err.message, /agent key "fake security key" is a FIDO security-key key \(sk-ssh-ed25519@openssh.com\)/);
  assert.match(err.message, /agent key "[^"]*" is an OpenSSH certificate \(ssh-ed25519-cert-v01@openssh.com\)/);
  assert.ok(readFileSync(keys.cert, 'utf8').startsWith('ssh-ed25519-cert-v01@openssh.com'));
});

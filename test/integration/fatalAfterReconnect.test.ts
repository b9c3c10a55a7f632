import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { nullLogger } from '../../src/core/base/logger';
import { resolveHost } from '../../src/core/config/sshConfig';
import type { SessionError } from '../../src/core/session/errors';
import { noPrompter } from '../../src/core/session/prompter';
import { Session, sessionOptionsFor } from '../../src/core/session/session';
import { eventWithin, sleep, within } from '../harness/bounded';
import { requireOrSkip } from '../harness/skip';
import { sshdAvailability, startSshd, type SshdHandle } from '../../tools/peers/sshd';

/**
 * A fatal error is fatal after a reconnect too: a host key that changes while we are away,
 * or a login that stops working, ends the session in `failed` after one attempt. Retrying
 * in the background would hide an attack, or lock the account (fail2ban, 2FA).
 * Each test has an sshd of its own: it is restarted, and its log is counted.
 */

const connectionsIn = (sshd: SshdHandle) => (sshd.logs().match(/Connection from /g) ?? []).length;

async function connectedSession(t: TestContext): Promise<{ sshd: SshdHandle; session: Session }> {
  const sshd = await startSshd();
  t.after(() => sshd.stop());
  const host = resolveHost(sshd.alias, { configFile: sshd.sshConfigPath, env: { SSH_AUTH_SOCK: undefined } as NodeJS.ProcessEnv });
  // Quick retries: a wrongly retried fatal error would show several attempts within the wait below.
  const options = sessionOptionsFor(host, { backoff: { initialMs: 100, maxMs: 300, factor: 2, minMs: 50 }, connectTimeoutMs: 5000 });
  const session = new Session(host, options, { prompter: noPrompter, logger: nullLogger });
  t.after(() => session.dispose());
  await within(session.start(), 15_000, 'the first connection to sshd');
  return { sshd, session };
}

/** After the drop: `failed` with `code`, and sshd saw exactly one more connection. */
async function assertFailsAfterOneAttempt(sshd: SshdHandle, session: Session, before: number, code: SessionError['code'], what: string): Promise<void> {
  const failed = await eventWithin(session.onDidChangeState, (s) => s.kind === 'failed', 10_000, `the session to end 'failed' after ${what}`);
  assert.equal((failed as { error: SessionError }).error.code, code);
  // Time for several retries with the quick backoff above, were any made.
  await sleep(1500);
  assert.equal(connectionsIn(sshd) - before, 1, `exactly one attempt reached sshd after ${what}`);
  assert.equal(session.state.kind, 'failed', 'still failed: nothing retries in the background');
}

test('a host key that changes between reconnects ends the session in failed after one attempt', async (t) => {
  if (!requireOrSkip(t, sshdAvailability)) return;
  const { sshd, session } = await connectedSession(t);
  const before = connectionsIn(sshd);
  const keyFile = join(sshd.dir, 'ssh_host_ed25519_key');
  rmSync(keyFile);
  rmSync(`${keyFile}.pub`);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'reinstalled-host', '-f', keyFile]);
  // The restart drops the connection; the server comes back with the new key.
  await sshd.restart();
  await assertFailsAfterOneAttempt(sshd, session, before, 'host-key-changed', 'the host key changed');
});

test('a login that stops working between reconnects ends the session in failed after one attempt', async (t) => {
  if (!requireOrSkip(t, sshdAvailability)) return;
  const { sshd, session } = await connectedSession(t);
  const before = connectionsIn(sshd);
  writeFileSync(join(sshd.dir, 'authorized_keys'), '');
  await sshd.restart();
  await assertFailsAfterOneAttempt(sshd, session, before, 'auth-failed', 'the authorized key was removed');
});

import { after, before, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { SessionError } from '../../src/core/session/errors';
import { noPrompter, type Prompter } from '../../src/core/session/prompter';
import { Session, sessionOptionsFor } from '../../src/core/session/session';
import type { SessionState } from '../../src/core/session/state';
import type { ResolvedHost } from '../../src/core/config/types';
import { within } from '../harness/bounded';
import { startMiniServer, type MiniServer } from '../harness/miniServer';
import { assertNoSecrets, recordingLogger } from '../harness/recordingLogger';

/**
 * No password, passphrase or keyboard-interactive answer may reach a log line (at any
 * level, trace included), a state event or an error message: logs are pasted into bug
 * reports, and an error message ends up in a notification.
 */

const password = 'pw-Secret-4711-correct';
const wrongPassword = 'pw-Secret-0815-wrong';
const otp = 'otp-735911';
const wrongOtp = 'otp-000111';
const passphrase = 'pp-Secret-9f2e "quoted" \\ back';
const wrongPassphrase = 'pp-Secret-wrong-1d3c';
const allSecrets = [password, wrongPassword, otp, wrongOtp, passphrase, wrongPassphrase];

let pw: MiniServer;
let kbd: MiniServer;
let keyed: MiniServer;
before(async () => {
  [pw, kbd, keyed] = await Promise.all([
    startMiniServer({ password }),
    startMiniServer({ password: otp, kbdInteractive: true }),
    startMiniServer({ keyPassphrase: passphrase }),
  ]);
});
after(async () => {
  await Promise.all([pw?.close(), kbd?.close(), keyed?.close()]);
});

/** Serializes an event with its errors' messages and stacks (JSON.stringify drops them). */
function serialize(e: unknown): string {
  return JSON.stringify(e, (_k, v: unknown) => (v instanceof Error ? { ...v, name: v.name, message: v.message, stack: v.stack } : v));
}

/** A session whose log, state events and errors are all searched for secrets when the test ends. */
function watched(t: TestContext, host: ResolvedHost, prompter: Prompter) {
  const logger = recordingLogger();
  const session = new Session(host, sessionOptionsFor(host, { connectTimeoutMs: 3000 }), { prompter, logger });
  const events: string[] = [];
  session.onDidChangeState((s: SessionState) => events.push(serialize(s)));
  session.onDidProbe((p) => events.push(serialize(p)));
  const errors: string[] = [];
  const settle = async <T>(p: Promise<T>, what: string): Promise<T | SessionError> => {
    try {
      return await within(p, 10_000, what);
    } catch (err) {
      errors.push(serialize(err), String(err), (err as Error).stack ?? '');
      return err as SessionError;
    }
  };
  t.after(() => session.dispose());
  const check = () => {
    assert.ok(logger.lines.length > 0, 'the session logged something (else this test proves nothing)');
    assertNoSecrets(
      allSecrets,
      logger.lines.map((l) => l.message),
      'the log',
    );
    assertNoSecrets(allSecrets, events, 'a state or probe event');
    assertNoSecrets(allSecrets, errors, 'an error');
  };
  return { session, logger, settle, check };
}

test('a password, right or wrong, is in no log line, event or error', async (t) => {
  const good = watched(t, pw.resolvedHost(undefined, { identityFiles: [] }), { ...noPrompter, password: async () => password });
  await good.settle(good.session.start(), 'password login');
  assert.equal(good.session.state.kind, 'connected');
  await good.settle(good.session.reconnect(), 'reconnect with the password');
  assert.equal(good.session.state.kind, 'connected');
  good.check();

  const bad = watched(t, pw.resolvedHost(undefined, { identityFiles: [] }), { ...noPrompter, password: async () => wrongPassword });
  const err = await bad.settle(bad.session.start(), 'a refused password login');
  assert.ok(err instanceof SessionError && err.code === 'auth-failed', `expected auth-failed, got ${String(err)}`);
  bad.check();
});

test('a keyboard-interactive answer, right or wrong, is in no log line, event or error', async (t) => {
  const answer = (code: string): Prompter => ({ ...noPrompter, keyboardInteractive: async () => [code] });
  const good = watched(t, kbd.resolvedHost(undefined, { identityFiles: [] }), answer(otp));
  await good.settle(good.session.start(), 'keyboard-interactive login');
  assert.equal(good.session.state.kind, 'connected');
  good.check();

  const bad = watched(t, kbd.resolvedHost(undefined, { identityFiles: [] }), answer(wrongOtp));
  const err = await bad.settle(bad.session.start(), 'a refused keyboard-interactive login');
  assert.ok(err instanceof SessionError && err.code === 'auth-failed', `expected auth-failed, got ${String(err)}`);
  bad.check();
});

test('a key passphrase, right or wrong, is in no log line, event or error', async (t) => {
  const keyPath = keyed.encryptedClientKeyPath!;
  let asked = 0;
  const good = watched(t, keyed.resolvedHost(undefined, { identityFiles: [keyPath] }), {
    ...noPrompter,
    // A wrong answer first: the retry path logs too.
    passphrase: async () => (asked++ === 0 ? wrongPassphrase : passphrase),
  });
  await good.settle(good.session.start(), 'login with an encrypted key');
  assert.equal(good.session.state.kind, 'connected');
  assert.equal(asked, 2, 'asked again after the wrong passphrase');
  good.check();

  const bad = watched(t, keyed.resolvedHost(undefined, { identityFiles: [keyPath] }), { ...noPrompter, passphrase: async () => wrongPassphrase });
  const err = await bad.settle(bad.session.start(), 'a login whose key stays locked');
  assert.ok(err instanceof SessionError && err.code === 'auth-failed', `expected auth-failed, got ${String(err)}`);
  bad.check();
});

import { freePort } from '../../tools/peers/sshd';
import assert from 'node:assert/strict';
import { after, before, test, type TestContext } from 'node:test';
import type { SessionError } from '../../src/core/session/errors';
import { noPrompter, type Prompter } from '../../src/core/session/prompter';
import { Session, sessionOptionsFor, type SessionOptions } from '../../src/core/session/session';
import { eventWithin, sleep, within } from '../harness/bounded';
import { FakeClock } from '../harness/fakeClock';
import { fastSession } from '../harness/fastOptions';
import { startMiniServer, type MiniServer } from '../harness/miniServer';
import { recordingLogger } from '../harness/recordingLogger';

/**
 * Two-factor accounts and hosts that lock accounts: a reconnect never answers a
 * keyboard-interactive prompt by itself and shows one prompt at a time; a person can pause
 * every attempt on a host and resume; --max-attempts bounds unattended attempts.
 */

let mfa: MiniServer;
before(async () => {
  mfa = await startMiniServer({ password: '424242', kbdInteractive: true });
});
after(() => mfa.close());

function sessionFor(
  t: TestContext,
  server: MiniServer,
  prompter: Prompter,
  port = server.port,
  options: Partial<SessionOptions> = {},
  clock?: FakeClock,
): Session {
  const host = server.resolvedHost(port, { identityFiles: [] });
  const session = new Session(host, sessionOptionsFor(host, { ...fastSession, ...options }), { prompter, logger: recordingLogger(), clock });
  t.after(() => session.dispose());
  return session;
}

/** Ends the server side of every connection and waits for the session to come back by itself. */
async function dropAndReconnect(session: Session, server: MiniServer): Promise<void> {
  for (const c of server.connections) c.end();
  await eventWithin(session.onDidChangeState, (s) => s.kind === 'lost', 5000, 'the connection to drop');
  await eventWithin(session.onDidChangeState, (s) => s.kind === 'connected', 10_000, 'the reconnect');
}

test('a reconnect asks the person again for the one-time code: nothing is answered from memory', async (t) => {
  const asked: string[][] = [];
  const prompter: Prompter = {
    ...noPrompter,
    keyboardInteractive: async (_u, _h, _n, _i, prompts) => (asked.push(prompts.map((p) => p.prompt)), ['424242']),
  };
  const session = sessionFor(t, mfa, prompter);
  await within(session.start(), 10_000, 'the first login with the code');
  assert.equal(asked.length, 1);
  await dropAndReconnect(session, mfa);
  assert.deepEqual(asked, [['Verification code: '], ['Verification code: ']], 'the reconnect asked the person again');
});

test('a reconnect asks the person again for the password: nothing is answered from memory', async (t) => {
  const pw = await startMiniServer({ password: 'hunter2' });
  t.after(() => pw.close());
  const asked: string[] = [];
  const prompter: Prompter = { ...noPrompter, password: async (user) => (asked.push(user), 'hunter2') };
  const session = sessionFor(t, pw, prompter);
  await within(session.start(), 10_000, 'the first login with the password');
  assert.equal(asked.length, 1);
  await dropAndReconnect(session, pw);
  assert.equal(asked.length, 2, 'the reconnect asked the person again');
});

test('while a reconnect waits for a person, there is one prompt and no further attempt', async (t) => {
  let asked = 0;
  let answer: ((a: string[] | undefined) => void) | undefined;
  const prompter: Prompter = {
    ...noPrompter,
    keyboardInteractive: (_u, _h, _n, _i, _p) => {
      asked++;
      return asked === 1 ? Promise.resolve(['424242']) : new Promise((r) => (answer = r));
    },
  };
  const session = sessionFor(t, mfa, prompter);
  await within(session.start(), 10_000, 'the first login');
  const attemptsBefore = mfa.authAttempts;
  for (const c of mfa.connections) c.end();
  await eventWithin(session.onDidChangeState, (s) => s.kind === 'lost', 5000, 'the connection to drop');
  // Several auth deadlines and backoffs of the fast options pass: nobody answers.
  await sleep(3000);
  assert.equal(asked, 2, 'exactly one prompt is open for the reconnect');
  assert.equal(session.state.kind, 'connecting', 'the attempt waits for the person');
  assert.ok(mfa.authAttempts - attemptsBefore <= 2, `no login storm while waiting: ${mfa.authAttempts - attemptsBefore} server-side auth requests`);
  answer!(['424242']);
  await eventWithin(session.onDidChangeState, (s) => s.kind === 'connected', 10_000, 'connected once the person answered');
});

test('Pause Reconnecting stops every attempt at once; Resume starts again', async (t) => {
  const port = await freePort();
  const clock = new FakeClock();
  const session = sessionFor(t, mfa, noPrompter, port, {}, clock);
  void session.start().catch(() => undefined);
  await eventWithin(session.onDidChangeState, (s) => s.kind === 'waiting', 5000, 'a refused attempt');
  session.pauseReconnecting();
  const failed = await eventWithin(session.onDidChangeState, (s) => s.kind === 'failed', 2000, 'the pause to end the attempts');
  const error = (failed as { error: SessionError }).error;
  assert.equal(error.code, 'cancelled', 'a pause is not reported as an error');
  assert.match(error.message, /is paused; Resume Reconnecting/);
  let attempts = 0;
  const sub = session.onDidChangeState((s) => s.kind === 'connecting' && attempts++);
  t.after(() => sub.dispose());
  assert.equal(clock.pending, 0, 'no timer left that could start an attempt');
  await clock.advance(60_000);
  assert.equal(attempts, 0, 'no attempt while paused');
  assert.equal(session.isPaused, true);
  void session.resumeReconnecting().catch(() => undefined);
  await eventWithin(session.onDidChangeState, (s) => s.kind === 'waiting', 3000, 'attempts again after Resume');
  assert.equal(session.isPaused, false);
});

test('maxAttempts (--max-attempts): gives up after that many failed attempts in a row, with the last reason', async (t) => {
  const port = await freePort();
  const session = sessionFor(t, mfa, noPrompter, port, { maxAttempts: 3 });
  let attempts = 0;
  session.onDidChangeState((s) => s.kind === 'connecting' && attempts++);
  await assert.rejects(within(session.start(), 10_000, 'giving up'), (err: SessionError) => {
    assert.equal(err.fatal, true);
    assert.equal(err.code, 'refused');
    assert.match(err.message, /refused the connection.*\(gave up after 3 attempts in a row\)/);
    return true;
  });
  assert.equal(attempts, 3);
  assert.equal(session.state.kind, 'failed');
});

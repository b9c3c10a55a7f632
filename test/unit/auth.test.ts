import assert from 'node:assert/strict';
import { after, afterEach, before, test } from 'node:test';
import { SessionError } from '../../src/core/session/errors';
import { noPrompter, type Prompter } from '../../src/core/session/prompter';
import { Session, sessionOptionsFor } from '../../src/core/session/session';
import { startMiniServer, type MiniServer } from '../harness/miniServer';
import { assertNoSecrets, recordingLogger, type RecordingLogger } from '../harness/recordingLogger';

let pw: MiniServer;
let kbd: MiniServer;
const sessions: Session[] = [];
/** Every session logs at every level; no test's secret may show up in any of it. */
let logs: RecordingLogger[] = [];
const secrets = ['correct horse', 'wrong-pw-31337', '424242'];
before(async () => {
  pw = await startMiniServer({ password: 'correct horse' });
  kbd = await startMiniServer({ password: '424242', kbdInteractive: true });
});
after(async () => {
  sessions.forEach((s) => s.dispose());
  await pw.close();
  await kbd.close();
});

afterEach(() => {
  const lines = logs.flatMap((l) => l.lines.map((line) => line.message));
  logs = [];
  assertNoSecrets(secrets, lines, 'the log');
});

function session(server: MiniServer, prompter: Prompter): Session {
  const host = server.resolvedHost(undefined, { identityFiles: [] });
  const logger = recordingLogger();
  logs.push(logger);
  const s = new Session(host, sessionOptionsFor(host), { prompter, logger });
  sessions.push(s);
  return s;
}

test('password authentication asks through the prompter and connects', async () => {
  const asked: string[] = [];
  const s = session(pw, { ...noPrompter, password: async (user, host) => (asked.push(`${user}@${host}`), 'correct horse') });
  await s.start();
  assert.deepEqual(asked, ['tester@mini']);
});

test('a wrong password is asked again (3 tries), then it is a fatal error', async () => {
  let asked = 0;
  const s = session(pw, { ...noPrompter, password: async () => (asked++, 'wrong-pw-31337') });
  await assert.rejects(s.start(), (e: SessionError) => e.code === 'auth-failed' && e.fatal);
  assert.equal(asked, 3);
});

test('cancelling the password prompt stops asking at once', async () => {
  let asked = 0;
  const s = session(pw, { ...noPrompter, password: async () => (asked++, undefined) });
  await assert.rejects(s.start(), (e: SessionError) => e.code === 'auth-failed');
  assert.equal(asked, 1);
});

test('keyboard-interactive prompts reach the prompter with their text and echo flag', async () => {
  let seen: { name: string; instructions: string; prompts: Array<{ prompt: string; echo: boolean }> } | undefined;
  const s = session(kbd, {
    ...noPrompter,
    keyboardInteractive: async (_u, _h, name, instructions, prompts) => {
      seen = { name, instructions, prompts };
      return ['424242'];
    },
  });
  await s.start();
  assert.deepEqual(seen, { name: 'MFA', instructions: 'Enter the code', prompts: [{ prompt: 'Verification code: ', echo: false }] });
});

test('BatchMode (nobody to ask) fails fatally without prompting', async () => {
  const s = session(kbd, noPrompter);
  await assert.rejects(s.start(), (e: SessionError) => e.code === 'auth-failed' && e.fatal);
});

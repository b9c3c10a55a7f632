import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import type { SessionError } from '../../src/core/session/errors';
import { sshdAvailability, startSshd, type SshdHandle } from '../../tools/peers/sshd';
import { eventWithin, sleep } from '../harness/bounded';
import { connectionsIn, echoServer, startRig, type Cleanups, type Rig } from '../harness/faultRigs';
import { fastSession } from '../harness/fastOptions';
import { recordingLogger, type RecordingLogger } from '../harness/recordingLogger';
import { requireOrSkip } from '../harness/skip';

/**
 * Fatal server faults after a restart (issue 13, item 3): a new host key, and a login that no
 * longer works. One attempt, one message, state `failed`, and no further attempt however long
 * we wait or whatever the user does in the terminal or through a forward, until a person asks
 * to reconnect. Both paths at once against one sshd: a plain session (tmux terminal, -L on SSH
 * channels) and a kept one (kept shell and kept -L on the session keeper, which survives the
 * restart). fatalAfterReconnect.test.ts proves the single attempt with a bare session; this
 * adds the riders, the message, the 20 s watch and the user's actions. The two cases run side by
 * side (each with its own sshd) so the CI pays the 20 s watch once.
 */

const WATCH_MS = 20_000;
const cleanups: Cleanups = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

interface Fault {
  name: string;
  code: SessionError['code'];
  /** Makes the fault on the server's files; sshd is restarted after. */
  apply(sshd: SshdHandle): void;
  /** What the one message must say. */
  check(error: SessionError, sshd: SshdHandle): void;
}

const faults: Fault[] = [
  {
    name: 'sshd restarted with a new host key',
    code: 'host-key-changed',
    apply: (sshd) => {
      const keyFile = join(sshd.dir, 'ssh_host_ed25519_key');
      rmSync(keyFile);
      rmSync(`${keyFile}.pub`);
      execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'reinstalled-host', '-f', keyFile]);
    },
    check: (error, sshd) => {
      const name = `[${sshd.host}]:${sshd.port}`;
      assert.deepEqual(error.location, { file: sshd.knownHostsPath, line: 1 }, 'the known_hosts file and line, as data');
      assert.ok(error.message.includes(name), `names the host ${name}: ${error.message}`);
      assert.ok(error.message.includes(`${sshd.knownHostsPath}:1`), `names the file and line: ${error.message}`);
      assert.ok(error.message.includes(`ssh-keygen -R '${name}'`), `says what to do: ${error.message}`);
    },
  },
  {
    name: 'sshd refusing the login after a restart (the authorized key removed)',
    code: 'auth-failed',
    apply: (sshd) => writeFileSync(join(sshd.dir, 'authorized_keys'), ''),
    check: (error, sshd) => {
      assert.match(error.message, new RegExp(`${sshd.port}`), `names the host: ${error.message}`);
      assert.match(error.message, /id_ed25519/, `names the key that was tried: ${error.message}`);
    },
  },
];

/** Lines a user sees (info and up; debug and trace need -v) that carry the error's message. */
function saidTimes(logger: RecordingLogger, error: SessionError): number {
  const core = error.message.slice(0, 60);
  return logger.lines.filter((l) => l.level !== 'debug' && l.level !== 'trace' && l.message.includes(core)).length;
}

/** Things a person does while the session has failed: keys in the terminal, a connection to the -L port. */
async function userActs(rig: Rig): Promise<void> {
  rig.shell.write('echo typed-while-failed\r');
  await new Promise<void>((resolve) => {
    const c = connect(rig.forwardPort, '127.0.0.1');
    c.on('error', () => resolve());
    c.on('close', () => resolve());
    c.write('hello\n');
    setTimeout(() => c.destroy(), 2000);
  });
}

describe('fatal server faults after a restart: one attempt, one message, never retried', { concurrency: true }, () => {
  for (const fault of faults) {
    test(`${fault.name}: plain and kept sessions fail once, say it once, and make 0 attempts in ${WATCH_MS / 1000} s`, async (t) => {
      if (!requireOrSkip(t, sshdAvailability)) return;
      const sshd = await startSshd({ alias: 'fatal' });
      t.after(() => sshd.stop());
      const echoPort = await echoServer(cleanups);
      const logs = { plain: recordingLogger(), keeper: recordingLogger() };
      const rigs = {
        plain: await startRig(sshd, 'plain', { cleanups, echoPort, logger: logs.plain, session: fastSession }),
        keeper: await startRig(sshd, 'keeper', { cleanups, echoPort, logger: logs.keeper, session: fastSession }),
      };
      const before = connectionsIn(sshd);
      const failed = (rig: Rig, what: string) =>
        eventWithin(rig.session.onDidChangeState, (s) => s.kind === 'failed', 15_000, `the ${what} session to fail`).then(
          (s) => (s as { error: SessionError }).error,
        );
      const failures = Promise.all([failed(rigs.plain, 'plain'), failed(rigs.keeper, 'kept')]);
      fault.apply(sshd);
      // The keeper, a user process, lives through it.
      await sshd.restart({ sshdOnly: true });
      const errors = await failures;
      const attempted = connectionsIn(sshd);
      assert.equal(attempted - before, 2, 'one attempt each');
      for (const [i, kind] of (['plain', 'keeper'] as const).entries()) {
        const error = errors[i];
        assert.equal(error.code, fault.code, `${kind}: ${error.message}`);
        assert.equal(error.fatal, true);
        fault.check(error, sshd);
        assert.equal(saidTimes(logs[kind], error), 1, `${kind}: said once:\n${logs[kind].text()}`);
      }
      let failedStates = 0;
      for (const rig of Object.values(rigs)) rig.session.onDidChangeState(() => failedStates++);
      // A person types and connects through the forward: refused at once, nothing reaches the server.
      await userActs(rigs.plain);
      await userActs(rigs.keeper);
      await sleep(WATCH_MS);
      assert.equal(connectionsIn(sshd), attempted, `no attempt in ${WATCH_MS} ms, whatever the user did`);
      assert.equal(failedStates, 0, 'no state change: nothing retried in the background');
      for (const rig of Object.values(rigs)) assert.equal(rig.session.state.kind, 'failed');
      for (const [i, kind] of (['plain', 'keeper'] as const).entries())
        assert.equal(saidTimes(logs[kind], errors[i]), 1, `${kind}: still said once:\n${logs[kind].text()}`);
      // Until a person acts: Reconnect makes exactly one attempt (the cause is still there).
      await assert.rejects(rigs.plain.session.reconnect('the user asked'), (e: SessionError) => e.code === fault.code);
      assert.equal(connectionsIn(sshd), attempted + 1, 'Reconnect: exactly one attempt');
    });
  }
});

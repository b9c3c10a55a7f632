import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import type { SessionError } from '../../src/core/session/errors';
import { cliPath } from '../../tools/peers/repo';
import { freePort, sshdAvailability, startSshd, type SshdHandle } from '../../tools/peers/sshd';
import { eventWithin, sleep, until } from '../harness/bounded';
import { connectionsIn, echoServer, roundTrip, startRig, type Cleanups, type Rig } from '../harness/faultRigs';
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
  /** A piece of the message, to count it in the CLI's stderr. */
  said: string;
}

const faults: Fault[] = [
  {
    name: 'sshd restarted with a new host key',
    code: 'host-key-changed',
    said: 'REMOTE HOST IDENTIFICATION HAS CHANGED',
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
    said: 'failed; refused by the server',
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

/**
 * The CLI as a user runs it for forwards that must stay bound through anything:
 * `-N --keep-listeners -L`. Resolves once a connection through its -L answers.
 */
async function startCli(sshd: SshdHandle, echoPort: number): Promise<{ port: number; stderr(): string; exited(): boolean }> {
  const port = await freePort();
  const args = ['-F', sshd.sshConfigPath, '-N', '--keep-listeners', '-o', 'BatchMode=yes', '-L', `127.0.0.1:${port}:127.0.0.1:${echoPort}`, sshd.alias];
  const cli = spawn(process.execPath, [cliPath, ...args], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, SSH_AUTH_SOCK: '' } });
  cleanups.push(() => cli.kill('SIGKILL'));
  let err = '';
  cli.stderr.on('data', (d: Buffer) => (err += d.toString()));
  let exited = false;
  cli.once('exit', () => (exited = true));
  for (let i = 0; ; i++) {
    try {
      await roundTrip(port, 'cli-ready', cleanups);
      break;
    } catch (e) {
      if (i >= 50 || exited) throw new Error(`the CLI's -L did not answer: ${(e as Error).message}; stderr: ${err}`);
      await sleep(200);
    }
  }
  return { port, stderr: () => err, exited: () => exited };
}

/** A client of a forward while the session has failed: refused (closed) at once. */
function connectOnce(port: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const c = connect(port, '127.0.0.1');
    c.on('error', () => resolve());
    c.on('close', () => resolve());
    c.write('hello\n');
    setTimeout(() => c.destroy(), 2000);
  });
}

/** Things a person does while the session has failed: keys in the terminal, a connection to the -L port. */
async function userActs(rig: Rig): Promise<void> {
  rig.shell.write('echo typed-while-failed\r');
  await connectOnce(rig.forwardPort);
}

describe('fatal server faults after a restart: one attempt, one message, never retried', { concurrency: true }, () => {
  for (const fault of faults) {
    test(`${fault.name}: plain and kept sessions and the CLI fail once, say it once, and make 0 attempts in ${WATCH_MS / 1000} s`, async (t) => {
      if (!requireOrSkip(t, sshdAvailability)) return;
      const sshd = await startSshd({ alias: 'fatal' });
      t.after(() => sshd.stop());
      const echoPort = await echoServer(cleanups);
      const logs = { plain: recordingLogger(), keeper: recordingLogger() };
      const rigs = {
        plain: await startRig(sshd, 'plain', { cleanups, echoPort, logger: logs.plain, session: fastSession }),
        keeper: await startRig(sshd, 'keeper', { cleanups, echoPort, logger: logs.keeper, session: fastSession }),
      };
      const cli = await startCli(sshd, echoPort);
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
      await until(() => cli.stderr().includes(fault.said), 15_000, `the CLI to say why (stderr: ${cli.stderr()})`);
      const attempted = connectionsIn(sshd);
      assert.equal(attempted - before, 3, 'one attempt each (plain, kept, CLI)');
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
      for (let i = 0; i < 3; i++) await connectOnce(cli.port);
      await sleep(WATCH_MS);
      assert.equal(connectionsIn(sshd), attempted, `no attempt in ${WATCH_MS} ms, whatever the user did`);
      assert.equal(failedStates, 0, 'no state change: nothing retried in the background');
      for (const rig of Object.values(rigs)) assert.equal(rig.session.state.kind, 'failed');
      assert.equal(cli.exited(), false, 'the CLI keeps its listeners (--keep-listeners)');
      assert.equal(cli.stderr().split(fault.said).length - 1, 1, `the CLI said it once:\n${cli.stderr()}`);
      for (const [i, kind] of (['plain', 'keeper'] as const).entries())
        assert.equal(saidTimes(logs[kind], errors[i]), 1, `${kind}: still said once:\n${logs[kind].text()}`);
      // Until a person acts: Reconnect makes exactly one attempt (the cause is still there).
      await assert.rejects(rigs.plain.session.reconnect('the user asked'), (e: SessionError) => e.code === fault.code);
      assert.equal(connectionsIn(sshd), attempted + 1, 'Reconnect: exactly one attempt');
    });
  }
});

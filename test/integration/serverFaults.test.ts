import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { after, describe, test, type TestContext } from 'node:test';
import { nullLogger } from '../../src/core/base/logger';
import { resolveHost } from '../../src/core/config/sshConfig';
import { noPrompter } from '../../src/core/session/prompter';
import { Session, sessionOptionsFor, type SessionOptions } from '../../src/core/session/session';
import type { SessionState } from '../../src/core/session/state';
import type { KeptShell } from '../../src/core/shell/keptShell';
import { pidAlive } from '../../tools/peers/pidAlive';
import { sshdAvailability, startSshd, type SshdHandle } from '../../tools/peers/sshd';
import { eventWithin, sleep, until, within } from '../harness/bounded';
import { clientPort, echoConnection, echoServer, markShell, roundTrip, sshdPidsFor, startRig, type Cleanups } from '../harness/faultRigs';
import { fastSession } from '../harness/fastOptions';
import { recordingLogger } from '../harness/recordingLogger';
import { requireOrSkip } from '../harness/skip';

/**
 * Server faults against a real OpenSSH sshd (issue 13, item 3), each on the plain path (a
 * tmux-backed terminal, -L on SSH channels) and on the session keeper's (a kept shell, -L on
 * keeper streams): sshd killed and restarted, a server that accepts TCP but never speaks SSH,
 * and a per-connection sshd that stalls (SIGSTOP) and wakes up later (SIGCONT).
 * The fatal faults (new host key, refused login) are in serverFaultsFatal.test.ts, the
 * keeper's own (clock jump, full disk) in serverFaultsKeeper.test.ts.
 */

const cleanups: Cleanups = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function server(t: TestContext): Promise<SshdHandle> {
  const sshd = await startSshd({ alias: 'faults' });
  t.after(() => sshd.stop());
  return sshd;
}

function kinds(session: Session): string[] {
  const seen: string[] = [];
  session.onDidChangeState((s: SessionState) => seen.push(s.kind === 'connected' && s.checking ? 'checking' : s.kind));
  return seen;
}

describe('sshd killed and restarted (the listener and every per-connection sshd; user processes live on)', () => {
  test('plain path: the session reconnects by itself; the tmux terminal comes back with its state, -L works again', async (t) => {
    if (!requireOrSkip(t, sshdAvailability)) return;
    const sshd = await server(t);
    const echoPort = await echoServer(cleanups);
    const rig = await startRig(sshd, 'plain', { cleanups, echoPort, logger: nullLogger, session: fastSession });
    const pid = await markShell(rig.screen, 'KILLED_P');
    await roundTrip(rig.forwardPort, 'before-restart', cleanups);
    const states = kinds(rig.session);
    const reopened = eventWithin(rig.shell.onDidChangeState, (s) => s.kind === 'open', 20_000, 'the terminal to open again');
    await sshd.restart({ sshdOnly: true });
    await reopened;
    assert.ok(states.includes('lost'), `the loss was seen: ${states.join(' ')}`);
    assert.deepEqual(rig.shell.state, { kind: 'open', generation: 2, reattached: true, multiplexer: 'tmux' });
    await rig.screen.run('echo "back-$((KILLED_P+1))-in-$$"', new RegExp(`back-42-in-${pid}`));
    await roundTrip(rig.forwardPort, 'after-restart', cleanups);
  });

  test('keeper path: the kept shell keeps its process and a connection through kept -L is carried across', async (t) => {
    if (!requireOrSkip(t, sshdAvailability)) return;
    const sshd = await server(t);
    const echoPort = await echoServer(cleanups);
    const rig = await startRig(sshd, 'keeper', { cleanups, echoPort, logger: nullLogger, session: fastSession });
    const shell = rig.shell as KeptShell;
    assert.equal(shell.keeping, 'keeper');
    const pid = await markShell(rig.screen, 'KILLED_K');
    const chat = await echoConnection(rig.forwardPort, cleanups);
    await chat.say('before-restart');
    const states = kinds(rig.session);
    const from = rig.screen.mark();
    await sshd.restart({ sshdOnly: true });
    // Typed at once, while the session may not even know yet: runs once, in the same shell.
    assert.equal(shell.write('echo "kept-$((KILLED_K+1))-in-$$"\r'), true);
    await rig.screen.waitFor(/kept-42-in-\d+/, 20_000, from);
    assert.ok(states.includes('lost') || states.includes('checking'), `the loss was seen: ${states.join(' ')}`);
    assert.match(rig.screen.plain.slice(from), new RegExp(`kept-42-in-${pid}`), 'the same shell process');
    await sleep(300);
    assert.equal(rig.screen.plain.slice(from).split('kept-42-in-').length - 1, 1, 'ran exactly once');
    assert.ok(pidAlive(Number(pid)));
    // The same TCP connection through -L: the keeper held it while sshd was gone.
    await chat.say('after-restart', 15_000);
    assert.equal(chat.socket.destroyed, false);
  });
});

describe('a server that accepts TCP but never speaks SSH', () => {
  /**
   * The bound in the code (Session.connectLoop, connectAttempt's banner deadline): silence
   * after TCP connected is treated like a path that is down (SessionError.pathDown). After a
   * loss each attempt waits bannerMs = reconnectTcpTimeoutMs = min(1.5 s, ConnectTimeout) for
   * the banner, then pathDownRetryMs (0.1 to 0.5 s) before the next one, and never starts two
   * within pathDownMinCycleMs (1 s): at least 1.6 s per attempt, so at most 38 attempts a
   * minute, with the defaults. (Before the first connection bannerMs is ConnectTimeout,
   * default 15 s: at most 4 a minute.)
   */
  const MIN_CYCLE_MS = 1500 + 100;

  test('after a loss: attempts stay within 1 per 1.6 s (38 a minute), and the reason names the missing banner', async (t) => {
    if (!requireOrSkip(t, sshdAvailability)) return;
    const sshd = await server(t);
    const logger = recordingLogger();
    const host = resolveHost(sshd.alias, { configFile: sshd.sshConfigPath, env: { SSH_AUTH_SOCK: undefined } });
    // The defaults, as a user gets them.
    const options: SessionOptions = sessionOptionsFor(host);
    assert.equal(options.reconnectTcpTimeoutMs, 1500);
    const session = new Session(host, options, { prompter: noPrompter, logger });
    t.after(() => session.dispose());
    await within(session.start(), 15_000, 'the first connection');
    // sshd goes; in its place on the same port, something that accepts and says nothing.
    const accepted: number[] = [];
    const held: Socket[] = [];
    const silent = createServer((s) => {
      accepted.push(Date.now());
      s.on('error', () => undefined);
      held.push(s);
    });
    t.after(() => {
      for (const s of held) s.destroy();
      silent.close();
    });
    await sshd.stop();
    await new Promise<void>((r) => silent.listen(sshd.port, sshd.host, r));
    void session.reconnect('test: the server was replaced').catch(() => undefined);
    const windowMs = 12_000;
    await until(() => accepted.length > 0, 5000, 'a first attempt at the silent server');
    await sleep(windowMs);
    const inWindow = accepted.filter((at) => at - accepted[0] < windowMs);
    const gaps = inWindow.slice(1).map((at, i) => at - inWindow[i]);
    t.diagnostic(`${inWindow.length} attempts in ${windowMs} ms; gaps ${gaps.join(' ')} ms`);
    assert.ok(inWindow.length <= 1 + Math.ceil(windowMs / MIN_CYCLE_MS), `at most one attempt per ${MIN_CYCLE_MS} ms: ${inWindow.length}`);
    assert.ok(
      gaps.every((g) => g >= MIN_CYCLE_MS - 50),
      `no two attempts closer than ${MIN_CYCLE_MS} ms: ${gaps.join(' ')}`,
    );
    assert.ok(inWindow.length >= 4, `it keeps trying (the server may come back): ${inWindow.length} attempts`);
    const state = session.state;
    assert.ok(state.kind === 'waiting' || state.kind === 'connecting', `still trying: ${state.kind}`);
    const reason = state.kind === 'waiting' ? state.lastError : (state.lastError ?? '');
    assert.match(reason, /accepted the connection but sent no SSH banner within 1500 ms/);
    const warned = logger.lines.filter((l) => l.level === 'warn' && /no SSH banner/.test(l.message));
    assert.equal(warned.length, 1, `said once as a warning: ${logger.text()}`);
  });
});

describe('a per-connection sshd that stalls (SIGSTOP) while in use, and wakes up later (SIGCONT)', () => {
  /** Periodic probes far apart: only the demand probe of the user's action can find the stall. */
  const demandOnly: Partial<SessionOptions> = {
    ...fastSession,
    keepalive: { intervalMs: 30_000, countMax: 3, demandMinMs: 400, demandRttFactor: 4, quietMs: 200 },
  };

  async function stall(t: TestContext, sshd: SshdHandle, session: Session): Promise<number[]> {
    const pids = sshdPidsFor(sshd, clientPort(session));
    assert.ok(pids.length >= 1, 'found the sshd process of the connection');
    t.diagnostic(`stopping ${pids.map((p) => `${p} (${readFileSync(`/proc/${p}/cmdline`, 'latin1').replace(/\0/g, ' ').trim()})`).join(', ')}`);
    for (const pid of pids) process.kill(pid, 'SIGSTOP');
    // Never leave a stopped process behind, whatever the test does.
    t.after(() => pids.forEach((pid) => pidAlive(pid) && process.kill(pid, 'SIGCONT')));
    return pids;
  }

  test('plain path: a key typed finds the dead path within about a second; reconnected; SIGCONT later breaks nothing', async (t) => {
    if (!requireOrSkip(t, sshdAvailability)) return;
    const sshd = await server(t);
    const echoPort = await echoServer(cleanups);
    const logger = recordingLogger();
    const rig = await startRig(sshd, 'plain', { cleanups, echoPort, logger, session: demandOnly });
    const pid = await markShell(rig.screen, 'STALL_P');
    const old = rig.session.connection!;
    const lostAt: number[] = [];
    const saidAt: number[] = [];
    rig.session.onDidChangeState((s) => {
      if (s.kind === 'lost') lostAt.push(Date.now());
      if (s.kind === 'lost' || (s.kind === 'connected' && s.checking)) saidAt.push(Date.now());
    });
    const stopped = await stall(t, sshd, rig.session);
    await sleep(500);
    assert.deepEqual(saidAt, [], `nothing found the stall before the key:\n${logger.text()}`);
    const typedAt = Date.now();
    assert.equal(rig.shell.write('echo "after-stall-$((STALL_P+1))-in-$$"\r'), true, 'the key was taken');
    // Said at once (checking), given up after the longer wait a lossy path gets (at most 10 s).
    await until(() => lostAt.length > 0, 12_000, 'the stall to be found').catch((e: Error) => {
      throw new Error(`${e.message}; state ${JSON.stringify(rig.session.state)}; log:\n${logger.text()}`);
    });
    const foundMs = saidAt[0] - typedAt;
    t.diagnostic(`dead path said ${foundMs} ms after the key, given up after ${lostAt[0] - typedAt} ms`);
    assert.ok(foundMs < 2000, `found within about a second of the key: ${foundMs} ms`);
    assert.ok(lostAt[0] - typedAt < 11_000, `given up within the longer wait: ${lostAt[0] - typedAt} ms`);
    await eventWithin(rig.shell.onDidChangeState, (s) => s.kind === 'open', 20_000, 'the terminal to reopen');
    assert.equal(old.isEnded, true, 'the stalled connection was given up');
    await rig.screen.run('echo "back-$((STALL_P+1))-in-$$"', new RegExp(`back-42-in-${pid}`));
    await roundTrip(rig.forwardPort, 'after-stall', cleanups);
    const generation = rig.shell.state.kind === 'open' ? rig.shell.state.generation : -1;
    for (const p of stopped) process.kill(p, 'SIGCONT');
    await until(() => stopped.every((p) => !pidAlive(p)), 10_000, 'the woken sshd processes of the old connection to exit');
    await sleep(500);
    assert.equal(rig.session.state.kind, 'connected');
    assert.equal(rig.shell.state.kind === 'open' && rig.shell.state.generation, generation, 'no new terminal');
    await rig.screen.run('echo "still-$((STALL_P+1))-in-$$"', new RegExp(`still-42-in-${pid}`));
  });

  test('keeper path: a key typed is bridged to a second connection at once; SIGCONT later: no duplicate, old one gone', async (t) => {
    if (!requireOrSkip(t, sshdAvailability)) return;
    const sshd = await server(t);
    const echoPort = await echoServer(cleanups);
    const rig = await startRig(sshd, 'keeper', { cleanups, echoPort, logger: nullLogger, session: demandOnly });
    const pid = await markShell(rig.screen, 'STALL_K');
    const chat = await echoConnection(rig.forwardPort, cleanups);
    await chat.say('before-stall');
    const old = rig.session.connection!;
    const states = kinds(rig.session);
    const stopped = await stall(t, sshd, rig.session);
    await sleep(500);
    const from = rig.screen.mark();
    const typedAt = Date.now();
    assert.equal(rig.shell.write('echo "kept-$((STALL_K+1))-in-$$"\r'), true, 'the key was taken');
    await until(() => states.includes('checking') || states.includes('lost'), 5000, 'the stall to be found');
    const foundMs = Date.now() - typedAt;
    t.diagnostic(`dead path found ${foundMs} ms after the key`);
    assert.ok(foundMs < 2000, `found within about a second of the key: ${foundMs} ms`);
    await rig.screen.waitFor(/kept-42-in-\d+/, 15_000, from);
    t.diagnostic(`output ${Date.now() - typedAt} ms after the key; states ${states.join(' ')}`);
    assert.equal(old.isEnded, true, 'the stalled connection was given up');
    await chat.say('after-stall');
    for (const p of stopped) process.kill(p, 'SIGCONT');
    await until(() => stopped.every((p) => !pidAlive(p)), 10_000, 'the woken sshd processes of the old connection to exit');
    await sleep(500);
    const out = rig.screen.plain.slice(from);
    assert.equal(out.split('kept-42-in-').length - 1, 1, `ran exactly once: ${JSON.stringify(out)}`);
    assert.match(out, new RegExp(`kept-42-in-${pid}`), 'in the same shell');
    assert.equal(rig.session.state.kind, 'connected');
    await rig.screen.run('echo "still-$((STALL_K+1))-in-$$"', new RegExp(`still-42-in-${pid}`));
    await chat.say('after-sigcont');
  });
});

import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test, type TestContext } from 'node:test';
import type { KeptShell } from '../../src/core/shell/keptShell';
import type { SessionState } from '../../src/core/session/state';
import { startFaultProxy } from '../../tools/peers/faultProxy';
import { pidAlive } from '../../tools/peers/pidAlive';
import { sshdAvailability, startSshd, type SshdHandle } from '../../tools/peers/sshd';
import { sleep, until, within } from '../harness/bounded';
import { echoConnection, echoServer, markShell, roundTrip, startRig, type Cleanups } from '../harness/faultRigs';
import { configThroughProxy } from '../harness/proxiedConfig';
import { fastSession } from '../harness/fastOptions';
import { recordingLogger } from '../harness/recordingLogger';
import { requireOrSkip } from '../harness/skip';

/**
 * Server faults that are the session keeper's own (issue 13, item 3): the server's wall clock
 * jumping under a running keeper, and a full disk where the keeper keeps its files.
 */

const cleanups: Cleanups = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

/** A python3 for the keeper that appends a line to `log` each time it starts (counts keeper starts). */
function countingPython(dir: string): { python: string; starts(): number } {
  const log = join(dir, 'python-starts.log');
  const python = join(dir, 'counting-python3');
  writeFileSync(python, `#!/bin/sh\necho start >> '${log}'\nexec python3 "$@"\n`);
  chmodSync(python, 0o755);
  return { python, starts: () => (existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter(Boolean).length : 0) };
}

/** libfaketime (Debian package faketime), which makes sshd see the wall clock we set. */
function libfaketime(): string | undefined {
  for (const dir of ['/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib']) {
    const lib = join(dir, 'faketime', 'libfaketime.so.1');
    if (existsSync(lib)) return lib;
  }
  return undefined;
}

const wallclockPy = join(__dirname, '..', '..', '..', 'test', 'fixtures', 'wallclock.py');

describe("the server's wall clock jumping (±1 h) under sshd and a running keeper", () => {
  const faketimeAvailable = () =>
    libfaketime() ? { ok: true as const } : { ok: false as const, reason: 'libfaketime not installed (Debian package faketime)' };

  /**
   * sshd runs under libfaketime (every libc clock call but CLOCK_MONOTONIC is shifted by the
   * offset file, read again on each call), with its own keepalive every second
   * (ClientAliveInterval 1, ClientAliveCountMax 3). The keeper runs under wallclock.py, which
   * shifts python's time.time() and its relatives by the same file; its monotonic clock and
   * kernel timeouts stay, as on a real server whose clock is set. (libfaketime itself cannot
   * run python: with the monotonic clock left alone it turns time.sleep() into EINVAL.)
   */
  test('no timeout fires and no stream drops: plain session, kept shell, kept -L; a detached keeper does not idle out after +2 h', async (t) => {
    if (!requireOrSkip(t, sshdAvailability) || !requireOrSkip(t, faketimeAvailable)) return;
    const offsetFile = join('/tmp', `ska-wallclock-${process.pid}`);
    const setClock = (offset: string) => writeFileSync(offsetFile, `${offset}\n`);
    setClock('+0');
    const sshd: SshdHandle = await startSshd({
      alias: 'clock',
      extraConfig: ['ClientAliveInterval 1', 'ClientAliveCountMax 3'],
      env: { LD_PRELOAD: libfaketime(), FAKETIME_TIMESTAMP_FILE: offsetFile, FAKETIME_NO_CACHE: '1', FAKETIME_DONT_FAKE_MONOTONIC: '1' },
    });
    t.after(async () => {
      await sshd.stop();
      rmSync(offsetFile, { force: true });
    });
    const maps = readFileSync(`/proc/${sshd.connectionPids().length ? sshd.connectionPids()[0] : listenerPid(sshd)}/maps`, 'utf8');
    assert.match(maps, /libfaketime/, 'sshd runs with libfaketime');
    const proxy = await startFaultProxy('127.0.0.1', sshd.port);
    cleanups.push(() => proxy.close());
    const keeperDir = join(sshd.dir, 'k');
    const echoPort = await echoServer(cleanups);
    const common = { cleanups, echoPort, logger: recordingLogger(), session: fastSession };
    const plain = await startRig(sshd, 'plain', common);
    const kept = await startRig(sshd, 'keeper', {
      ...common,
      configFile: configThroughProxy(sshd, proxy.port),
      keeperDir,
      python: `python3 ${wallclockPy} ${offsetFile}`,
    });
    assert.equal((kept.shell as KeptShell).keeping, 'keeper');
    const pid = await markShell(kept.screen, 'CLOCK_K');
    const plainPid = await markShell(plain.screen, 'CLOCK_P');
    const chat = await echoConnection(kept.forwardPort, cleanups);
    const plainChat = await echoConnection(plain.forwardPort, cleanups);
    await chat.say('before');
    const seen: Record<'plain' | 'kept', string[]> = { plain: [], kept: [] };
    plain.session.onDidChangeState((s: SessionState) => seen.plain.push(s.kind));
    kept.session.onDidChangeState((s: SessionState) => seen.kept.push(s.kind));
    const from = kept.screen.mark();
    const count = 160;
    kept.shell.write(`i=0; while [ $i -lt ${count} ]; do echo "c=$i"; i=$((i+1)); sleep 0.05; done; echo "COUNTED-$((CLOCK_K+1))"\r`);
    await kept.screen.waitFor(/c=10\b/, 10_000, from);

    for (const offset of ['+3600', '-3600']) {
      setClock(offset);
      // Several keepalive rounds of sshd (1 s) and of the keeper's housekeeping (50 ms).
      await sleep(2500);
      await chat.say(`kept-after-${offset}`);
      await plainChat.say(`plain-after-${offset}`);
      await plain.screen.run(`echo "plain-$((CLOCK_P+1))-in-$$"`, new RegExp(`plain-42-in-${plainPid}`));
    }
    assert.deepEqual({ plain: [...seen.plain], kept: [...seen.kept] }, { plain: [], kept: [] }, 'no session lost its connection while the clock jumped');

    // Detached: sshd goes (the keeper's attach ends) and the path stays down while the clock
    // jumps 2 h ahead. The keeper idles out after 120 s without a client: counted on the wall
    // clock it would be gone, and with it the shell.
    proxy.blackhole();
    await sshd.restart({ sshdOnly: true });
    await until(() => seen.kept.includes('lost'), 10_000, 'the kept session to lose its connection');
    await sleep(300);
    setClock('+7200');
    await sleep(2500);
    assert.ok(pidAlive(Number(pid)), 'the kept shell (and so its keeper) lives through the jump while detached');
    proxy.resume();
    await kept.screen.waitFor(/COUNTED-42/, 30_000, from);
    const numbers = [...kept.screen.plain.slice(from).matchAll(/^c=(\d+)$/gm)].map((m) => Number(m[1]));
    assert.deepEqual(
      numbers,
      Array.from({ length: count }, (_, i) => i),
      'every line of the counter once, in order',
    );
    await kept.screen.run('echo "same-$((CLOCK_K+1))-in-$$"', new RegExp(`same-42-in-${pid}`));
    await chat.say('kept-after-outage', 15_000);
    // The keeper did see the jump: its log's timestamps are 2 h ahead while it was detached.
    const log = readdirSync(keeperDir)
      .filter((n) => n.endsWith('.log'))
      .map((n) => readFileSync(join(keeperDir, n), 'utf8'))
      .join('');
    const stamps = [...log.matchAll(/^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d) /gm)].map((m) => new Date(m[1]).getTime());
    assert.ok(
      stamps.some((at) => at - Date.now() > 90 * 60_000),
      `the keeper's clock was 2 h ahead at some point: ${log.slice(-600)}`,
    );
  });
});

/** sshd's listener: the parent of its connection processes, or found by its config path. */
function listenerPid(sshd: SshdHandle): number {
  const out = spawnSync('pgrep', ['-f', `${sshd.dir}/sshd_config`], { encoding: 'utf8' })
    .stdout.trim()
    .split('\n')[0];
  return Number(out);
}

describe('disk full on the server where the keeper keeps its files', () => {
  const canMount = () =>
    process.getuid?.() === 0 ? { ok: true as const } : { ok: false as const, reason: 'needs root to mount a tiny tmpfs as the full disk' };

  /** A tmpfs of `size` at `dir` (unmounted before `sshd` is stopped, which removes its dir). */
  function tmpfsAt(t: TestContext, sshd: SshdHandle, dir: string, size: string): void {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0700`, 'tmpfs', dir]);
    t.after(async () => {
      spawnSync('umount', ['-l', dir]);
      await sshd.stop();
    });
  }

  function fill(dir: string): void {
    spawnSync('dd', ['if=/dev/zero', `of=${join(dir, 'filler')}`, 'bs=4k'], { stdio: 'ignore' });
  }

  test('one line naming the directory and that it is full; shell and -L carry on on the plain path; no retry storm of keeper starts', async (t) => {
    if (!requireOrSkip(t, sshdAvailability) || !requireOrSkip(t, canMount)) return;
    const sshd: SshdHandle = await startSshd({ alias: 'diskfull' });
    // Sessions on this sshd have HOME=<dir>/home: the keeper's default place is ~/.cache/ssh-keepalive.
    const cache = join(sshd.dir, 'home', '.cache');
    tmpfsAt(t, sshd, cache, '16k');
    fill(cache);
    const keeperDir = join(cache, 'ssh-keepalive');
    const counting = countingPython(sshd.dir);
    const logger = recordingLogger();
    const echoPort = await echoServer(cleanups);
    const rig = await startRig(sshd, 'keeper', { cleanups, echoPort, logger, session: fastSession, python: counting.python });
    const shell = rig.shell as KeptShell;
    assert.notEqual(shell.keeping, 'keeper', 'the shell fell back');
    assert.equal(rig.link!.state.kind, 'unavailable');
    const said = logger.lines.filter((l) => l.level !== 'debug' && l.level !== 'trace' && /keeper/.test(l.message));
    t.diagnostic(`said: ${said.map((l) => l.message).join(' | ')}`);
    assert.equal(said.filter((l) => l.level === 'warn').length, 1, `one warning about the keeper:\n${logger.text()}`);
    const line = said.find((l) => l.level === 'warn')!.message;
    assert.ok(line.includes(keeperDir), `names the directory ${keeperDir}: ${line}`);
    assert.match(line, /is full|no space left/i, `says it is full: ${line}`);
    assert.doesNotMatch(line, /\n/, 'one line');
    assert.ok(shell.fallbackReason?.includes(keeperDir), `the terminal says why: ${shell.fallbackReason}`);
    // The plain path works: the terminal (tmux or plain) and -L on SSH channels.
    await rig.screen.run('echo "plain-$((40+2))"', /plain-42/);
    await roundTrip(rig.forwardPort, 'plain-forward', cleanups);
    assert.equal(counting.starts(), 1, 'one keeper start');
    // Reconnects do not start it again (nor does a new connection through -L).
    for (let i = 0; i < 3; i++) await within(rig.session.reconnect('test'), 15_000, 'a reconnect');
    await roundTrip(rig.forwardPort, 'after-reconnects', cleanups);
    await sleep(500);
    assert.equal(counting.starts(), 1, 'still one keeper start after three reconnects');
    assert.equal(logger.lines.filter((l) => l.level === 'warn' && /keeper/.test(l.message)).length, 1, 'still said once');
  });

  test('a disk that fills up after the program was stored: the new keeper cannot write its state file, and says so the same way', async (t) => {
    if (!requireOrSkip(t, sshdAvailability) || !requireOrSkip(t, canMount)) return;
    const sshd: SshdHandle = await startSshd({ alias: 'diskfull2' });
    const cache = join(sshd.dir, 'home', '.cache');
    tmpfsAt(t, sshd, cache, '256k');
    const keeperDir = join(cache, 'ssh-keepalive');
    const echoPort = await echoServer(cleanups);
    const first = await startRig(sshd, 'keeper', { cleanups, echoPort, logger: recordingLogger(), session: fastSession });
    assert.equal((first.shell as KeptShell).keeping, 'keeper', 'the first keeper started while there was room');
    fill(cache);
    const logger = recordingLogger();
    const second = await startRig(sshd, 'keeper', { cleanups, echoPort, logger, session: fastSession });
    assert.notEqual((second.shell as KeptShell).keeping, 'keeper', 'the second shell fell back');
    const warned = logger.lines.filter((l) => l.level === 'warn' && /keeper/.test(l.message));
    assert.equal(warned.length, 1, `one warning:\n${logger.text()}`);
    assert.ok(warned[0].message.includes(`${keeperDir} is full`), `names the full directory: ${warned[0].message}`);
    await second.screen.run('echo "plain-$((40+2))"', /plain-42/);
    // The first keeper, started before the disk filled, goes on.
    await first.screen.run('echo "kept-$((40+2))"', /kept-42/);
  });
});

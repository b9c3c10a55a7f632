import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test, type TestContext } from 'node:test';
import type { KeptShell } from '../../src/core/shell/keptShell';
import { sshdAvailability, startSshd, type SshdHandle } from '../../tools/peers/sshd';
import { sleep, within } from '../harness/bounded';
import { echoServer, roundTrip, startRig, type Cleanups } from '../harness/faultRigs';
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

import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import { nullLogger } from '../../src/core/base/logger';
import { resolveHost } from '../../src/core/config/sshConfig';
import { KeeperLink } from '../../src/core/keeper/keeperLink';
import { noPrompter } from '../../src/core/session/prompter';
import { Session, sessionOptionsFor, type SessionOptions } from '../../src/core/session/session';
import type { SessionState } from '../../src/core/session/state';
import { KeptShell, type DiscardedInput, type HeldInput } from '../../src/core/shell/keptShell';
import { pidAlive } from '../../tools/peers/pidAlive';
import { startFaultProxy, type FaultProxy } from '../../tools/peers/faultProxy';
import { sshdAvailability, startSshd, type SshdHandle } from '../../tools/peers/sshd';
import { eventWithin, sleep, until, within } from '../harness/bounded';
import { fastSession } from '../harness/fastOptions';
import { keeperProgramText } from '../harness/keeperPeer';
import { configThroughProxy } from '../harness/proxiedConfig';
import { Screen } from '../harness/screen';
import { requireOrSkip } from '../harness/skip';

const program = keeperProgramText();

/**
 * Terminals on the session keeper against a real sshd, through a fault proxy that can forget
 * every flow at once (a router reboot: nothing is signalled to either end) or hold the path
 * down. What a person does: types at once, does not wait for the status, does not retype.
 */
describe('terminals kept by the session keeper', { timeout: 180_000 }, () => {
  let sshd: SshdHandle | undefined;
  let relayOnly: SshdHandle | undefined;
  let noPython: SshdHandle | undefined;
  const cleanups: Array<() => unknown> = [];

  before(async () => {
    if (!sshdAvailability().ok) return;
    sshd = await startSshd({ alias: 'kept' });
    relayOnly = await startSshd({ alias: 'relay', extraConfig: ['AllowStreamLocalForwarding no'] });
    noPython = await startSshd({ alias: 'nopy', extraConfig: [`SetEnv PATH=${pathWithoutPython(sshd.dir)}`] });
  });
  after(async () => {
    for (const c of cleanups.reverse()) await c();
    await sshd?.stop();
    await relayOnly?.stop();
    await noPython?.stop();
  });

  const ready = (t: TestContext) => requireOrSkip(t, sshdAvailability) && !!sshd;

  /** Session through a fault proxy, its keeper link and one kept shell, open and answering. */
  async function keptShellVia(
    server: SshdHandle,
    opts: { reattach?: boolean; session?: Partial<SessionOptions>; python?: string; whileOpening?: (proxy: FaultProxy) => Promise<void> } = {},
  ) {
    const proxy: FaultProxy = await startFaultProxy('127.0.0.1', server.port);
    cleanups.push(() => proxy.close());
    const cfg = configThroughProxy(server, proxy.port);
    const host = resolveHost(server.alias, { configFile: cfg, env: { SSH_AUTH_SOCK: undefined } });
    const session = new Session(host, sessionOptionsFor(host, opts.session ?? fastSession), { prompter: noPrompter, logger: nullLogger });
    cleanups.push(() => session.dispose());
    const link = new KeeperLink(session, { program, name: `t${process.pid}-${proxy.port}`, idleSeconds: 120, python: opts.python });
    cleanups.push(() => link.dispose());
    const shell = new KeptShell(session, link, { term: 'xterm-256color', cols: 100, rows: 30, reattach: opts.reattach ?? true, env: { SKA_TEST: 'kept' } });
    cleanups.push(() => shell.close());
    const screen = new Screen(shell);
    const held: HeldInput[] = [];
    const discarded: DiscardedInput[] = [];
    shell.onDidHoldInput((h) => held.push(h));
    shell.onDidDiscardInput((d) => discarded.push(d));
    await within(Promise.all([shell.start(), opts.whileOpening?.(proxy)]), 20_000, 'the kept shell to open');
    await screen.run('echo READY-$((6*7))', /READY-42/);
    return { proxy, session, link, shell, screen, held, discarded };
  }

  /** Types like a person: one key every `perKeyMs` (0: the whole line at once). */
  async function type(shell: KeptShell, text: string, perKeyMs: number): Promise<number> {
    if (perKeyMs === 0) {
      assert.equal(shell.write(text), true, `keys refused in state ${JSON.stringify(shell.state)}`);
      return Date.now();
    }
    for (const ch of text) {
      assert.equal(shell.write(ch), true, `key refused in state ${JSON.stringify(shell.state)}`);
      await sleep(perKeyMs);
    }
    return Date.now();
  }

  /** Sets a variable in the shell and returns the shell's pid: later lines prove "the same shell". */
  async function exportAndPid(screen: Screen, assignment: string): Promise<string> {
    return (await screen.run(`export ${assignment}; echo "pid-$$"`, /pid-(\d+)/))[1];
  }

  function count(haystack: string, needle: string): number {
    return haystack.split(needle).length - 1;
  }

  for (const { label, perKeyMs, afterMs } of [
    { label: 'the whole line at once, right after', perKeyMs: 0, afterMs: 0 },
    { label: 'at 120 ms per key, right after', perKeyMs: 120, afterMs: 0 },
    { label: 'the whole line at once, 0.3 s after', perKeyMs: 0, afterMs: 300 },
    { label: 'the whole line at once, 1 s after', perKeyMs: 0, afterMs: 1000 },
  ]) {
    test(`a line typed after a router reboot (${label}) runs once, in the same shell`, async (t) => {
      if (!ready(t)) return;
      const { proxy, shell, screen } = await keptShellVia(sshd!);
      const pid = await exportAndPid(screen, 'KEPT_X=41');
      const from = screen.mark();
      proxy.forgetAll();
      if (afterMs) await sleep(afterMs);
      const lastKey = await type(shell, 'echo "got-$((KEPT_X+1))-in-$$"\r', perKeyMs);
      await screen.waitFor(/got-42-in-\d+/, 10_000, from);
      const ms = Date.now() - lastKey;
      t.diagnostic(`output ${ms} ms after the last key (${label})`);
      // Let any duplicate arrive before counting.
      await sleep(500);
      const out = screen.plain.slice(from);
      assert.equal(count(out, 'got-42-in-'), 1, `the command ran exactly once; screen: ${JSON.stringify(out)}`);
      assert.match(out, new RegExp(`got-42-in-${pid}`), 'in the same shell (same pid, variable still set)');
      assert.doesNotMatch(out, /command not found|not found/, 'no fragment of the line ran on its own');
      assert.ok(ms < 3000, `output ${ms} ms after the last key (want < 3 s)`);
    });
  }

  test('keys typed during a 6 s outage are held, then run once in the same shell; Ctrl-C drops held keys', async (t) => {
    if (!ready(t)) return;
    const { proxy, session, shell, screen, held, discarded } = await keptShellVia(sshd!);
    await screen.run('export KEPT_Y=20', /\$|#/);
    proxy.forgetAll();
    proxy.blackhole();
    await eventWithin(shell.onDidChangeState, (s) => s.kind === 'suspended', 5000, 'the shell to be suspended');
    const from = screen.mark();
    await type(shell, 'echo "held-$((KEPT_Y*2))"\r', 30);
    assert.ok(held.length > 0 && held.at(-1)!.bytes === Buffer.byteLength('echo "held-$((KEPT_Y*2))"\r'), `held: ${JSON.stringify(held)}`);
    await sleep(6000);
    assert.doesNotMatch(screen.plain.slice(from), /held-40/, 'nothing ran during the outage');
    proxy.resume();
    await screen.waitFor(/held-40/, 15_000, from);
    await sleep(500);
    assert.equal(count(screen.plain.slice(from), 'held-40'), 1, 'ran exactly once');

    // Second outage: a line typed, then Ctrl-C: dropped, never runs.
    await until(() => session.state.kind === 'connected' && shell.state.kind === 'open', 10_000, 'back to open');
    proxy.forgetAll();
    proxy.blackhole();
    await eventWithin(shell.onDidChangeState, (s) => s.kind === 'suspended', 5000, 'the shell to be suspended again');
    const from2 = screen.mark();
    await type(shell, 'echo "never-$((KEPT_Y+1))"\r', 0);
    await type(shell, '\x03', 0);
    assert.deepEqual(discarded.at(-1), { bytes: Buffer.byteLength('echo "never-$((KEPT_Y+1))"\r'), why: 'interrupt' });
    proxy.resume();
    await eventWithin(shell.onDidChangeState, (s) => s.kind === 'open', 15_000, 'the shell to be open again');
    await screen.run('echo "after-$((KEPT_Y+2))"', /after-22/);
    assert.doesNotMatch(screen.plain.slice(from2), /never-21/, 'the dropped line never ran');
  });

  test('output through a 6 s outage: every numbered line once, in order', async (t) => {
    if (!ready(t)) return;
    const { proxy, shell, screen } = await keptShellVia(sshd!);
    const from = screen.mark();
    shell.write('i=0; while [ $i -lt 160 ]; do echo "n=$i"; i=$((i+1)); sleep 0.05; done; echo "DONE-$((40+2))"\r');
    await screen.waitFor(/n=20\b/, 10_000, from);
    proxy.forgetAll();
    proxy.blackhole();
    await sleep(6000);
    proxy.resume();
    await screen.waitFor(/DONE-42/, 30_000, from);
    const numbers = [...screen.plain.slice(from).matchAll(/^n=(\d+)$/gm)].map((m) => Number(m[1]));
    assert.deepEqual(
      numbers,
      Array.from({ length: 160 }, (_, i) => i),
      'every number once, in order',
    );
  });

  /**
   * Make-before-break: periodic keepalives far apart (only the demand probe of a key finds
   * the path in doubt), and a second connection's handshake may take 3 s, so that it is the
   * race between the old path and the new one that decides, not a deadline.
   */
  const bridging: Partial<SessionOptions> = {
    ...fastSession,
    keepalive: { intervalMs: 15_000, countMax: 3, demandMinMs: 400, demandRttFactor: 4, quietMs: 200 },
    reconnectTcpTimeoutMs: 3000,
  };

  /** Records every session state from now on. */
  function statesOf(session: Session): SessionState[] {
    const seen: SessionState[] = [];
    session.onDidChangeState((s) => seen.push(s));
    return seen;
  }

  /** A plain channel on the connection (not the keeper's): cut if the connection is torn down. */
  async function plainEcho(session: Session): Promise<{ say: (line: string) => Promise<void>; closed: () => boolean }> {
    const client = session.client!;
    const channel = await new Promise<import('ssh2').ClientChannel>((resolve, reject) => client.exec('cat', (err, ch) => (err ? reject(err) : resolve(ch))));
    let heard = '';
    let closed = false;
    channel.on('data', (d: Buffer) => (heard += d.toString()));
    channel.on('close', () => (closed = true));
    cleanups.push(() => channel.destroy());
    return {
      closed: () => closed,
      say: async (line) => {
        channel.write(`${line}\n`);
        await until(() => heard.includes(line) || closed, 5000, `the plain channel to echo ${line}`);
        assert.ok(heard.includes(line), `the plain channel echoed ${line} (closed: ${closed})`);
      },
    };
  }

  test('make-before-break: a path that stalls past the demand deadline and recovers cuts nothing; the spare connection is closed', async (t) => {
    if (!ready(t)) return;
    const { proxy, session, shell, screen } = await keptShellVia(sshd!, { session: bridging });
    const pid = await exportAndPid(screen, 'KEPT_M=6');
    const conn = session.connection!;
    const echo = await plainEcho(session);
    await echo.say('before-stall');
    const accepted = () => (sshd!.logs().match(/Accepted publickey/g) ?? []).length;
    const acceptedBefore = accepted();
    const states = statesOf(session);
    const from = screen.mark();
    // Every flow stalls, and so does a new one (accepted, never answered), for 1.5 s; then
    // all of it flows again, the old connection's bytes first.
    proxy.blackhole();
    await type(shell, 'echo "stalled-$((KEPT_M*7))-in-$$"\r', 0);
    await until(() => session.state.kind === 'connected' && !!session.state.checking, 3000, 'the path to be in doubt (a demand probe missed)');
    await sleep(1500);
    proxy.resume();
    await screen.waitFor(/stalled-42-in-\d+/, 10_000, from);
    await until(() => session.state.kind === 'connected' && !session.state.checking, 5000, 'the doubt to be settled');
    assert.equal(session.connection, conn, 'the old connection was kept');
    assert.equal(conn.isEnded, false);
    assert.ok(!states.some((s) => s.kind === 'lost' || s.kind === 'waiting'), `never lost: ${states.map((s) => s.kind).join(' ')}`);
    await echo.say('after-stall');
    assert.equal(echo.closed(), false, 'a plain channel on the connection was not cut');
    await sleep(500);
    const out = screen.plain.slice(from);
    assert.equal(count(out, 'stalled-42-in-'), 1, `ran exactly once: ${JSON.stringify(out)}`);
    assert.match(out, new RegExp(`stalled-42-in-${pid}`), 'in the same shell');
    // The price of the false alarm: one extra login, closed again.
    await until(() => accepted() === acceptedBefore + 1, 10_000, 'the spare connection to log in');
    await until(() => proxy.connections() === 1, 10_000, 'the spare connection to be closed');
  });

  test('make-before-break: after a router reboot the second connection takes over, without a lost state', async (t) => {
    if (!ready(t)) return;
    const { proxy, session, shell, screen } = await keptShellVia(sshd!, { session: bridging });
    const pid = await exportAndPid(screen, 'KEPT_N=8');
    const old = session.connection!;
    const states = statesOf(session);
    const from = screen.mark();
    // A router reboot: the old flow is gone for good (nothing signalled); new ones get through.
    proxy.forgetAll();
    const lastKey = await type(shell, 'echo "bridged-$((KEPT_N*5))-in-$$"\r', 0);
    await screen.waitFor(/bridged-40-in-\d+/, 10_000, from);
    t.diagnostic(`output ${Date.now() - lastKey} ms after the key`);
    assert.equal(old.isEnded, true, 'the old connection was let go');
    assert.notEqual(session.connection, old);
    const kinds = states.map((s) => (s.kind === 'connected' && s.checking ? 'checking' : s.kind));
    assert.ok(kinds.includes('checking'), `the doubt was seen: ${kinds.join(' ')}`);
    assert.ok(!kinds.includes('lost') && !kinds.includes('waiting'), `bridged, never lost: ${kinds.join(' ')}`);
    await sleep(500);
    const out = screen.plain.slice(from);
    assert.equal(count(out, 'bridged-40-in-'), 1, `ran exactly once: ${JSON.stringify(out)}`);
    assert.match(out, new RegExp(`bridged-40-in-${pid}`), 'in the same shell');
    assert.ok(Date.now() - lastKey < 3000 + 500, 'within 3 s of the key');
  });

  test('the shell exit status comes through the keeper; closing the terminal ends the kept shell', async (t) => {
    if (!ready(t)) return;
    const a = await keptShellVia(sshd!);
    a.shell.write('exit 7\r');
    assert.deepEqual(await eventWithin(a.shell.onDidChangeState, (s) => s.kind === 'exited', 10_000, 'the shell to exit'), { kind: 'exited', code: 7 });
    const b = await keptShellVia(sshd!);
    await until(() => b.shell.keeperPid !== undefined, 5000, 'the keeper to report the shell pid');
    const pid = b.shell.keeperPid!;
    assert.ok(pidAlive(pid), 'the kept shell runs');
    await b.shell.close();
    await until(() => !pidAlive(pid), 5000, `the kept shell (pid ${pid}) to end after the terminal closed`);
  });

  test('a window reload: a new client with the same session id and secret takes the shell back', async (t) => {
    if (!ready(t)) return;
    const host = resolveHost(sshd!.alias, { configFile: sshd!.sshConfigPath, env: { SSH_AUTH_SOCK: undefined } });
    const name = `reload${process.pid}`;
    const first = new Session(host, sessionOptionsFor(host, fastSession), { prompter: noPrompter, logger: nullLogger });
    const link1 = new KeeperLink(first, { program, name, idleSeconds: 120 });
    const shell1 = new KeptShell(first, link1, { term: 'xterm-256color', cols: 100, rows: 30, reattach: true });
    const screen1 = new Screen(shell1);
    await within(shell1.start(), 20_000, 'the first window’s shell');
    const pid = await exportAndPid(screen1, 'KEPT_RELOAD=$((6*7))');
    const streamId = shell1.keeperStreamId!;
    // Long enough for the output to be acknowledged: the keeper must keep it anyway.
    await sleep(300);
    // The window goes away: the shell is left to the keeper, the connection closes.
    await shell1.close({ keepRemote: true });
    link1.dispose();
    first.dispose();

    const second = new Session(host, sessionOptionsFor(host, fastSession), { prompter: noPrompter, logger: nullLogger });
    cleanups.push(() => second.dispose());
    const link2 = new KeeperLink(second, { program, name, idleSeconds: 120, secret: link1.secret, sessionId: link1.sessionId, adopt: [streamId] });
    cleanups.push(() => link2.dispose());
    const shell2 = new KeptShell(second, link2, { term: 'xterm-256color', cols: 100, rows: 30, reattach: true }, { adoptStreamId: streamId });
    cleanups.push(() => shell2.close());
    const screen2 = new Screen(shell2);
    await within(shell2.start(), 20_000, 'the reloaded window’s shell');
    assert.deepEqual(shell2.state, { kind: 'open', generation: 1, reattached: true, multiplexer: 'keeper' });
    // The reloaded window shows what the terminal showed before (as VS Code's persistent
    // terminals do), each line once.
    await until(() => screen2.plain.includes(`pid-${pid}`), 5000, 'the output from before the reload');
    assert.equal(screen2.plain.split(`pid-${pid}`).length - 1, 1, `the earlier output once: ${JSON.stringify(screen2.plain)}`);
    await screen2.run('echo "back-$KEPT_RELOAD-in-$$"', new RegExp(`back-42-in-${pid}`));
  });

  test('AllowStreamLocalForwarding no: the exec relay carries the shell, and it survives a reboot', async (t) => {
    if (!ready(t)) return;
    const { proxy, shell, screen, link } = await keptShellVia(relayOnly!);
    assert.equal(link.state.kind === 'attached' && link.state.via, 'relay');
    await screen.run('export KEPT_R=5', /\$|#/);
    const from = screen.mark();
    proxy.forgetAll();
    await type(shell, 'echo "relay-$((KEPT_R*3))"\r', 0);
    await screen.waitFor(/relay-15/, 10_000, from);
  });

  test('a drop while the keeper is still starting is the path’s, not the keeper’s: the next connection starts it, and the shell is kept', async (t) => {
    if (!ready(t)) return;
    // A slow start (the interpreter takes 2 s to come up), and the path is cut under it.
    const { shell, link, screen } = await keptShellVia(sshd!, {
      python: 'sleep 2; python3',
      whileOpening: async (proxy) => {
        await until(() => proxy.connections() > 0, 10_000, 'the first connection');
        await sleep(1000);
        proxy.reset();
      },
    });
    assert.equal(link.state.kind, 'attached', `keeper state: ${JSON.stringify(link.state)}`);
    assert.equal(shell.keeping, 'keeper', `the shell runs in the keeper (${shell.fallbackReason ?? ''})`);
    await screen.run('echo "kept-$((4+5))"', /kept-9/);
  });

  test('a server without python3: the tmux fallback, and the reason is given', async (t) => {
    if (!ready(t)) return;
    const { shell, screen } = await keptShellVia(noPython!);
    assert.equal(shell.keeping, 'tmux');
    assert.match(shell.fallbackReason ?? '', /python3/);
    await screen.run('echo "fallback-$((2+3))"', /fallback-5/);
  });
});

/** A PATH with everything in /usr/bin and /bin except python. */
function pathWithoutPython(dir: string): string {
  const bin = join(dir, 'bin-no-python');
  mkdirSync(bin, { recursive: true });
  for (const src of ['/usr/local/bin', '/usr/bin', '/bin']) {
    let names: string[];
    try {
      names = readdirSync(src);
    } catch {
      continue;
    }
    for (const name of names) {
      if (/^python/.test(name)) continue;
      try {
        symlinkSync(join(src, name), join(bin, name));
      } catch {
        // already linked from an earlier directory
      }
    }
  }
  return bin;
}

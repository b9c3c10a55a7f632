import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import type { Client } from 'ssh2';
import { nullLogger } from '../../src/core/base/logger';
import { resolveHost } from '../../src/core/config/sshConfig';
import { noPrompter } from '../../src/core/session/prompter';
import { Session, sessionOptionsFor } from '../../src/core/session/session';
import type { Multiplexer } from '../../src/core/shell/multiplexer';
import { execCapture } from '../../src/core/shell/remoteExec';
import type { DiscardedInput, HeldInput } from '../../src/core/shell/keptShell';
import { RemoteShell, type RemoteShellDeps, type RemoteShellOptions, type ShellState } from '../../src/core/shell/remoteShell';
import { startFaultProxy } from '../../tools/peers/faultProxy';
import { sshdAvailability, startSshd, type SshdHandle } from '../../tools/peers/sshd';
import { eventWithin, sleep, until, within } from '../harness/bounded';
import { fastSession } from '../harness/fastOptions';
import { configThroughProxy } from '../harness/proxiedConfig';
import { requireOrSkip } from '../harness/skip';
import { Screen } from '../harness/screen';

function waitForState(shell: RemoteShell, kind: ShellState['kind'], timeoutMs = 15_000): Promise<ShellState> {
  if (shell.state.kind === kind) return Promise.resolve(shell.state);
  return eventWithin(shell.onDidChangeState, (s) => s.kind === kind, timeoutMs, `the shell to be ${kind} (it is ${JSON.stringify(shell.state)})`);
}

/** A multiplexer stand-in for a host without tmux. */
const absentMultiplexer: Multiplexer = {
  name: 'absent',
  probe: async () => false,
  sessionName: (id) => `never-${id}`,
  hasSessionCommand: () => 'false',
  launchCommand: () => 'false',
  killCommand: () => 'false',
};

describe('RemoteShell against a real OpenSSH sshd', () => {
  let sshd: SshdHandle | undefined;
  const disposables: Array<{ dispose(): void }> = [];
  before(async () => {
    if (!sshdAvailability().ok) return;
    // Plain shells get env only through SSH env requests, which sshd filters with AcceptEnv.
    sshd = await startSshd({ extraConfig: ['AcceptEnv SKA_*'] });
  });
  after(async () => {
    for (const d of disposables.reverse()) d.dispose();
    await sshd?.stop();
  });
  const ready = (t: TestContext) => requireOrSkip(t, sshdAvailability) && !!sshd;
  const tmuxReady = (t: TestContext) =>
    ready(t) && requireOrSkip(t, () => (hasTmux() ? { ok: true } : { ok: false, reason: 'tmux not installed (Debian package tmux)' }));

  async function connect(): Promise<Session> {
    const host = resolveHost(sshd!.alias, { configFile: sshd!.sshConfigPath, env: { SSH_AUTH_SOCK: undefined } });
    const s = new Session(host, sessionOptionsFor(host), { prompter: noPrompter, logger: nullLogger });
    disposables.push(s);
    await within(s.start(), 15_000, 'the session to connect to sshd');
    return s;
  }

  /** A session through a fault proxy (forgetAll: a router reboot), with fast keepalives. */
  async function connectThroughProxy(t: TestContext) {
    const proxy = await startFaultProxy('127.0.0.1', sshd!.port);
    t.after(() => proxy.close());
    const host = resolveHost(sshd!.alias, { configFile: configThroughProxy(sshd!, proxy.port), env: { SSH_AUTH_SOCK: undefined } });
    const session = new Session(host, sessionOptionsFor(host, fastSession), { prompter: noPrompter, logger: nullLogger });
    disposables.push(session);
    await within(session.start(), 15_000, 'the session to connect through the fault proxy');
    return { proxy, session };
  }

  /** A tmux shell through a fault proxy, in a shell whose pid and a variable the test knows. */
  async function tmuxThroughProxy(t: TestContext, id: string) {
    const { proxy, session } = await connectThroughProxy(t);
    const screen = await open(session, { reattach: true, id });
    const held: HeldInput[] = [];
    const discarded: DiscardedInput[] = [];
    screen.shell.onDidHoldInput((h) => held.push(h));
    screen.shell.onDidDiscardInput((d) => discarded.push(d));
    const pid = (await screen.run('export TK_X=41; echo "pid-$$"', /pid-(\d+)/))[1];
    return { proxy, session, screen, shell: screen.shell, pid, held, discarded };
  }

  /** Types like a person: one key every `perKeyMs` (0: the whole text at once). */
  async function type(shell: RemoteShell, text: string, perKeyMs = 0): Promise<void> {
    for (const keys of perKeyMs === 0 ? [text] : [...text]) {
      assert.equal(shell.write(keys), true, `keys refused in state ${JSON.stringify(shell.state)}`);
      if (perKeyMs) await sleep(perKeyMs);
    }
  }

  const count = (haystack: string, needle: string) => haystack.split(needle).length - 1;

  async function open(session: Session, opts: Partial<RemoteShellOptions> = {}, deps: RemoteShellDeps = {}): Promise<Screen<RemoteShell>> {
    const env = { SKA_TEST: 'hello-env', ...opts.env };
    const shell = new RemoteShell(session, { term: 'xterm-256color', cols: 100, rows: 30, reattach: false, ...opts, env }, { logger: nullLogger, ...deps });
    disposables.push(shell);
    const screen = new Screen(shell);
    await within(shell.start(), 15_000, 'the remote shell to open');
    // The shell reads input once it answers; prompts differ between shells and rc files.
    await screen.run('echo READY-$((6*7))', /READY-42/);
    return screen;
  }

  test('a plain shell: pty size, resize, env, multibyte output, exit status', async (t) => {
    if (!ready(t)) return;
    const session = await connect();
    const screen = await open(session);
    const shell = screen.shell;
    assert.deepEqual(shell.state, { kind: 'open', generation: 1, reattached: false });
    await screen.run('stty size', /^30 100$/m);
    shell.resize(120, 40);
    await screen.run('stty size', /^40 120$/m);
    await screen.run('echo "E=[$SKA_TEST]"', /E=\[hello-env\]/);
    // 90 KB of 3-byte characters: channel packets (32 KiB) split characters; none may break.
    const from = screen.mark();
    await screen.run(`printf '€%.0s' $(seq 1 30000); echo; echo END-$((1+1))`, /\nEND-2/, 15_000);
    assert.equal(/€{2,}/.exec(screen.plain.slice(from))?.[0].length, 30000);
    assert.equal(screen.plain.includes('\uFFFD'), false, 'no replacement characters');
    assert.equal(shell.write('exit 3\r'), true);
    assert.deepEqual(await waitForState(shell, 'exited'), { kind: 'exited', code: 3 });
    // Exited is final: no reopen on the next connection, and input is refused.
    await within(session.reconnect(), 20_000, 'the session to reconnect');
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(shell.state.kind, 'exited');
    assert.equal(shell.write('x'), false);
  });

  test('tmux: survives a dropped connection; reattached with its variables and running job; input during the outage is held, Ctrl-C drops it', async (t) => {
    if (!tmuxReady(t)) return;
    const session = await connect();
    const screen = await open(session, { reattach: true, id: 'reattach test/1', env: { SKA_TEST: 'hello-env', TMUXONLY: 'via launch' } });
    const shell = screen.shell;
    assert.deepEqual(shell.state, { kind: 'open', generation: 1, reattached: false, multiplexer: 'tmux' });
    const name = shell.remoteSessionName!;
    assert.match(name, /^ska-[A-Za-z0-9_-]+$/);
    // Status bar off: the pane has every row of the terminal.
    await screen.run('stty size', /^30 100$/m);
    // Not in AcceptEnv, so only the launch command can have put it there.
    await screen.run('echo "T=[$TMUXONLY]"', /T=\[via launch\]/);
    await screen.run('export X=42; echo "set-$X"', /set-42/);
    assert.equal(shell.write('sleep 1000; echo done\r'), true);
    await waitForPaneCommand(session.client!, name, 'sleep');

    const suspended = waitForState(shell, 'suspended');
    const reopened = eventWithin(shell.onDidChangeState, (s) => s.kind === 'open', 20_000, 'the shell to reopen after the reconnect');
    void session.reconnect('test drops the connection');
    assert.equal((await suspended).kind, 'suspended');
    assert.match((shell.state as { reason: string }).reason, /test drops the connection/);
    // Typed blind during the outage: held for the same shell; the Ctrl-C after it drops it, so it is never sent.
    const held: HeldInput[] = [];
    const discarded: DiscardedInput[] = [];
    shell.onDidHoldInput((h) => held.push(h));
    shell.onDidDiscardInput((d) => discarded.push(d));
    assert.equal(shell.write('echo LEAKED\r'), true);
    assert.deepEqual(held, [{ bytes: 12 }]);
    assert.equal(shell.write('\x03'), true);
    assert.deepEqual(discarded, [{ bytes: 12, why: 'interrupt' }]);
    assert.deepEqual(screen.drops, [], 'nothing refused');
    assert.deepEqual(await reopened, { kind: 'open', generation: 2, reattached: true, multiplexer: 'tmux' });

    // The foreground job kept running through the outage.
    const panes = await execCapture(session.client!, `tmux -L ${name} list-panes -a -F '#{pane_current_command}'`, 5000);
    assert.equal(panes.stdout.trim(), 'sleep');
    // Ctrl-C the sleep; the tty flushes input typed before the shell is back at its prompt.
    const beforeInterrupt = screen.mark();
    shell.write('\x03');
    await screen.waitFor(/\^C\n.+/, 5000, beforeInterrupt);
    await screen.run('echo "X=[$X]"', /X=\[42\]/);
    shell.resize(90, 25);
    await screen.run('stty size', /^25 90$/m);
    assert.equal(screen.plain.includes('LEAKED'), false, 'keys dropped by a Ctrl-C during the outage must not arrive');

    // Closing the terminal ends the tmux session.
    await shell.close();
    const gone = await execCapture(session.client!, `tmux -L ${name} has-session -t =${name}`, 5000);
    assert.notEqual(gone.code, 0, 'tmux session killed on close');
  });

  for (const { label, perKeyMs } of [
    { label: 'the whole line at once', perKeyMs: 0 },
    { label: 'at 120 ms per key', perKeyMs: 120 },
  ]) {
    test(`tmux: a line typed right after a router reboot (${label}) runs exactly once, in the same shell`, async (t) => {
      if (!tmuxReady(t)) return;
      const { proxy, screen, shell, pid } = await tmuxThroughProxy(t, `reboot-${perKeyMs}`);
      const from = screen.mark();
      proxy.forgetAll();
      await type(shell, 'echo "got-$((TK_X+1))-in-$$"\r', perKeyMs);
      const lastKey = Date.now();
      await screen.waitFor(/got-42-in-\d+/, 10_000, from);
      t.diagnostic(`output ${Date.now() - lastKey} ms after the last key (${label})`);
      await sleep(500); // let a duplicate arrive before counting
      const out = screen.plain.slice(from);
      assert.equal(count(out, 'got-42-in-'), 1, `ran exactly once; screen: ${JSON.stringify(out)}`);
      assert.match(out, new RegExp(`got-42-in-${pid}`), 'in the same shell (same pid, variable still set)');
      assert.doesNotMatch(out, /not found/, 'no fragment of the line ran on its own');
      assert.ok(shell.state.kind === 'open' && shell.state.generation > 1, `the shell was reattached: ${JSON.stringify(shell.state)}`);
    });
  }

  test('tmux: keys typed while suspended are held and run once after the reattach; Ctrl-C drops them', async (t) => {
    if (!tmuxReady(t)) return;
    const { proxy, session, screen, shell, pid, held, discarded } = await tmuxThroughProxy(t, 'held');
    proxy.forgetAll();
    proxy.blackhole();
    await waitForState(shell, 'suspended', 5000);
    const from = screen.mark();
    const line = 'echo "held-$((TK_X*2))-in-$$"\r';
    await type(shell, line, 20);
    assert.equal(held.at(-1)?.bytes, Buffer.byteLength(line), `held: ${JSON.stringify(held)}`);
    await sleep(2000);
    assert.doesNotMatch(screen.plain.slice(from), /held-82/, 'nothing ran during the outage');
    // What the screen held when `open` came (the terminal writes its "restored" note then).
    let atOpen: string | undefined;
    shell.onDidChangeState((s) => {
      if (s.kind === 'open') atOpen ??= screen.plain.slice(from);
    });
    proxy.resume();
    await screen.waitFor(/held-82-in-\d+/, 15_000, from);
    // tmux redraws the old screen on reattach: `open` comes after that, so a note written then stays readable.
    assert.match(atOpen ?? '', new RegExp(`pid-${pid}`), `the redraw came before open; screen at open: ${JSON.stringify(atOpen)}`);
    await sleep(500);
    const out = screen.plain.slice(from);
    assert.equal(count(out, 'held-82-in-'), 1, `ran exactly once; screen: ${JSON.stringify(out)}`);
    assert.match(out, new RegExp(`held-82-in-${pid}`), 'in the same shell');
    assert.deepEqual(discarded, []);

    // Second outage: a line, then Ctrl-C: dropped and said so, never runs.
    await until(() => session.state.kind === 'connected' && shell.state.kind === 'open', 10_000, 'the shell to be open again');
    proxy.forgetAll();
    proxy.blackhole();
    await waitForState(shell, 'suspended', 5000);
    const from2 = screen.mark();
    await type(shell, 'echo "never-$((TK_X+1))"\r');
    await type(shell, '\x03');
    assert.deepEqual(discarded, [{ bytes: Buffer.byteLength('echo "never-$((TK_X+1))"\r'), why: 'interrupt' }]);
    proxy.resume();
    await waitForState(shell, 'open', 15_000);
    await screen.run('echo "after-$((TK_X+2))"', /after-43/);
    await sleep(300);
    assert.doesNotMatch(screen.plain.slice(from2), /never-42/, 'the dropped line never ran');
  });

  test('tmux: when a new shell comes back (the tmux server died during the outage), held keys are discarded, never run', async (t) => {
    if (!tmuxReady(t)) return;
    const { proxy, screen, shell, held, discarded } = await tmuxThroughProxy(t, 'new-shell');
    const name = shell.remoteSessionName!;
    const direct = await connect();
    proxy.forgetAll();
    proxy.blackhole();
    await waitForState(shell, 'suspended', 5000);
    const from = screen.mark();
    const line = 'echo "lost-$((TK_X+1))"\r';
    await type(shell, line);
    assert.equal(held.at(-1)?.bytes, Buffer.byteLength(line));
    assert.equal((await execCapture(direct.client!, `tmux -L ${name} kill-server`, 5000)).code, 0, 'tmux server killed');
    proxy.resume();
    const reopened = await waitForState(shell, 'open', 15_000);
    assert.deepEqual(reopened, { kind: 'open', generation: 2, reattached: false, multiplexer: 'tmux' });
    assert.deepEqual(discarded, [{ bytes: Buffer.byteLength(line), why: 'new-shell' }]);
    await screen.run('echo "fresh-[$TK_X]-$((1+1))"', /fresh-\[\]-2/);
    await sleep(300);
    assert.doesNotMatch(screen.plain.slice(from), /lost-\d/, 'the held line never ran in the new shell');
  });

  test('tmux: close({ keepRemote: true }) leaves the session; the same id reattaches to it', async (t) => {
    if (!tmuxReady(t)) return;
    const session = await connect();
    const first = await open(session, { reattach: true, id: 'keep-me' });
    await first.run('export Y=7; echo "y-$Y"', /y-7/);
    const name = first.shell.remoteSessionName!;
    await first.shell.close({ keepRemote: true });
    assert.equal((await execCapture(session.client!, `tmux -L ${name} has-session -t =${name}`, 5000)).code, 0);
    // A new terminal with the same stable id (e.g. after an editor reload) finds it.
    const second = new Screen(new RemoteShell(session, { term: 'xterm', cols: 80, rows: 24, reattach: true, id: 'keep-me' }, { logger: nullLogger }));
    disposables.push(second.shell);
    await within(second.shell.start(), 15_000, 'the second shell to reattach');
    assert.deepEqual(second.shell.state, { kind: 'open', generation: 1, reattached: true, multiplexer: 'tmux' });
    await second.run('echo "Y=[$Y]"', /Y=\[7\]/);
    // exit in tmux ends the session: the shell is exited and nothing is left behind.
    second.shell.write('exit\r');
    assert.equal((await waitForState(second.shell, 'exited')).kind, 'exited');
    assert.notEqual((await execCapture(session.client!, `tmux -L ${name} has-session -t =${name}`, 5000)).code, 0);
  });

  test('without reattach (disabled, or no tmux on the host): a fresh shell after a drop, reattached=false, state gone', async (t) => {
    if (!ready(t)) return;
    const session = await connect();
    const cases: Array<[string, Partial<RemoteShellOptions>, RemoteShellDeps]> = [
      ['reattach disabled', { reattach: false }, {}],
      ['multiplexer absent', { reattach: true }, { multiplexer: absentMultiplexer }],
    ];
    for (const [what, opts, deps] of cases) {
      const screen = await open(session, opts, deps);
      const shell = screen.shell;
      assert.deepEqual(shell.state, { kind: 'open', generation: 1, reattached: false }, what);
      assert.equal(shell.remoteSessionName, undefined, what);
      await screen.run('export X=42; echo "set-$X"', /set-42/);
      const reopened = eventWithin(shell.onDidChangeState, (s) => s.kind === 'open', 20_000, 'the shell to reopen after the reconnect');
      void session.reconnect();
      assert.equal(shell.state.kind, 'suspended', what);
      assert.equal(shell.write('echo LEAKED\r'), false, what);
      assert.deepEqual(await reopened, { kind: 'open', generation: 2, reattached: false }, what);
      await screen.run('echo READY2-$((6*7))', /READY2-42/);
      await screen.run('echo "X=[$X]"', /X=\[\]/);
      assert.equal(screen.plain.includes('LEAKED'), false, what);
      assert.deepEqual(
        screen.states.map((s) => s.kind),
        ['open', 'suspended', 'opening', 'open'],
        what,
      );
      await shell.close();
    }
  });

  test('a shell started before the session connects opens once it does; a closed session fails it', async (t) => {
    if (!ready(t)) return;
    const host = resolveHost(sshd!.alias, { configFile: sshd!.sshConfigPath, env: { SSH_AUTH_SOCK: undefined } });
    const session = new Session(host, sessionOptionsFor(host), { prompter: noPrompter, logger: nullLogger });
    disposables.push(session);
    const shell = new RemoteShell(session, { term: 'xterm', cols: 80, rows: 24, reattach: false }, { logger: nullLogger });
    disposables.push(shell);
    assert.equal(shell.state.kind, 'opening');
    assert.equal(shell.write('too early'), false);
    await within(shell.start(), 15_000, 'the shell to open (it starts the idle session)'); // starts the idle session
    assert.equal(shell.state.kind, 'open');
    session.dispose();
    assert.deepEqual(shell.state, { kind: 'failed', reason: 'the session was closed' });
  });
});

function hasTmux(): boolean {
  return (process.env.PATH ?? '').split(delimiter).some((d) => d && existsSync(join(d, 'tmux')));
}

async function waitForPaneCommand(client: Client, name: string, command: string, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < end) {
    last = (await execCapture(client, `tmux -L ${name} list-panes -a -F '#{pane_current_command}'`, 5000)).stdout.trim();
    if (last === command) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`pane runs ${JSON.stringify(last)}, expected ${command}`);
}

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
import { RemoteShell, type RemoteShellDeps, type RemoteShellOptions, type ShellState } from '../../src/core/shell/remoteShell';
import { sshdAvailability, startSshd, type SshdHandle } from '../../tools/peers/sshd';
import { eventWithin, within } from '../harness/bounded';
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

  test('tmux: survives a dropped connection; reattached with its variables and running job; input during the outage is refused', async (t) => {
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
    // Typed blind during the outage: refused, counted, never sent.
    assert.equal(shell.write('echo LEAKED\r'), false);
    assert.deepEqual(screen.drops.at(-1), { bytes: 12, state: shell.state });
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
    assert.equal(screen.plain.includes('LEAKED'), false, 'keys typed during the outage must not arrive');

    // Closing the terminal ends the tmux session.
    await shell.close();
    const gone = await execCapture(session.client!, `tmux -L ${name} has-session -t =${name}`, 5000);
    assert.notEqual(gone.code, 0, 'tmux session killed on close');
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

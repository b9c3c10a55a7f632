import * as assert from 'assert';
import * as vscode from 'vscode';
import type { Peers } from '../startPeers';
import type { SshKeepaliveTestApi } from '../../../src/vscode/testApi';
import { alive, answerModal, EXTENSION_ID, keeperPids, setSetting, sleep, usePeers, waitFor, waitForState } from './helpers';

function count(haystack: string, needle: string): number {
  return haystack.split(needle).length - 1;
}

suite('remote terminals', () => {
  let api: SshKeepaliveTestApi;
  let peers: Peers;
  const opened: vscode.Terminal[] = [];

  suiteSetup(async () => {
    ({ api, peers } = await usePeers());
  });

  suiteTeardown(async () => {
    peers.proxy.resume();
    await setSetting('reattach', undefined);
    await setSetting('keeper.enabled', undefined);
    for (const t of opened) t.dispose();
  });

  async function openOn(alias: string): Promise<vscode.Terminal> {
    const terminal = await vscode.commands.executeCommand<vscode.Terminal>('sshKeepalive.openTerminal', alias);
    assert.ok(terminal, 'openTerminal returned no terminal');
    opened.push(terminal);
    await waitFor(`the shell on ${alias} to open`, () => api.terminalState(terminal)?.kind === 'open', 20_000);
    return terminal;
  }

  test('round trip: keys go through the Pseudoterminal and the output comes back', async () => {
    const terminal = await openOn('lab');
    assert.strictEqual(terminal.name, 'lab', 'terminals are named after the host');
    // The shell computes 42, so the echoed command line itself cannot match.
    terminal.sendText('echo hi-$((40+2))');
    await waitFor('"hi-42" in the terminal', () => api.terminalOutput(terminal)?.includes('hi-42'));
    const node = api.tree().find((n) => n.label === 'lab')!;
    assert.ok(
      node.children.some((c) => c.contextValue === 'terminal' && /^opened|reattached/.test(c.description ?? '')),
      JSON.stringify(node.children),
    );
  });

  test('a kept terminal (session keeper): a line typed right after the path dies runs once, in the same shell', async () => {
    const otherKeepers = new Set(keeperPids(peers.sshd.dir)); // of other hosts on the same server (lab)
    const terminal = await openOn('flaky');
    const first = api.terminalState(terminal);
    assert.ok(first?.kind === 'open' && first.multiplexer === 'keeper', `the keeper runs the shell: ${JSON.stringify(first)}`);
    terminal.sendText('SSHKA_K=41; echo "pid-$$"');
    await waitFor('the shell to answer', () => /pid-\d+/.test(api.terminalOutput(terminal) ?? ''));
    const pid = /pid-(\d+)/.exec(api.terminalOutput(terminal) ?? '')![1];
    const before = (api.terminalOutput(terminal) ?? '').length;
    // The router forgets the flow; the user types at once, without looking at the status.
    peers.proxy.forgetAll();
    terminal.sendText('echo "typed-$((SSHKA_K+1))-in-$$"');
    await waitFor('the typed line to run after the restore', () => (api.terminalOutput(terminal) ?? '').slice(before).includes('typed-42-in-'), 20_000);
    await sleep(500);
    const out = (api.terminalOutput(terminal) ?? '').slice(before);
    assert.strictEqual(count(out, 'typed-42-in-'), 1, `ran exactly once: ${JSON.stringify(out)}`);
    assert.ok(out.includes(`typed-42-in-${pid}`), 'in the same shell (same pid, variable still set)');
    await waitFor('the restored note', () => (api.terminalOutput(terminal) ?? '').includes('session keeper): nothing was lost'));
    const item = api.statusBarItems().find((i) => i.text.includes('flaky'));
    assert.ok(item && /1 kept \\?\(session keeper\\?\)/.test(item.tooltip), `the host's tooltip says its terminal is kept: ${item?.tooltip ?? 'no item'}`);

    // Disconnect ends the keeper (and the shell it ran) at once, not after its idle time.
    const keepers = keeperPids(peers.sshd.dir).filter((p) => !otherKeepers.has(p));
    assert.ok(keepers.length === 1 && keepers.every(alive), `one keeper runs for flaky: ${JSON.stringify(keepers)}`);
    const modal = answerModal(api, 'Disconnect');
    try {
      await vscode.commands.executeCommand('sshKeepalive.disconnect', 'flaky');
    } finally {
      modal.restore();
    }
    assert.match(modal.asked[0]?.detail ?? '', /1 terminal is open on flaky\. Disconnecting closes it and ends its remote shell/, 'Disconnect asked first');
    await waitFor('the keeper to end after Disconnect', () => !keepers.some(alive), 10_000);
    await waitFor('the kept shell to end with it', () => !alive(Number(pid)), 10_000);
  });

  test('without the keeper (turned off), tmux keeps the terminal: one dim line, keys held with one note and run once after the reattach', async () => {
    await setSetting('keeper.enabled', false);
    await vscode.commands.executeCommand('sshKeepalive.disconnect', 'flaky');
    const terminal = await openOn('flaky');
    assert.strictEqual(
      api.terminalState(terminal)?.kind === 'open' && (api.terminalState(terminal) as { multiplexer?: string }).multiplexer,
      'tmux',
      'tmux is used when the server has it',
    );
    terminal.sendText('SSHKA_MARK=kept-$((6*7))');
    await waitFor('the shell to take the variable', async () => {
      terminal.sendText('echo mark-$SSHKA_MARK');
      await new Promise((r) => setTimeout(r, 300));
      return api.terminalOutput(terminal)?.includes('mark-kept-42');
    });

    peers.proxy.blackhole();
    await waitFor('the shell to be suspended', () => api.terminalState(terminal)?.kind === 'suspended', 15_000);
    await waitForState(api, 'flaky', 'waiting', 15_000);
    terminal.sendText('echo typed-$((20+1))');
    terminal.sendText('echo again-$((20+2))');
    await waitFor('the held-keys note', () => api.terminalOutput(terminal)?.includes('Keys typed now are held'));
    await new Promise((r) => setTimeout(r, 500));
    assert.ok(!(api.terminalOutput(terminal) ?? '').includes('typed-21'), 'nothing ran during the outage');

    peers.proxy.resume();
    await waitFor(
      'the shell to be back',
      () => {
        const s = api.terminalState(terminal);
        return s?.kind === 'open' && s.generation >= 2;
      },
      30_000,
    );
    const state = api.terminalState(terminal);
    assert.ok(state?.kind === 'open' && state.reattached, `expected a reattach, got ${JSON.stringify(state)}`);
    await waitFor('the restored line', () => api.terminalOutput(terminal)?.includes('reattached to the tmux session'));

    await waitFor('the held lines to run after the reattach', () => (api.terminalOutput(terminal) ?? '').includes('again-22'));
    await sleep(500);
    const out = api.terminalOutput(terminal) ?? '';
    assert.strictEqual(count(out, '\x1b[2mConnection to flaky lost ('), 1, 'exactly one dim "lost" line');
    assert.strictEqual(count(out, 'Keys typed now are held'), 1, 'one note for the held keys, not one per key');
    assert.strictEqual(
      count(out, 'are not sent'),
      0,
      `no key was refused: ${JSON.stringify(out.slice(Math.max(0, out.indexOf('are not sent') - 600), out.indexOf('are not sent') + 100))}`,
    );
    assert.strictEqual(count(out, 'typed-21'), 1, 'the first held line ran once');
    assert.strictEqual(count(out, 'again-22'), 1, 'the second held line ran once');

    // The same shell: the variable set before the drop is still there.
    terminal.sendText('echo back-$SSHKA_MARK');
    await waitFor('the old shell state after the reattach', () => api.terminalOutput(terminal)?.includes('back-kept-42'));
  });

  test('without tmux reattach, a restored terminal says it is a new shell', async () => {
    await setSetting('reattach', false);
    await setSetting('keeper.enabled', false);
    const terminal = await openOn('flaky');
    const first = api.terminalState(terminal);
    assert.ok(first?.kind === 'open' && first.multiplexer === undefined, JSON.stringify(first));
    peers.proxy.reset();
    await waitFor(
      'the new shell',
      () => {
        const s = api.terminalState(terminal);
        return s?.kind === 'open' && s.generation >= 2;
      },
      20_000,
    );
    await waitFor('the "new shell" line', () => api.terminalOutput(terminal)?.includes('This is a new shell'));
    const out = api.terminalOutput(terminal) ?? '';
    assert.strictEqual(count(out, '\x1b[2mConnection to flaky lost ('), 1);
    assert.match(out, /sshKeepalive\.reattach is off/);
    terminal.sendText('echo fresh-$((5*5))');
    await waitFor('the new shell to answer', () => api.terminalOutput(terminal)?.includes('fresh-25'));
  });

  test('a window reload takes the kept shells back: same shell, its recent output, with a note', async () => {
    await setSetting('keeper.enabled', undefined);
    await setSetting('reattach', undefined);
    // One kept terminal, so the one that comes back is this one.
    for (const t of opened.splice(0)) t.dispose();
    await waitFor('the earlier terminals to close', () => !vscode.window.terminals.some((t) => api.terminalState(t) !== undefined));
    const terminal = await openOn('lab');
    terminal.sendText('SSHKA_RELOAD=$((6*7)); echo "pid-$$"');
    await waitFor('the shell to answer', () => /pid-\d+/.test(api.terminalOutput(terminal) ?? ''));
    const pid = /pid-(\d+)/.exec(api.terminalOutput(terminal) ?? '')![1];
    await api.simulateReload();
    const restored = await waitFor(
      'the terminal to come back after the reload',
      () => vscode.window.terminals.find((t) => t.name === 'lab' && api.terminalState(t)?.kind === 'open'),
      20_000,
    );
    opened.push(restored);
    assert.deepStrictEqual(api.terminalState(restored), { kind: 'open', generation: 1, reattached: true, multiplexer: 'keeper' });
    await waitFor('the reload note', () => (api.terminalOutput(restored) ?? '').includes('restored after the window reloaded'));
    // What the terminal showed before the reload is shown again (as persistent terminals do).
    await waitFor('the output from before the reload', () => (api.terminalOutput(restored) ?? '').includes(`pid-${pid}`));
    restored.sendText('echo "back-$SSHKA_RELOAD-in-$$"');
    await waitFor('the same shell to answer', () => (api.terminalOutput(restored) ?? '').includes(`back-42-in-${pid}`));
  });

  test('the terminal profile (terminal dropdown) asks for a host and opens a remote terminal', async () => {
    const openedByVsCode = new Promise<vscode.Terminal>((resolve) => {
      const sub = vscode.window.onDidOpenTerminal((t) => {
        sub.dispose();
        resolve(t);
      });
    });
    // What the dropdown entry runs; it waits for our provider, which shows the host pick.
    const created = vscode.commands.executeCommand('workbench.action.terminal.newWithProfile', {
      config: { extensionIdentifier: EXTENSION_ID, id: 'sshKeepalive.remoteTerminal', title: 'SSH Keepalive: Remote Host' },
    });
    let seen: vscode.Terminal | undefined;
    void openedByVsCode.then((t) => (seen = t));
    // Accept the pick's first item (lab) once it shows; accepting with no pick open does nothing.
    await waitFor('the host pick to be answered', async () => {
      await vscode.commands.executeCommand('workbench.action.acceptSelectedQuickOpenItem');
      await sleep(300);
      return seen;
    });
    await created;
    const terminal = await openedByVsCode;
    opened.push(terminal);
    assert.strictEqual(terminal.name, 'lab');
    await waitFor('the profile terminal to open', () => api.terminalState(terminal)?.kind === 'open', 20_000);
    terminal.sendText('echo profile-$((2*21))');
    await waitFor('output in the profile terminal', () => api.terminalOutput(terminal)?.includes('profile-42'));
  });
});

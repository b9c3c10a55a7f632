import * as assert from 'assert';
import * as vscode from 'vscode';
import type { Peers } from '../startPeers';
import type { StatusItemSnapshot } from '../../../src/vscode/statusBar';
import type { SshKeepaliveTestApi } from '../../../src/vscode/testApi';
import { alive, answerModal, disconnect, keeperPids, sleep, statusItem, usePeers, waitFor, waitForState } from './helpers';

/**
 * What the status bar item, its accessibility label and its tooltip say in each state:
 * alive, unconfirmed, connecting with a cause, lost (reconnecting) and restored.
 */
suite('status that says what is known', () => {
  let api: SshKeepaliveTestApi;
  let peers: Peers;

  suiteSetup(async () => {
    ({ api, peers } = await usePeers());
  });

  teardown(() => peers.proxy.resume());

  test('a host that never connected: "connecting (attempt N): <cause>", one notification, the real cadence', async () => {
    const before = api.reportedErrors.length;
    // The command waits for the connection (which never comes): not awaited.
    void vscode.commands.executeCommand('sshKeepalive.connect', 'nosshd');
    try {
      await waitFor('attempt 4 on nosshd', () => {
        const s = api.hostState('nosshd');
        return (s?.kind === 'waiting' || s?.kind === 'connecting') && s.attempt >= 4;
      });
      const item = await waitFor('the connecting item with its cause', () => {
        const i = statusItem(api, 'nosshd');
        return i && /connecting \(attempt \d+\): /.test(i.accessibilityLabel ?? '') ? i : undefined;
      });
      assert.strictEqual(item.text, '$(sync~spin) nosshd', 'no countdown while attempts come about every second');
      assert.strictEqual(item.background, 'warning');
      assert.match(item.accessibilityLabel ?? '', /^SSH host nosshd: connecting \(attempt \d+\): nosshd \(127\.0\.0\.1\):\d+ refused the connection/);
      assert.doesNotMatch(item.accessibilityLabel ?? '', /connection lost|1 seconds/);
      assert.match(item.tooltip, /State: connecting \\\(attempt \d+\\\): nosshd .*refused the connection/);
      const node = api.tree().find((n) => n.label === 'nosshd');
      assert.match(node?.description ?? '', /^connecting \(attempt \d+\)$/, 'the cause is in the tooltip, not the description');
      assert.match(node?.tooltip ?? '', /refused the connection/);
      const told = api.reportedErrors.slice(before).filter((r) => r.alias === 'nosshd');
      assert.strictEqual(told.length, 1, `one notification for the first failure of its kind: ${JSON.stringify(told)}`);
      assert.match(told[0].message, /cannot connect to nosshd \(attempt 1\): nosshd \(127\.0\.0\.1\):\d+ refused the connection.*Still trying/);
      assert.deepStrictEqual(told[0].actions, ['Pause Reconnecting', 'Show Log']);
    } finally {
      await disconnect('nosshd');
    }
  });

  test('alive, then unconfirmed within interval + a few RTTs with no user action, then lost, then restored', async () => {
    assert.strictEqual(await vscode.commands.executeCommand<boolean>('sshKeepalive.connect', 'flaky'), true);
    const aliveItem = await waitFor('flaky alive', () => {
      const i = statusItem(api, 'flaky');
      return i && /^\$\(pulse\) flaky \d+(\.\d)? ms$/.test(i.text) ? i : undefined;
    });
    assert.match(aliveItem.accessibilityLabel ?? '', /^SSH host flaky: connected, round trip \d+ milliseconds$/);
    assert.match(aliveItem.tooltip, /- Round trip: \d/);

    const seen: { item: StatusItemSnapshot; description: string | undefined; at: number }[] = [];
    const watch = setInterval(() => {
      const item = statusItem(api, 'flaky');
      if (item) seen.push({ item, description: api.tree().find((n) => n.label === 'flaky')?.description, at: Date.now() });
    }, 20);
    try {
      const blackholedAt = Date.now();
      peers.proxy.blackhole();
      const unconfirmed = await waitFor('flaky unconfirmed', () => seen.find((s) => s.item.text.startsWith('$(question)')), 15_000);
      // 1 s keepalives: silent past 1 s + max(1 s, 4 RTTs) is unconfirmed, well before the death.
      assert.ok(unconfirmed.at - blackholedAt < 3500, `unconfirmed ${unconfirmed.at - blackholedAt} ms after the path died`);
      assert.match(unconfirmed.item.text, /^\$\(question\) flaky silent \d+ s$/);
      assert.strictEqual(unconfirmed.item.background, 'warning');
      assert.match(unconfirmed.item.accessibilityLabel ?? '', /^SSH host flaky: unconfirmed, last heard \d+ seconds? ago$/);
      assert.match(unconfirmed.item.tooltip, /State: unconfirmed, last heard \d+ (s|ms) ago/);
      assert.match(unconfirmed.item.tooltip, /Last round trip: .* \(measured before the silence; not current\)/);
      assert.doesNotMatch(unconfirmed.item.tooltip, /- Round trip:/);
      const treeSaid = await waitFor('the tree to say unconfirmed too', () => seen.find((s) => /^unconfirmed, last heard/.test(s.description ?? '')), 5000);
      assert.ok(treeSaid);

      await waitForState(api, 'flaky', 'waiting', 15_000);
      const lost = await waitFor('the reconnecting item', () => {
        const i = statusItem(api, 'flaky');
        return i && /reconnecting/.test(i.accessibilityLabel ?? '') ? i : undefined;
      });
      assert.match(lost.accessibilityLabel ?? '', /^SSH host flaky: connection lost, reconnecting \(attempt \d+\)/);
      assert.strictEqual(lost.background, 'warning');
      assert.match(lost.tooltip, /Recent outages/);

      peers.proxy.resume();
      await waitForState(api, 'flaky', 'connected', 20_000);
      const restored = await waitFor('the restored item', () => {
        const i = statusItem(api, 'flaky');
        return i && i.text.startsWith('$(pulse)') ? i : undefined;
      });
      assert.match(restored.accessibilityLabel ?? '', /^SSH host flaky: connected, round trip \d+ milliseconds$/);
      assert.match(restored.tooltip, /Last restore took: /);
      assert.strictEqual(restored.background, undefined);
    } finally {
      clearInterval(watch);
    }
  });

  test('an idle, alive host wakes nothing each second; unconfirmed ticks, its tooltip saying when the server was last heard', async () => {
    // The hosts connected by earlier tests are alive too (none shows a countdown here).
    assert.strictEqual(await vscode.commands.executeCommand<boolean>('sshKeepalive.connect', 'flaky'), true);
    await waitFor('flaky alive', () => statusItem(api, 'flaky')?.text.startsWith('$(pulse)'));
    await waitFor(`the status bar to stop ticking (items: ${JSON.stringify(api.statusBarItems().map((i) => i.text))})`, () => !api.statusBarTicking(), 5000);
    // Each keepalive reply renders the new round trip (an event, not a tick); nothing else changes.
    const withoutRtt = (tip: string) => tip.replace(/(State: connected, |Round trip: )[\d\\.]+ ms/g, '$1N ms');
    const tooltip = statusItem(api, 'flaky')!.tooltip;
    await sleep(2500);
    assert.strictEqual(api.statusBarTicking(), false, 'no one-second timer while alive');
    assert.strictEqual(withoutRtt(statusItem(api, 'flaky')!.tooltip), withoutRtt(tooltip), 'the alive tooltip says only what stays true');
    assert.match(tooltip, /Last heard: less than \d+ s ago \(alive\)/);
    peers.proxy.blackhole();
    const heard = () => /Last heard: \d\d:\d\d:\d\d \((\d+) s ago\)/.exec(statusItem(api, 'flaky')?.tooltip ?? '')?.[1];
    await waitFor('the unconfirmed tooltip', () => heard(), 10_000);
    // Read in the same turn as the tooltip: the render that showed it also started the timer.
    // (Unconfirmed lasts about a second here before the death; the count itself: statusText unit tests.)
    assert.strictEqual(api.statusBarTicking(), true, 'unconfirmed counts on, so the status bar ticks');
  });

  test('Disconnect with a running shell asks first; "Disconnect and Keep Shells" leaves the shell running', async () => {
    assert.strictEqual(await vscode.commands.executeCommand<boolean>('sshKeepalive.connect', 'lab'), true);
    const keepersBefore = new Set(keeperPids(peers.sshd.dir));
    const terminal = await vscode.commands.executeCommand<vscode.Terminal>('sshKeepalive.openTerminal', 'lab');
    assert.ok(terminal);
    await waitFor('the shell on lab to open', () => api.terminalState(terminal)?.kind === 'open', 20_000);
    terminal.sendText('echo "pid-$$"');
    await waitFor('the shell to answer', () => /pid-\d+/.test(api.terminalOutput(terminal) ?? ''));
    const pid = Number(/pid-(\d+)/.exec(api.terminalOutput(terminal) ?? '')![1]);
    let keepers: number[] = [];
    try {
      const cancel = answerModal(api, undefined);
      try {
        assert.strictEqual(await vscode.commands.executeCommand<boolean>('sshKeepalive.disconnect', 'lab'), false);
      } finally {
        cancel.restore();
      }
      assert.strictEqual(cancel.asked.length, 1, 'asked once');
      assert.strictEqual(cancel.asked[0].message, 'Disconnect lab?');
      assert.match(cancel.asked[0].detail, /^1 terminal is open on lab\. Disconnecting closes it and ends its remote shell and every process running in it\./);
      assert.deepStrictEqual(cancel.asked[0].buttons, ['Disconnect', 'Disconnect and Keep Shells']);
      assert.strictEqual(api.hostState('lab')?.kind, 'connected', 'Cancel leaves everything as it was');
      assert.ok(alive(pid));

      const keep = answerModal(api, 'Disconnect and Keep Shells');
      try {
        assert.strictEqual(await vscode.commands.executeCommand<boolean>('sshKeepalive.disconnect', 'lab'), true);
      } finally {
        keep.restore();
      }
      assert.strictEqual(api.hostState('lab'), undefined);
      keepers = keeperPids(peers.sshd.dir).filter((p) => !keepersBefore.has(p));
      await sleep(1000);
      assert.ok(alive(pid), 'the kept shell still runs on the server');
    } finally {
      // Nothing of the test may outlive it: end the kept shell and its keeper.
      for (const p of [pid, ...keepers]) {
        try {
          process.kill(p, 'SIGTERM');
        } catch {
          // already gone
        }
      }
      terminal.dispose();
    }
  });

  test('a host whose forwards come back with Connect is shown open in the Hosts view', async () => {
    assert.strictEqual(await vscode.commands.executeCommand<boolean>('sshKeepalive.connect', 'labfwd'), true);
    const first = await waitFor('labfwd with its forward', () => api.tree().find((n) => n.label === 'labfwd' && n.children.length > 0));
    assert.strictEqual(first.collapsible, 'expanded');
    await disconnect('labfwd');
    assert.strictEqual(api.tree().find((n) => n.label === 'labfwd')?.collapsible, 'none');
    assert.strictEqual(await vscode.commands.executeCommand<boolean>('sshKeepalive.connect', 'labfwd'), true);
    const again = await waitFor('labfwd with its forward again', () => api.tree().find((n) => n.label === 'labfwd' && n.children.length > 0));
    assert.strictEqual(again.collapsible, 'expanded');
    // VS Code keeps a collapsed state by id: a new id is what makes the restored forward show.
    assert.notStrictEqual(again.id, first.id);
    await disconnect('labfwd');
  });

  test('one host connected: Reconnect and Disconnect act on it without a picker', async () => {
    // Everything else off first (answering Disconnect's question, should a terminal be open).
    const modal = answerModal(api, 'Disconnect');
    try {
      for (const node of api.tree()) if (node.label !== 'lab') await disconnect(node.label);
    } finally {
      modal.restore();
    }
    assert.strictEqual(await vscode.commands.executeCommand<boolean>('sshKeepalive.connect', 'lab'), true);
    // No argument: with a picker, the command would wait for an answer nobody gives.
    const noPicker = <T>(what: string, p: Thenable<T>) =>
      Promise.race([p, sleep(15_000).then(() => assert.fail(`${what} did not act on the only host within 15 s (a picker waiting?)`))]);
    assert.strictEqual(await noPicker('Reconnect', vscode.commands.executeCommand<boolean>('sshKeepalive.reconnect')), true);
    assert.strictEqual(api.hostState('lab')?.kind, 'connected');
    await noPicker('Disconnect', vscode.commands.executeCommand('sshKeepalive.disconnect'));
    await waitFor('lab to be disconnected', () => api.hostState('lab') === undefined || api.hostState('lab')?.kind === 'closed', 5000);
  });
});

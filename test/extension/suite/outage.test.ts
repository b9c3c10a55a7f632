import * as assert from 'assert';
import * as vscode from 'vscode';
import type { Peers } from '../startPeers';
import type { SshKeepaliveTestApi } from '../../../src/vscode/testApi';
import { statusItem, usePeers, waitFor, waitForState } from './helpers';

/**
 * `flaky` reaches sshd through the fault proxy, with 1 s keepalives and a count of 2: a
 * blackholed path is declared dead in about 2-3 s.
 */
suite('outages (through the fault proxy)', () => {
  let api: SshKeepaliveTestApi;
  let peers: Peers;

  suiteSetup(async () => {
    ({ api, peers } = await usePeers());
    assert.strictEqual(await vscode.commands.executeCommand<boolean>('sshKeepalive.connect', 'flaky'), true);
  });

  teardown(() => peers.proxy.resume());

  test('a blackholed path: the status bar says it is reconnecting at the real cadence (no 1 s countdown), then shows the host back', async () => {
    const texts = new Set<string>();
    const watch = setInterval(() => {
      const item = statusItem(api, 'flaky');
      if (item) texts.add(`${item.text}|${item.background ?? ''}`);
    }, 50);
    try {
      peers.proxy.blackhole();
      await waitForState(api, 'flaky', 'waiting', 15_000);
      const waiting = await waitFor('the reconnecting text', () => {
        const item = statusItem(api, 'flaky');
        return item && api.hostState('flaky')?.kind === 'waiting' && /^\$\(sync~spin\) flaky$/.test(item.text) ? item : undefined;
      });
      assert.strictEqual(waiting.background, 'warning');
      // Attempts on a dead path take ~1.5 s each: "next attempt in 1 seconds" would be untrue (and bad grammar).
      assert.match(
        waiting.accessibilityLabel ?? '',
        /^SSH host flaky: connection lost, reconnecting \(attempt \d+\)(: .+)?, retrying every (1 second|\d+ seconds)$/,
      );
      assert.match(waiting.tooltip, /Recent outages/);
      assert.match(waiting.tooltip, /no reply to 2 keepalives/);
      assert.strictEqual(api.tree().find((n) => n.label === 'flaky')?.contextValue, 'host.reconnecting');

      peers.proxy.resume();
      await waitForState(api, 'flaky', 'connected', 20_000);
      const back = await waitFor('the pulse text again', () => {
        const item = statusItem(api, 'flaky');
        return item && /^\$\(pulse\) flaky \d+(\.\d)? ms$/.test(item.text) ? item : undefined;
      });
      assert.strictEqual(back.background, undefined);
      assert.match(back.tooltip, /Last restore took/);
      assert.match(back.tooltip, /- \d\d:\d\d:\d\d, [^:]+: no reply to 2 keepalives/, 'the finished outage with its length and cause');
    } finally {
      clearInterval(watch);
    }
    const seen = [...texts].join('\n');
    assert.match(seen, /^\$\(pulse\) flaky .*\|$/m, seen);
    assert.match(seen, /^\$\(sync~spin\) flaky\|warning$/m, seen);
    assert.doesNotMatch(seen, /^\$\(sync~spin\) flaky 1 s\|/m, 'no 1 s countdown while each attempt takes longer');
  });

  test('a reset connection is restored at once', async () => {
    const before = api.hostState('flaky');
    assert.strictEqual(before?.kind, 'connected');
    const started = Date.now();
    peers.proxy.reset();
    // Lost and back within milliseconds on loopback: watch for a new connected state.
    await waitFor(
      'a new connection',
      () => {
        const s = api.hostState('flaky');
        return s !== before && s?.kind === 'connected';
      },
      15_000,
    );
    assert.ok(Date.now() - started < 5000, `restored in ${Date.now() - started} ms`);
  });

  test('Reconnect works at any time: while connected, and while the path is down', async () => {
    const before = api.hostState('flaky');
    assert.strictEqual(before?.kind, 'connected');
    assert.strictEqual(await vscode.commands.executeCommand<boolean>('sshKeepalive.reconnect', 'flaky'), true);
    const after = api.hostState('flaky');
    assert.strictEqual(after?.kind, 'connected');
    assert.notStrictEqual(after, before, 'a new connection');
    assert.match(statusItem(api, 'flaky')!.tooltip, /reconnect requested by the user/);

    peers.proxy.blackhole();
    await waitForState(api, 'flaky', 'waiting', 15_000);
    const reconnected = vscode.commands.executeCommand<boolean>('sshKeepalive.reconnect', 'flaky');
    setTimeout(() => peers.proxy.resume(), 1000);
    assert.strictEqual(await reconnected, true);
    assert.strictEqual(api.hostState('flaky')?.kind, 'connected');
  });

  test('Pause Reconnecting stops the attempts on a host whose path is down; Resume Reconnecting brings it back', async () => {
    assert.strictEqual(api.hostState('flaky')?.kind, 'connected');
    peers.proxy.blackhole();
    await waitForState(api, 'flaky', 'waiting', 15_000);
    assert.strictEqual(await vscode.commands.executeCommand<boolean>('sshKeepalive.pauseReconnecting', 'flaky'), true);
    await waitForState(api, 'flaky', 'failed', 5000);
    const paused = api.hostState('flaky') as { error?: { message?: string } } | undefined;
    assert.match(paused?.error?.message ?? '', /is paused; Resume Reconnecting/);
    // The path heals, but nothing tries while paused.
    peers.proxy.resume();
    await new Promise((r) => setTimeout(r, 3000));
    assert.strictEqual(api.hostState('flaky')?.kind, 'failed', 'still paused after the path healed');
    assert.strictEqual(await vscode.commands.executeCommand<boolean>('sshKeepalive.resumeReconnecting', 'flaky'), true);
    assert.strictEqual(api.hostState('flaky')?.kind, 'connected');
  });
});

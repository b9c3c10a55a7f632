import * as assert from 'assert';
import * as vscode from 'vscode';
import type { Peers } from '../startPeers';
import type { SshKeepaliveTestApi } from '../../../src/vscode/testApi';
import { disconnect, setSetting, statusItem, usePeers, waitFor, waitForState } from './helpers';

suite('connecting', () => {
  let api: SshKeepaliveTestApi;
  let peers: Peers;

  suiteSetup(async () => {
    ({ api, peers } = await usePeers());
  });

  suiteTeardown(async () => {
    await setSetting('autoConnect', undefined);
    await setSetting('keepaliveInterval', undefined);
    for (const alias of ['autolab', 'labfwd']) await disconnect(alias);
  });

  test('Connect to Host... with the alias as argument connects, and the status bar shows the RTT', async () => {
    const ok = await vscode.commands.executeCommand<boolean>('sshKeepalive.connect', 'lab');
    assert.strictEqual(ok, true);
    assert.strictEqual(api.hostState('lab')?.kind, 'connected');
    const item = await waitFor('a status bar item for lab', () => statusItem(api, 'lab'));
    assert.match(item.text, /^\$\(pulse\) lab \d+(\.\d)? ms$/);
    assert.strictEqual(item.background, undefined, 'a fast loopback host must not be coloured');
    assert.strictEqual(item.command, 'sshKeepalive.hostActions');
    assert.match(item.accessibilityLabel ?? '', /^SSH host lab: connected, round trip \d+ milliseconds$/);
    assert.match(item.tooltip, /\*\*lab\*\*/);
    assert.match(item.tooltip, new RegExp(`${peers.sshd.user}@127\\\\\\.0\\\\\\.0\\\\\\.1:${peers.sshd.port}`));
    assert.match(item.tooltip, /Keepalive: every 15 s, dead after 3 missed/);
    assert.match(item.tooltip, /Connected since: /);
    assert.match(item.tooltip, /Last heard: less than \d+ s ago \(alive\)/);
  });

  test('the Hosts view lists every configured host with its state', async () => {
    const tree = api.tree();
    const labels = tree.map((n) => n.label);
    for (const alias of ['lab', 'autolab', 'flaky', 'newkey', 'changedkey', 'labfwd', 'broken'])
      assert.ok(labels.includes(alias), `${alias} missing from ${labels}`);
    const lab = tree.find((n) => n.label === 'lab')!;
    assert.strictEqual(lab.contextValue, 'host.connected');
    assert.match(lab.description ?? '', /^connected, \d+(\.\d)? ms$/);
    const newkey = tree.find((n) => n.label === 'newkey')!;
    assert.strictEqual(newkey.contextValue, 'host.disconnected');
    assert.match(newkey.description ?? '', /not connected/);
  });

  test('connecting twice joins the existing session', async () => {
    const before = api.hostState('lab');
    assert.strictEqual(await vscode.commands.executeCommand<boolean>('sshKeepalive.connect', 'lab'), true);
    assert.strictEqual(api.hostState('lab'), before, 'the session must not have been replaced');
  });

  test('a LocalForward from ssh_config starts with the session', async () => {
    assert.strictEqual(await vscode.commands.executeCommand<boolean>('sshKeepalive.connect', 'labfwd'), true);
    const fwd = await waitFor('the ssh_config forward to be active', () => api.forwards('labfwd').find((f) => f.state === 'active'));
    assert.match(fwd.label, new RegExp(`^-L ${peers.labfwdPort}:127\\.0\\.0\\.1:${peers.httpPort}$`));
    const body = await (await fetch(`http://${fwd.address}/`)).text();
    assert.strictEqual(body, peers.httpBody);
    const node = api.tree().find((n) => n.label === 'labfwd')!;
    assert.ok(
      node.children.some((c) => c.label === fwd.label && c.contextValue === 'forward'),
      JSON.stringify(node.children),
    );
  });

  test('autoConnect connects the hosts it names as soon as the setting changes', async () => {
    assert.strictEqual(api.hostState('autolab'), undefined);
    await setSetting('keepaliveInterval', 7);
    await setSetting('autoConnect', ['autolab']);
    await waitForState(api, 'autolab', 'connected');
    // Our setting is the default for a host without ServerAliveInterval ...
    assert.deepStrictEqual(api.keepalive('autolab'), { intervalMs: 7000, countMax: 3 });
    await waitFor('the autolab status item', () => statusItem(api, 'autolab'));
  });

  test("... and ssh_config's ServerAliveInterval wins over it", async () => {
    assert.strictEqual(await vscode.commands.executeCommand<boolean>('sshKeepalive.connect', 'flaky'), true);
    assert.deepStrictEqual(api.keepalive('flaky'), { intervalMs: 1000, countMax: 2 });
  });

  test('Disconnect closes the session and removes its status bar item', async () => {
    await disconnect('autolab');
    assert.strictEqual(api.hostState('autolab'), undefined);
    assert.strictEqual(statusItem(api, 'autolab'), undefined);
    assert.strictEqual(api.tree().find((n) => n.label === 'autolab')?.contextValue, 'host.disconnected');
  });

  test('more hosts than statusBar.maxItems collapse into one summary item', async () => {
    await setSetting('statusBar.maxItems', 1);
    try {
      const items = await waitFor('one summary item', () => {
        const all = api.statusBarItems();
        return all.length === 1 && all[0].id === 'sshKeepalive.status.all' ? all : undefined;
      });
      assert.match(items[0].text, /^\$\(pulse\) \d+\/\d+ hosts$/);
      assert.match(items[0].tooltip, /- lab: connected/);
    } finally {
      await setSetting('statusBar.maxItems', undefined);
    }
    await waitFor('per-host items again', () => statusItem(api, 'lab'));
  });
});

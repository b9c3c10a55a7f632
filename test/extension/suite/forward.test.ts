import * as assert from 'assert';
import * as vscode from 'vscode';
import type { ForwardInfo } from '../../../src/vscode/forwardCommands';
import type { SshKeepaliveTestApi } from '../../../src/vscode/testApi';
import type { Peers } from '../startPeers';
import { disconnect, fetchText, usePeers, waitFor } from './helpers';

suite('port forwards', () => {
  let api: SshKeepaliveTestApi;
  let peers: Peers;

  suiteSetup(async () => {
    ({ api, peers } = await usePeers());
    assert.strictEqual(await vscode.commands.executeCommand<boolean>('sshKeepalive.connect', 'lab'), true);
  });

  test('a local forward added by command carries HTTP traffic', async () => {
    const info = await vscode.commands.executeCommand<ForwardInfo>('sshKeepalive.addForward', {
      alias: 'lab',
      kind: 'local',
      spec: `0:127.0.0.1:${peers.httpPort}`,
    });
    assert.ok(info, 'addForward returned nothing');
    assert.strictEqual(info.state, 'active', JSON.stringify(info));
    assert.match(info.address ?? '', /^127\.0\.0\.1:\d+$/);
    assert.strictEqual(await fetchText(info.address!), peers.httpBody);
    assert.strictEqual(await fetchText(info.address!), peers.httpBody);

    const listed = api.forwards('lab').find((f) => f.id === info.id);
    assert.ok(listed, 'the forward is listed');
    const node = api.tree().find((n) => n.label === 'lab')!;
    const item = await waitFor('the forward in the tree with its counters', () => {
      const n = api.tree().find((x) => x.label === 'lab')!;
      return n.children.find((c) => c.label === info.label && /active · .*2 total/.test(c.description ?? ''));
    });
    assert.strictEqual(item.contextValue, 'forward', JSON.stringify(node));
    assert.match(item.description ?? '', /in · .* out/);

    const copied = await vscode.commands.executeCommand<string>('sshKeepalive.copyForwardAddress', { alias: 'lab', id: info.id });
    assert.strictEqual(copied, info.address);

    assert.strictEqual(await vscode.commands.executeCommand<boolean>('sshKeepalive.stopForward', { alias: 'lab', id: info.id }), true);
    assert.strictEqual(
      api.forwards('lab').find((f) => f.id === info.id),
      undefined,
    );
    await assert.rejects(fetchText(info.address!), 'nothing listens there any more');
  });

  test('a remote forward reaches a port on this machine from the server', async () => {
    const info = await vscode.commands.executeCommand<ForwardInfo>('sshKeepalive.addForward', 'lab', 'remote', `0:127.0.0.1:${peers.httpPort}`);
    assert.ok(info);
    const active = await waitFor('the remote forward to be active', () =>
      api.forwards('lab').find((f) => f.id === info.id && f.state === 'active' && f.address),
    );
    // The server listens on its loopback, which here is this machine's.
    const port = active.address!.split(':').pop();
    assert.strictEqual(await fetchText(`127.0.0.1:${port}`), peers.httpBody);
    await vscode.commands.executeCommand('sshKeepalive.stopForward', { alias: 'lab', id: info.id });
  });

  test('a malformed spec is refused with a clear message and nothing is added', async () => {
    const before = api.reportedErrors.length;
    const count = api.forwards('lab').length;
    const info = await vscode.commands.executeCommand<ForwardInfo | undefined>('sshKeepalive.addForward', {
      alias: 'lab',
      kind: 'local',
      spec: '8080:localhost',
    });
    assert.strictEqual(info, undefined);
    const reported = api.reportedErrors.slice(before);
    assert.strictEqual(reported.length, 1);
    assert.match(reported[0].message, /invalid local forward "8080:localhost".*\[bind_address:\]port:host:hostport/);
    assert.strictEqual(api.forwards('lab').length, count);
  });

  test('a forward added in the UI comes back with the next session (workspaceState)', async () => {
    const info = await vscode.commands.executeCommand<ForwardInfo>('sshKeepalive.addForward', { alias: 'lab', kind: 'dynamic', spec: '0' });
    assert.ok(info);
    assert.match(info.label, /^-D 0$/);
    await disconnect('lab');
    assert.deepStrictEqual(api.forwards('lab'), []);
    assert.strictEqual(await vscode.commands.executeCommand<boolean>('sshKeepalive.connect', 'lab'), true);
    await waitFor('the remembered forward to be back', () => api.forwards('lab').find((f) => f.label === info.label));
    // Stopping it forgets it for this workspace.
    await vscode.commands.executeCommand('sshKeepalive.stopForward', { alias: 'lab', id: info.id });
    await disconnect('lab');
    assert.strictEqual(await vscode.commands.executeCommand<boolean>('sshKeepalive.connect', 'lab'), true);
    assert.deepStrictEqual(
      api.forwards('lab').map((f) => f.label),
      [],
    );
  });
});

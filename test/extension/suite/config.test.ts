import * as assert from 'assert';
import * as vscode from 'vscode';
import type { SshKeepaliveTestApi } from '../../../src/vscode/testApi';
import type { Peers } from '../startPeers';
import { EXTENSION_ID, setSetting, usePeers, waitFor } from './helpers';

suite('a bad ssh_config', () => {
  let api: SshKeepaliveTestApi;
  let peers: Peers;

  suiteSetup(async () => {
    ({ api, peers } = await usePeers());
  });

  suiteTeardown(async () => {
    await setSetting('configFile', peers.configFile);
  });

  test('a bad value: a clear error naming file and line, no session, no crash', async () => {
    const before = api.reportedErrors.length;
    await vscode.commands.executeCommand('sshKeepalive.connect', 'broken');
    const reported = api.reportedErrors.slice(before);
    assert.strictEqual(reported.length, 1, JSON.stringify(reported));
    assert.ok(reported[0].message.includes(`${peers.configFile}:`), reported[0].message);
    assert.match(reported[0].message, /bad Port value "notaport"/);
    assert.deepStrictEqual(reported[0].actions, ['Open ssh_config', 'Show Log']);
    assert.strictEqual(api.hostState('broken'), undefined);
    assert.ok(vscode.extensions.getExtension(EXTENSION_ID)?.isActive);
  });

  test('an unparsable file: the view says so, connecting reports it, and the extension follows a fixed setting', async () => {
    await setSetting('configFile', peers.unparsableConfigFile);
    await waitFor('the host list to be empty', () => !api.tree().some((n) => n.label === 'newkey'));
    const before = api.reportedErrors.length;
    await vscode.commands.executeCommand('sshKeepalive.connect', 'oops');
    const reported = api.reportedErrors.slice(before);
    assert.strictEqual(reported.length, 1);
    assert.match(reported[0].message, /ssh_config problem for oops: .*ssh_config_unparsable:2: cannot parse/);
    // Everything still works; going back to a good file needs no reload.
    await vscode.commands.executeCommand('sshKeepalive.showLog');
    await setSetting('configFile', peers.configFile);
    await waitFor('the hosts to be back', () => api.tree().some((n) => n.label === 'newkey'));
  });
});

import * as assert from 'assert';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as vscode from 'vscode';
import type { SshKeepaliveTestApi } from '../../../src/vscode/testApi';
import type { Peers } from '../startPeers';
import { disconnect, usePeers } from './helpers';

interface Asked {
  message: string;
  detail: string;
  buttons: string[];
}

suite('host keys', () => {
  let api: SshKeepaliveTestApi;
  let peers: Peers;
  let asked: Asked[];

  /** The modal cannot be clicked through the API: the prompter's test seam answers it. */
  function answerHostKey(answer: 'accept' | 'decline'): void {
    asked = [];
    api.setPromptUi({
      modalWarning: async (message, detail, ...buttons) => {
        asked.push({ message, detail, buttons });
        return answer === 'accept' ? buttons[0] : undefined;
      },
    });
  }

  function fingerprint(): string {
    const blob = Buffer.from(peers.sshd.hostKeyPublicLine.split(' ')[1], 'base64');
    return 'SHA256:' + crypto.createHash('sha256').update(blob).digest('base64').replace(/=+$/, '');
  }

  suiteSetup(async () => {
    ({ api, peers } = await usePeers());
  });

  teardown(async () => {
    api.setPromptUi(undefined);
    for (const alias of ['newkey', 'changedkey']) await disconnect(alias);
  });

  test('unknown host key, declined: not connected, nothing written, told once', async () => {
    fs.writeFileSync(peers.newKeyKnownHosts, '');
    answerHostKey('decline');
    const before = api.reportedErrors.length;
    assert.strictEqual(await vscode.commands.executeCommand<boolean>('sshKeepalive.connect', 'newkey'), false);
    assert.strictEqual(asked.length, 1, 'asked exactly once');
    assert.match(asked[0].message, new RegExp(`authenticity of host \\[127\\.0\\.0\\.1\\]:${peers.sshd.port} can't be established`));
    assert.ok(asked[0].detail.includes(fingerprint()), `the SHA256 fingerprint is shown: ${asked[0].detail}`);
    assert.ok(asked[0].detail.includes(peers.newKeyKnownHosts), 'says which file the key goes to');
    assert.deepStrictEqual(asked[0].buttons, ['Accept and Connect']);
    const state = api.hostState('newkey');
    assert.ok(state?.kind === 'failed' && state.error.code === 'host-key-unknown', JSON.stringify(state));
    assert.strictEqual(fs.readFileSync(peers.newKeyKnownHosts, 'utf8'), '');
    const reported = api.reportedErrors.slice(before);
    assert.strictEqual(reported.length, 1);
    assert.match(reported[0].message, /was not accepted/);

    // Asking again retries the failed session (no background retry ever did).
    answerHostKey('accept');
    assert.strictEqual(await vscode.commands.executeCommand<boolean>('sshKeepalive.connect', 'newkey'), true);
    assert.strictEqual(asked.length, 1);
  });

  test('unknown host key, accepted: connected and added to known_hosts; not asked again', async () => {
    fs.writeFileSync(peers.newKeyKnownHosts, '');
    answerHostKey('accept');
    assert.strictEqual(await vscode.commands.executeCommand<boolean>('sshKeepalive.connect', 'newkey'), true);
    assert.strictEqual(asked.length, 1);
    const written = fs.readFileSync(peers.newKeyKnownHosts, 'utf8');
    assert.strictEqual(written.trim(), peers.hostKeyLine(peers.sshd.port));
    await disconnect('newkey');
    assert.strictEqual(await vscode.commands.executeCommand<boolean>('sshKeepalive.connect', 'newkey'), true);
    assert.strictEqual(asked.length, 1, 'the key is known now');
  });

  test('changed host key: refused without any prompt, the error names file and line', async () => {
    answerHostKey('accept'); // would accept if it were ever asked: it must not be
    const before = api.reportedErrors.length;
    assert.strictEqual(await vscode.commands.executeCommand<boolean>('sshKeepalive.connect', 'changedkey'), false);
    assert.strictEqual(asked.length, 0, 'no prompt for a changed key');
    const state = api.hostState('changedkey');
    assert.ok(state?.kind === 'failed' && state.error.code === 'host-key-changed', JSON.stringify(state));
    const reported = api.reportedErrors.slice(before);
    assert.strictEqual(reported.length, 1, 'told exactly once');
    assert.ok(reported[0].message.includes(`${peers.changedKeyKnownHosts}:2`), reported[0].message);
    assert.match(reported[0].message, /REMOTE HOST IDENTIFICATION HAS CHANGED/);
    assert.ok(!reported[0].actions.some((a) => /accept|trust|connect/i.test(a)), `no accepting action: ${reported[0].actions}`);
    assert.deepStrictEqual(reported[0].actions, ['Open known_hosts', 'Show Log']);
    assert.ok(!fs.readFileSync(peers.changedKeyKnownHosts, 'utf8').includes(peers.sshd.hostKeyPublicLine), 'the new key was not written');
  });
});

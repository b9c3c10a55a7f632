import * as assert from 'assert';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import type { SshKeepaliveTestApi } from '../../../src/vscode/testApi';
import type { Peers } from '../startPeers';
import { disconnect, usePeers } from './helpers';

/** Regular files under `dir`, symlinks not followed; none when it does not exist. */
function filesUnder(dir: string): string[] {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  return entries.flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? filesUnder(p) : e.isFile() ? [p] : [];
  });
}

suite('passphrases', () => {
  let api: SshKeepaliveTestApi;
  let peers: Peers;
  let boxes: Array<{ prompt?: string; password?: boolean; ignoreFocusOut?: boolean }>;
  let offers: string[];

  function answer(passphrase: string | undefined, rememberIt: boolean): void {
    boxes = [];
    offers = [];
    api.setPromptUi({
      inputBox: async (o) => {
        boxes.push({ prompt: o.prompt, password: o.password, ignoreFocusOut: o.ignoreFocusOut });
        return passphrase;
      },
      ask: async (message, ...buttons) => {
        offers.push(message);
        return rememberIt ? buttons[0] : buttons[1];
      },
    });
  }

  /**
   * The remembered passphrase is used (so it lives somewhere), yet it is in neither Memento nor
   * any file of the extension's storage folders or this window's logs (its output channel's
   * file among them): SecretStorage is the only place left.
   */
  function assertOnlyInSecretStorage(secret: string): void {
    const stored = api.storedOutsideSecrets();
    assert.ok(!JSON.stringify(stored.globalState).includes(secret), 'not in globalState');
    assert.ok(!JSON.stringify(stored.workspaceState).includes(secret), 'not in workspaceState');
    const files = stored.dirs.flatMap(filesUnder);
    assert.ok(
      files.some((f) => /SSH Keepalive/.test(f)),
      `the output channel's file is among those searched: ${files.join(', ')}`,
    );
    for (const f of files) {
      assert.ok(!fs.readFileSync(f).toString('latin1').includes(secret), `the passphrase is in ${f}`);
    }
  }

  suiteSetup(async () => {
    ({ api, peers } = await usePeers());
  });

  teardown(async () => {
    api.setPromptUi(undefined);
    await disconnect('locked');
  });

  test('asked in a password box; offered to remember; remembered one used next time', async () => {
    answer(peers.sshd.passphrase, true);
    assert.strictEqual(await vscode.commands.executeCommand<boolean>('sshKeepalive.connect', 'locked'), true);
    assert.strictEqual(boxes.length, 1);
    assert.ok(boxes[0].prompt?.includes(peers.lockedKeyPath), boxes[0].prompt);
    assert.strictEqual(boxes[0].password, true, 'secrets are typed into a password box');
    assert.strictEqual(boxes[0].ignoreFocusOut, true);
    await new Promise((r) => setTimeout(r, 200)); // the offer is not awaited by the connect
    assert.strictEqual(offers.length, 1);
    assert.match(offers[0], /Remember the passphrase/);

    await disconnect('locked');
    answer(undefined, false);
    assert.strictEqual(await vscode.commands.executeCommand<boolean>('sshKeepalive.connect', 'locked'), true);
    assert.strictEqual(boxes.length, 0, 'the remembered passphrase was used');
    assertOnlyInSecretStorage(peers.sshd.passphrase);
  });

  test('a remembered passphrase that no longer opens the key is forgotten and the user asked', async () => {
    // The key gets a new passphrase: the remembered one is now wrong.
    const fresh = 'a new passphrase 42';
    execFileSync('ssh-keygen', ['-q', '-p', '-P', peers.sshd.passphrase, '-N', fresh, '-f', peers.lockedKeyPath]);
    try {
      answer(fresh, false);
      assert.strictEqual(await vscode.commands.executeCommand<boolean>('sshKeepalive.connect', 'locked'), true);
      assert.strictEqual(boxes.length, 1, 'asked, since the remembered passphrase was wrong');
      await new Promise((r) => setTimeout(r, 200));
      await disconnect('locked');
      answer(fresh, false);
      assert.strictEqual(await vscode.commands.executeCommand<boolean>('sshKeepalive.connect', 'locked'), true);
      assert.strictEqual(boxes.length, 1, 'the wrong one was deleted, and the new one not remembered (declined)');
    } finally {
      execFileSync('ssh-keygen', ['-q', '-p', '-P', fresh, '-N', peers.sshd.passphrase, '-f', peers.lockedKeyPath]);
    }
  });
});

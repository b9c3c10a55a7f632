// Runs last (files are loaded in name order): leaves this workbench as the final screenshot
// should show it, and takes a screenshot of a live workbench (see ../liveScreenshot.ts for
// why the runner's own picture, taken after the extension host stopped, cannot show it).
import * as assert from 'assert';
import * as path from 'path';
import * as vscode from 'vscode';
import type { ForwardInfo } from '../../../src/vscode/forwardCommands';
import { codeServerAuthority, screenshotLiveWorkbench } from '../liveScreenshot';
import { setSetting, sleep, statusItem, usePeers, waitFor } from './helpers';

const REPO_ROOT = path.resolve(__dirname, '..', '..', '..', '..');
export const LIVE_SHOT = path.join(REPO_ROOT, 'test-output', 'extension', 'workbench-live.png');

suite('final state', () => {
  test('a connected host shows in the status bar and the Hosts view', async () => {
    const { api, peers } = await usePeers();
    peers.proxy.resume();
    for (const alias of ['lab', 'flaky', 'labfwd']) assert.strictEqual(await vscode.commands.executeCommand<boolean>('sshKeepalive.connect', alias), true);
    await vscode.commands.executeCommand<ForwardInfo>('sshKeepalive.addForward', { alias: 'lab', kind: 'local', spec: `0:127.0.0.1:${peers.httpPort}` });
    await vscode.commands.executeCommand('notifications.clearAll');
    await vscode.commands.executeCommand('workbench.action.closePanel');
    await vscode.commands.executeCommand('workbench.view.extension.sshKeepalive');
    await waitFor('lab in the status bar', () => /^\$\(pulse\) lab /.test(statusItem(api, 'lab')?.text ?? ''));
    await sleep(1000);
    // The runner photographs this very workbench on this marker (test-output/extension/workbench-connected.png).
    console.log('[ska-screenshot] workbench-connected');
    await sleep(3000);
  });

  test('a live workbench, photographed while connected (test-output/extension/workbench-live.png)', async function () {
    this.timeout(120_000);
    const folder = vscode.workspace.workspaceFolders?.[0]?.uri;
    const authority = codeServerAuthority();
    if (!folder || !authority || process.env.SSHKA_TEST_HARNESS !== 'code-server') {
      this.skip(); // only code-server serves a second window to a browser
      return;
    }
    // The new window reads the same user settings: it connects these hosts by itself.
    await setSetting('autoConnect', ['lab', 'flaky', 'labfwd']);
    await screenshotLiveWorkbench({
      authority,
      folder: folder.fsPath,
      extensionPath: REPO_ROOT,
      file: LIVE_SHOT,
      ready: async (page) => {
        const lab = page.getByRole('button', { name: /^SSH host lab: connected/ }).first();
        await lab.waitFor({ timeout: 60_000 });
        await page
          .getByRole('treeitem', { name: /labfwd/ })
          .first()
          .waitFor({ timeout: 30_000 });
        await page
          .getByRole('treeitem', { name: /-L \d+:127\.0\.0\.1/ })
          .first()
          .waitFor({ timeout: 30_000 });
        await page.waitForTimeout(2000); // RTTs in, spinners settled
        // The status item's tooltip (state, RTT, last contact, keepalive, uptime) in the picture too.
        await lab.hover();
        await page.locator('.monaco-hover').filter({ hasText: 'Keepalive' }).first().waitFor({ timeout: 10_000 });
        await page.waitForTimeout(500);
      },
    });
    console.log(`live workbench screenshot: ${path.relative(REPO_ROOT, LIVE_SHOT)}`);
  });
});

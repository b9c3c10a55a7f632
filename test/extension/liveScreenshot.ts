/**
 * A screenshot of a LIVE workbench, taken from inside the extension host.
 *
 * Why this exists: the runner (test/extension/run.ts) takes its screenshot after the
 * suite reported its exit code, and the web workbench stops every extension host before it
 * calls codeAutomationExit (code-server 4.100: `await stopAllInReverse(); codeAutomationExit()`),
 * so that picture never shows an extension's status bar items or views. Here a second
 * headless Chromium opens the same code-server as a development window of this extension;
 * that window connects the hosts of sshKeepalive.autoConnect (user settings are shared)
 * and is photographed with its status bar and Hosts view, while everything is running.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Page } from 'playwright-core';
import { openBrowser } from '../../tools/peers/browser';

export interface LiveShotOptions {
  /** "127.0.0.1:PORT" of code-server (the authority of the test window's workspace). */
  authority: string;
  /** Absolute path of the workspace folder on the server. */
  folder: string;
  /** Absolute path of the extension under development (the repository). */
  extensionPath: string;
  file: string;
  /** Waits until the page shows what the picture is for (after the view is opened); may hover something. */
  ready: (page: Page) => Promise<void>;
}

/**
 * code-server's "host:port", from the --bind-addr of an ancestor process: the extension
 * host is code-server's child and sees its workspace as plain file: URIs, with no address.
 */
export function codeServerAuthority(): string | undefined {
  let pid = process.ppid;
  for (let depth = 0; pid > 1 && depth < 6; depth++) {
    try {
      const args = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      const at = args.indexOf('--bind-addr');
      if (at >= 0 && args[at + 1]) return args[at + 1];
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      pid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    } catch {
      return undefined;
    }
  }
  return undefined;
}

export async function screenshotLiveWorkbench(o: LiveShotOptions): Promise<void> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sshka-live-shot-'));
  const browser = await openBrowser(tmp);
  try {
    const { page } = browser;
    const remote = (p: string) => `vscode-remote://${o.authority}${p.split(path.sep).map(encodeURIComponent).join('/')}`;
    const payload = [
      ['extensionDevelopmentPath', remote(o.extensionPath)],
      ['skipWelcome', 'true'],
    ];
    const url = `http://${o.authority}/?folder=${encodeURIComponent(o.folder)}&payload=${encodeURIComponent(JSON.stringify(payload))}`;
    await page.goto(url, { waitUntil: 'domcontentloaded', timeout: 60_000 });
    const activity = page.locator('.activitybar [aria-label^="SSH Keepalive"]').first();
    await activity.waitFor({ timeout: 60_000 });
    await activity.click();
    await page.mouse.move(800, 600); // away from the activity bar's own hover
    await o.ready(page);
    fs.mkdirSync(path.dirname(o.file), { recursive: true });
    await page.screenshot({ path: o.file });
  } finally {
    await browser.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

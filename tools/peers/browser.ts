/**
 * Headless Debian Chromium driven by playwright-core, for the extension tests, the e2e story and
 * its pictures: one 1280x800 page, no sandbox, GPU or background traffic, its config and cache
 * in a temp folder. With `netns`, Chromium runs inside that network namespace (to reach a
 * code-server listening on the namespace's loopback) through a wrapper script: playwright talks
 * to Chromium over a pipe, which `ip netns exec` passes on.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';

export interface BrowserSession {
  readonly page: Page;
  close(): Promise<void>;
}

/** The browser executable: SSHKA_CHROMIUM, else Debian's chromium. */
function chromiumPath(): string {
  const candidates = [process.env.SSHKA_CHROMIUM, '/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'];
  const found = candidates.find((c): c is string => !!c && fs.existsSync(c));
  if (!found) throw new Error('no chromium found (apt-get install chromium, or set SSHKA_CHROMIUM)');
  return found;
}

const chromiumArgs = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-dev-shm-usage',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-quic',
  '--no-first-run',
];

export async function openBrowser(tmpDir: string, netns?: string): Promise<BrowserSession> {
  let executablePath = chromiumPath();
  if (netns) {
    const wrapper = path.join(tmpDir, 'chromium-in-netns.sh');
    fs.writeFileSync(wrapper, `#!/bin/sh\nexec ip netns exec ${netns} ${executablePath} "$@"\n`, { mode: 0o755 });
    executablePath = wrapper;
  }
  const browser: Browser = await chromium.launch({
    executablePath,
    headless: true,
    // Keeps Chromium's crashpad/config out of ~/.config and ~/.cache.
    env: { ...process.env, XDG_CONFIG_HOME: path.join(tmpDir, 'xdg-config'), XDG_CACHE_HOME: path.join(tmpDir, 'xdg-cache') },
    args: chromiumArgs,
  });
  try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    let closed: Promise<void> | undefined;
    return {
      page,
      close: () =>
        (closed ??= (async () => {
          // close() ends the browser process (the wrapper exec()s Chromium: one pid).
          let timer: NodeJS.Timeout | undefined;
          await Promise.race([browser.close().catch(() => undefined), new Promise((r) => (timer = setTimeout(r, 10_000)))]);
          clearTimeout(timer);
        })()),
    };
  } catch (err) {
    await browser.close().catch(() => undefined);
    throw err;
  }
}

/**
 * Checks `npm run demo` as a person would use it: starts `node out/demo/vscodeDemo.js` (run
 * `npm run package` and `npm run compile-tests` first), opens the printed address in headless
 * Chromium, waits for "demo NN ms" in the status bar, opens a remote terminal, runs
 * "SSH Keepalive: Simulate NAT Drop" from the palette, types in the terminal and waits for the
 * loss and the recovery; then sends SIGINT and checks that no process of the demo is left.
 * Screenshots go to test-output/e2e/demo-*.png.
 *
 *   node out/test/e2e/demoSmoke.js
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { openBrowser, type BrowserSession } from '../../tools/peers/browser';
import { lossSeen, openWorkbench, pickItem, recordLoss, runCommand, typeInTerminal, waitForConnected, waitForLoss, waitForTerminal } from './workbench';

const repo = path.join(__dirname, '..', '..', '..');
const shots = path.join(repo, 'test-output', 'e2e');

function processesMatching(needle: string): string[] {
  const out: string[] = [];
  for (const pid of fs.readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    try {
      const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'latin1').replace(/\0/g, ' ');
      if (cmd.includes(needle)) out.push(`${pid} ${cmd.slice(0, 160)}`);
    } catch {
      // gone
    }
  }
  return out;
}

async function main(): Promise<number> {
  fs.mkdirSync(shots, { recursive: true });
  const demo = spawn(process.execPath, [path.join(repo, 'out', 'demo', 'vscodeDemo.js')], { cwd: repo, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  demo.stdout.on('data', (b: Buffer) => (output += b.toString()));
  demo.stderr.on('data', (b: Buffer) => (output += b.toString()));
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sshka-demo-smoke-'));
  let browser: BrowserSession | undefined;
  let failed = '';
  try {
    const deadline = Date.now() + 120_000;
    let url: string | undefined;
    while (!(url = /http:\/\/127\.0\.0\.1:\d+\/\?folder=\S+/.exec(output)?.[0])) {
      if (demo.exitCode !== null || Date.now() > deadline) throw new Error(`the demo printed no address:\n${output}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    console.log(`demo address: ${url}`);
    browser = await openBrowser(tmp);
    const page = browser.page;
    await openWorkbench(page, url);
    const status = await waitForConnected(page, 'demo', 30_000);
    console.log(`status bar: "${status.text}" (${status.label})`);
    await page.screenshot({ path: path.join(shots, 'demo-1-connected.png') });

    await runCommand(page, 'SSH Keepalive: Open Remote Terminal');
    await pickItem(page, 'Host to open a terminal on', 'demo');
    await waitForTerminal(page, /[#$]$/, 20_000);
    await typeInTerminal(page, 'export V=demo-$RANDOM; echo $V');
    const v = (await waitForTerminal(page, /^(demo-\d+)$/, 10_000))[1];
    console.log(`terminal: ${v}`);

    const mark = await recordLoss(page, 'demo');
    await runCommand(page, 'SSH Keepalive: Simulate NAT Drop');
    await page.locator('.notifications-toasts', { hasText: 'the NAT forgot every flow' }).waitFor({ state: 'visible', timeout: 10_000 });
    await page.screenshot({ path: path.join(shots, 'demo-2-nat-dropped.png') });
    const dropped = Date.now();
    // A key in the terminal is a user action: the quiet path is probed and found dead at once.
    await typeInTerminal(page, '');
    await waitForLoss(page, 'demo', mark, 20_000);
    await waitForConnected(page, 'demo', 30_000);
    // Typed once, as a person would: the session keeper delivers it to the same shell.
    await typeInTerminal(page, 'echo "after the drop: $V"');
    await waitForTerminal(page, new RegExp(`^after the drop: ${v}$`), 20_000);
    console.log(`loss seen: ${JSON.stringify(await lossSeen(page, mark))}; recovered ${Date.now() - dropped} ms after the drop; terminal still has V=${v}`);
    await page.screenshot({ path: path.join(shots, 'demo-3-recovered.png') });
  } catch (err) {
    failed = (err as Error).stack ?? String(err);
    await browser?.page.screenshot({ path: path.join(shots, 'demo-failure.png') }).catch(() => undefined);
  } finally {
    await browser?.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  }

  // Ctrl-C: the demo must stop everything it started.
  const exited = new Promise<number | null>((r) => demo.once('exit', (code) => r(code)));
  demo.kill('SIGINT');
  let timer: NodeJS.Timeout | undefined;
  const code = await Promise.race([exited, new Promise<string>((r) => (timer = setTimeout(() => r('timeout'), 20_000)))]);
  clearTimeout(timer);
  if (code === 'timeout') {
    demo.kill('SIGKILL');
    failed ||= 'the demo did not exit within 20 s of SIGINT';
  }
  const profile = /demo profile (\S+)/.exec(output)?.[1];
  const left = [...(profile ? processesMatching(profile) : []), ...processesMatching(`sshk-sshd-${demo.pid}-`)];
  console.log(`demo exit code after SIGINT: ${String(code)}; processes left: ${left.length ? `\n  ${left.join('\n  ')}` : 'none'}`);
  if (left.length) failed ||= 'processes of the demo are still running';
  console.log('--- demo output ---\n' + output.trimEnd());
  if (failed) console.error(`FAIL: ${failed}`);
  console.log(failed ? '0 passed, 1 failed' : '1 passed, 0 failed');
  return failed ? 1 : 0;
}

void main().then((c) => process.exit(c));

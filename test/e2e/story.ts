/**
 * The whole user story in a real VS Code (code-server 4.100.x) with the PACKAGED .vsix
 * installed, driven through the UI only (keyboard, mouse, DOM) in headless Chromium:
 *   connected -> terminal -> echo -> router reboot while idle: unconfirmed (no user action) ->
 *   restored (the terminal's note, the same shell) -> forward -> NAT reboot (a line typed at
 *   once) -> recovered -> kept (the line ran once) -> forward again
 * One line per step with its timing, the total, then "N passed, N failed" (steps as tests).
 * Screenshots: test-output/e2e/NN-step.png.
 *
 * Needs `npm run build`, `npm run compile-tests`, `npm run package` first.
 * Env: SSHKA_E2E_NAT = natlab | flaky | auto (default: natlab where it works, else flaky;
 *      under CI=true a missing natlab or sshd fails instead).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { openBrowser } from '../../tools/peers/browser';
import { ensureCodeServer, installVsix, makeProfile, startCodeServer } from '../../tools/peers/codeServer';
import { natlabAvailable } from '../../tools/peers/natlab';
import { defaultVsix, repoRoot } from '../../tools/peers/repo';
import { freePort, sshdAvailability } from '../../tools/peers/sshd';
import { runSteps, type Step } from './steps';
import { startFlakyNet, startNatlabNet, type StoryNet } from './storyNet';
import { storyKeepalive, storySteps } from './storySteps';

const outDir = path.join(repoRoot, 'test-output', 'e2e');
const ci = process.env.CI === 'true';
const alias = 'lab';
const overallTimeoutMs = 170_000;

const cleanups: (() => Promise<void> | void)[] = [];
let cleaning: Promise<void> | undefined;
function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    for (const c of cleanups.splice(0).reverse()) {
      try {
        await c();
      } catch (err) {
        console.error(`cleanup: ${(err as Error).message}`);
      }
    }
  })();
  return cleaning;
}

function chooseMode(): 'natlab' | 'flaky' {
  const want = (process.env.SSHKA_E2E_NAT ?? 'auto').toLowerCase();
  if (want === 'flaky') return 'flaky';
  const lab = natlabAvailable();
  if (want === 'natlab' || ci) {
    if (!lab.ok) throw new Error(`natlab unavailable${ci ? ' under CI' : ''}: ${lab.reason}`);
    return 'natlab';
  }
  if (want !== 'auto') throw new Error(`SSHKA_E2E_NAT must be natlab, flaky or auto (got ${want})`);
  if (!lab.ok) console.log(`# natlab unavailable (${lab.reason}); using the userland flaky NAT`);
  return lab.ok ? 'natlab' : 'flaky';
}

/**
 * Copies the extension's output channel and the extension host's log out of the profile into
 * test-output/e2e, so that a failed step can be read next to what the extension did.
 */
function saveExtensionLogs(userData: string): void {
  const logs = path.join(userData, 'logs');
  if (!fs.existsSync(logs)) return;
  for (const entry of fs.readdirSync(logs, { recursive: true, encoding: 'utf8' })) {
    const name = path.basename(entry);
    if (!/SSH Keepalive\.log$|^exthost\.log$/.test(name)) continue;
    fs.copyFileSync(path.join(logs, entry), path.join(outDir, name.replace(/^\d+-/, '').replace(/ /g, '-')));
  }
}

async function main(): Promise<number> {
  const sshd = sshdAvailability();
  if (!sshd.ok) {
    if (ci) throw new Error(`sshd unavailable under CI: ${sshd.reason}`);
    console.log(`# SKIP the e2e story: ${sshd.reason} (sudo apt-get install openssh-server)`);
    console.log('0 passed, 0 failed, 10 skipped');
    return 0;
  }
  const mode = chooseMode();
  fs.mkdirSync(outDir, { recursive: true });
  for (const f of fs.readdirSync(outDir)) if (/^\d\d-.*\.png$|\.log$/.test(f)) fs.rmSync(path.join(outDir, f));
  const started = Date.now();
  ensureCodeServer();

  const net: StoryNet = mode === 'natlab' ? await startNatlabNet(alias) : await startFlakyNet(alias);
  cleanups.push(() => net.stop());
  console.log(`# NAT: ${net.description}`);

  const profile = makeProfile(
    'sshka-e2e-',
    {
      'sshKeepalive.configFile': net.configFile,
      'sshKeepalive.autoConnect': [alias],
      'sshKeepalive.keepaliveInterval': storyKeepalive.intervalS,
      'sshKeepalive.keepaliveCountMax': storyKeepalive.countMax,
      'sshKeepalive.reconnect.maxDelay': 5,
    },
    '# SSH Keepalive e2e story\n',
  );
  cleanups.push(() => profile.remove());
  // Runs before the profile is removed (cleanups run in reverse): what the extension logged.
  cleanups.push(() => saveExtensionLogs(profile.userData));
  installVsix(profile, defaultVsix);
  // Inside a fresh namespace every port is free; on the host, ask for one.
  const port = net.clientNs ? 8080 : await freePort();
  const server = await startCodeServer({ profile, port, netns: net.clientNs, logFile: path.join(outDir, 'code-server.log') });
  cleanups.push(() => server.stop());
  const browser = await openBrowser(profile.root, net.clientNs);
  cleanups.push(() => browser.close());
  console.log(
    `# code-server ${server.url}${net.clientNs ? ` in ${net.clientNs}` : ''}; packaged ${path.relative(repoRoot, defaultVsix)}; setup ${Date.now() - started} ms`,
  );

  const steps: Step[] = storySteps({ page: browser.page, net, url: server.url, alias });
  const { passed, failed } = await runSteps(steps, browser.page, outDir);
  console.log(`# total ${((Date.now() - started) / 1000).toFixed(1)} s (${mode})`);
  console.log(`${passed} passed, ${failed} failed`);
  return failed === 0 ? 0 : 1;
}

for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(sig, () => void cleanup().then(() => process.exit(130)));
}
const watchdog = setTimeout(() => {
  console.error(`# the story did not finish within ${overallTimeoutMs / 1000} s`);
  console.log('0 passed, 1 failed');
  void cleanup().then(() => process.exit(1));
}, overallTimeoutMs);

void main()
  .catch((err: Error) => {
    console.error(`# e2e setup failed: ${err.stack ?? err.message}`);
    console.log('0 passed, 1 failed');
    return 1;
  })
  .then(async (code) => {
    clearTimeout(watchdog);
    await cleanup();
    process.exit(code);
  });

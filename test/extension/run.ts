#!/usr/bin/env node
// Runs the extension's mocha suite (out/test/extension/suite/index.js) inside a real VS Code
// extension host and exits with the suite's exit code.
//
// Runners:
//   code-server (default): code-server 4.100.x (VS Code 1.100 web workbench + Node extension
//     host), installed from npm by scripts/install-code-server.sh into .vscode-test/, driven by
//     headless Debian Chromium through playwright-core. The web workbench is opened with a
//     `payload` carrying extensionDevelopmentPath / extensionTestsPath (as VS Code's own
//     test/integration/browser does); when the tests finish, the workbench calls
//     window.codeAutomationExit(code, logs), and its log service calls
//     window.codeAutomationLog(level, args).
//   electron: @vscode/test-electron runTests() with the same extensionTestsPath. Used when
//     SSHKA_TEST_RUNNER=electron, or (SSHKA_TEST_RUNNER unset/auto) when a VS Code already
//     downloaded by test-electron sits in .vscode-test/ and a display is available.
//
// Builds nothing: run `npm run build` and `npm run compile-tests` first.
//
// Env:
//   SSHKA_TEST_RUNNER          code-server | electron | auto (default auto)
//   SSHKA_EXT_TEST_TIMEOUT_MS  overall timeout (default 600000 = 10 min)
//   SSHKA_TEST_SETTINGS_JSON   JSON object merged into the test profile's user settings.json
//   SSHKA_SCREENSHOT_NAME      base name of the final screenshot (default workbench-final)
//   SSHKA_USE_INSTALLED_VSIX   path of a .vsix: install it into the fresh extensions dir and test
//                              the installed extension instead of the repo (no
//                              extensionDevelopmentPath); the suite sees SSHKA_TEST_EXPECT_INSTALLED=1
//   SSHKA_CHROMIUM             browser executable (default: chromium / chromium-browser on PATH)
//   SSHKA_KEEP_TMP=1           keep the temp user-data/extensions/workspace dirs
//   SSHKA_TEST_VERBOSE=1       also echo code-server's own output to stderr
//   SSHKA_*, anything else     inherited by the extension host (it inherits code-server's env)
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import util from 'node:util';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const CODE_SERVER_VERSION = process.env.CODE_SERVER_VERSION || '4.100.3';
const CODE_SERVER_DIR = path.join(REPO, '.vscode-test', `code-server-${CODE_SERVER_VERSION}`);
const TESTS_INDEX = path.join(REPO, 'out', 'test', 'extension', 'suite', 'index.js');
const OUTPUT_DIR = path.join(REPO, 'test-output', 'extension');
const TIMEOUT_MS = Number(process.env.SSHKA_EXT_TEST_TIMEOUT_MS) || 10 * 60_000;
const SHOT_NAME = (process.env.SSHKA_SCREENSHOT_NAME || 'workbench-final').replace(/[^\w.-]/g, '_');
const VSIX = process.env.SSHKA_USE_INSTALLED_VSIX ? path.resolve(process.env.SSHKA_USE_INSTALLED_VSIX) : '';
const EXTENSION_ID = 'ssh-keepalive.ssh-keepalive';
const SUMMARY_RE = /(\d+) passed, (\d+) failed(, \d+ skipped)?\s*$/;

const info = (...a) => console.error('[test-extension]', ...a);
let lastStdoutLine = '';

// ------------------------------------------------------------------ cleanup registry
const cleanups = [];
let cleanedUp = false;
function cleanupSync() {
  if (cleanedUp) return;
  cleanedUp = true;
  for (const fn of cleanups.reverse()) {
    try { fn(); } catch { /* best effort */ }
  }
}
process.on('exit', cleanupSync);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => { info(`got ${sig}, cleaning up`); cleanupSync(); process.exit(sig === 'SIGINT' ? 130 : 143); });
}

function killGroup(child, signal) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  try { process.kill(-child.pid, signal); } catch { try { child.kill(signal); } catch { /* gone */ } }
}

// ------------------------------------------------------------------ helpers
function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function which(cmd) {
  for (const dir of (process.env.PATH || '').split(path.delimiter)) {
    const p = path.join(dir, cmd);
    try { fs.accessSync(p, fs.constants.X_OK); return p; } catch { /* next */ }
  }
  return '';
}

function userSettings() {
  // Shared with the demo and the e2e profile (demo/codeServer.ts): quiet, offline, trusted.
  const base = JSON.parse(fs.readFileSync(path.join(REPO, 'scripts', 'code-server-settings.json'), 'utf8'));
  const extra = process.env.SSHKA_TEST_SETTINGS_JSON;
  if (extra) {
    let parsed;
    try { parsed = JSON.parse(extra); } catch (e) { throw new Error(`SSHKA_TEST_SETTINGS_JSON is not valid JSON: ${e.message}`); }
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('SSHKA_TEST_SETTINGS_JSON must be a JSON object');
    Object.assign(base, parsed);
  }
  return base;
}

function makeTempProfile() {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'sshka-ext-'));
  const dirs = {
    root,
    userData: path.join(root, 'user-data'),
    extensions: path.join(root, 'extensions'),
    workspace: path.join(root, 'workspace'),
    xdgData: path.join(root, 'xdg-data'),
    config: path.join(root, 'code-server.yaml'),
    devStub: path.join(root, 'no-dev-extension'),
  };
  for (const d of [dirs.userData, dirs.extensions, dirs.workspace, dirs.xdgData, dirs.devStub]) fs.mkdirSync(d, { recursive: true });
  fs.mkdirSync(path.join(dirs.userData, 'User'), { recursive: true });
  fs.writeFileSync(path.join(dirs.userData, 'User', 'settings.json'), JSON.stringify(userSettings(), null, 2));
  // Keeps code-server from creating ~/.config/code-server/config.yaml.
  fs.writeFileSync(dirs.config, 'auth: none\n');
  fs.writeFileSync(path.join(dirs.workspace, 'README.md'), '# SSH Keepalive extension test workspace\n');
  if (process.env.SSHKA_KEEP_TMP !== '1') cleanups.push(() => fs.rmSync(root, { recursive: true, force: true }));
  else info(`keeping temp dir ${root}`);
  return dirs;
}

function checkPrereqs() {
  if (!fs.existsSync(TESTS_INDEX)) throw new Error(`${path.relative(REPO, TESTS_INDEX)} missing: run \`npm run compile-tests\` (tsc -p tsconfig.test.json) first`);
  if (!VSIX && !fs.existsSync(path.join(REPO, 'dist', 'extension.js'))) throw new Error('dist/extension.js missing: run `npm run build` first');
  if (VSIX && !fs.existsSync(VSIX)) throw new Error(`SSHKA_USE_INSTALLED_VSIX: ${VSIX} does not exist`);
}

// ------------------------------------------------------------------ runner choice
function downloadedVSCode() {
  const dir = path.join(REPO, '.vscode-test');
  let entries = [];
  try { entries = fs.readdirSync(dir); } catch { return ''; }
  for (const e of entries.filter((n) => /^vscode-linux-/.test(n)).sort().reverse()) {
    for (const rel of ['code', 'VSCode-linux-x64/code', 'VSCode-linux-arm64/code']) {
      const exe = path.join(dir, e, rel);
      try { fs.accessSync(exe, fs.constants.X_OK); return exe; } catch { /* next */ }
    }
  }
  return '';
}

function pickRunner() {
  const want = (process.env.SSHKA_TEST_RUNNER || 'auto').toLowerCase();
  if (want === 'electron' || want === 'code-server') return want;
  if (want !== 'auto') throw new Error(`SSHKA_TEST_RUNNER must be code-server, electron or auto (got ${want})`);
  // Electron needs an X display; a downloaded VS Code is only "usable" with one.
  if (downloadedVSCode() && (process.env.DISPLAY || process.env.WAYLAND_DISPLAY)) return 'electron';
  return 'code-server';
}

// ------------------------------------------------------------------ code-server runner
function ensureCodeServer() {
  const script = path.join(REPO, 'scripts', 'install-code-server.sh');
  const r = spawnSync('bash', [script], { stdio: ['ignore', 2, 2], env: { ...process.env, CODE_SERVER_VERSION } });
  if (r.status !== 0) throw new Error(`install-code-server.sh failed (exit ${r.status ?? r.signal})`);
}

function codeServerEnv(dirs) {
  // XDG_* keep code-server's logs and @vscode/deviceid's id out of the real home.
  const env = { ...process.env, XDG_DATA_HOME: dirs.xdgData, XDG_CACHE_HOME: path.join(dirs.root, 'xdg-cache'), SSHKA_TEST_HARNESS: 'code-server' };
  // No extension marketplace (code-server defaults to open-vsx.org; there is no internet).
  if (!env.EXTENSIONS_GALLERY) env.EXTENSIONS_GALLERY = '{}';
  // code-server reads these from the environment and they would override our flags.
  for (const k of ['PORT', 'PASSWORD', 'HASHED_PASSWORD', 'GITHUB_TOKEN', 'VSCODE_IPC_HOOK_CLI', 'VSCODE_PROXY_URI', 'ELECTRON_RUN_AS_NODE']) delete env[k];
  if (VSIX) env.SSHKA_TEST_EXPECT_INSTALLED = '1';
  return env;
}

function codeServerCli(args, dirs) {
  const entry = path.join(CODE_SERVER_DIR, 'out', 'node', 'entry.js');
  return spawnSync(process.execPath, [entry, '--config', dirs.config, '--user-data-dir', dirs.userData, '--extensions-dir', dirs.extensions, ...args], {
    env: codeServerEnv(dirs), encoding: 'utf8', timeout: 180_000,
  });
}

function installVsix(dirs) {
  info(`installing ${VSIX} into ${dirs.extensions}`);
  const r = codeServerCli(['--force', '--install-extension', VSIX], dirs);
  if (r.status !== 0) throw new Error(`--install-extension failed (exit ${r.status}): ${r.stdout}\n${r.stderr}`);
  const l = codeServerCli(['--list-extensions'], dirs);
  if (!l.stdout.split(/\r?\n/).map((s) => s.trim().toLowerCase()).includes(EXTENSION_ID)) {
    throw new Error(`${EXTENSION_ID} not listed after install: ${l.stdout}\n${l.stderr}`);
  }
  // code-server's web workbench has no local (UI-side) Node extension host: an installed
  // extension whose extensionKind is only ["ui"] is not run at all. (A development-path
  // extension is exempt, so the normal run does not show this.)
  const dir = fs.readdirSync(dirs.extensions).find((n) => n.toLowerCase().startsWith(`${EXTENSION_ID}-`));
  const manifest = dir ? JSON.parse(fs.readFileSync(path.join(dirs.extensions, dir, 'package.json'), 'utf8')) : {};
  const kinds = [].concat(manifest.extensionKind ?? []);
  const override = userSettings()['remote.extensionKind']?.[EXTENSION_ID];
  if (kinds.length && !kinds.includes('workspace') && !override) {
    info(`WARNING: the .vsix declares extensionKind ${JSON.stringify(kinds)}; in code-server only "workspace" extensions run, ` +
      'so the installed extension will not be found. Use ["ui","workspace"] in package.json, or pass ' +
      `SSHKA_TEST_SETTINGS_JSON='{"remote.extensionKind":{"${EXTENSION_ID}":["workspace"]}}'.`);
  }
}

async function startCodeServer(dirs, port, logFile) {
  const entry = path.join(CODE_SERVER_DIR, 'out', 'node', 'entry.js');
  const args = [
    entry, '--config', dirs.config, '--auth', 'none', '--bind-addr', `127.0.0.1:${port}`,
    '--disable-telemetry', '--disable-update-check', '--disable-workspace-trust',
    '--disable-getting-started-override', '--ignore-last-opened',
    '--user-data-dir', dirs.userData, '--extensions-dir', dirs.extensions, dirs.workspace,
  ];
  info(`starting code-server ${CODE_SERVER_VERSION} on 127.0.0.1:${port}`);
  const out = fs.openSync(logFile, 'w');
  // detached: own process group, so the whole tree (server, extension host, pty host...) dies together.
  const child = spawn(process.execPath, args, { cwd: dirs.workspace, env: codeServerEnv(dirs), stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const tee = (chunk) => { fs.writeSync(out, chunk); if (process.env.SSHKA_TEST_VERBOSE === '1') process.stderr.write(chunk); };
  child.stdout.on('data', tee);
  child.stderr.on('data', tee);
  cleanups.push(() => { killGroup(child, 'SIGKILL'); try { fs.closeSync(out); } catch { /* closed */ } });

  let exited = null;
  child.on('exit', (code, sig) => { exited = { code, sig }; });
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (exited) throw new Error(`code-server exited early (${exited.code ?? exited.sig}); see ${logFile}`);
    try {
      const res = await fetch(`http://127.0.0.1:${port}/healthz`);
      if (res.ok) return child;
    } catch { /* not yet */ }
    await sleep(250);
  }
  throw new Error(`code-server did not answer /healthz within 60 s; see ${logFile}`);
}

async function stopCodeServer(child) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise((r) => child.once('exit', r));
  killGroup(child, 'SIGTERM');
  await Promise.race([gone, sleep(5000)]);
  killGroup(child, 'SIGKILL');
}

function chromiumPath() {
  const p = process.env.SSHKA_CHROMIUM || which('chromium') || which('chromium-browser') || which('google-chrome');
  if (!p) throw new Error('no chromium found (apt-get install chromium, or set SSHKA_CHROMIUM)');
  return p;
}

// The workbench forwards console calls as (format, ...args), with %s/%d and %c (CSS, dropped).
function cleanLog(args) {
  if (!Array.isArray(args)) args = [args];
  return util.format(...args);
}

async function runCodeServer() {
  ensureCodeServer();
  const dirs = makeTempProfile();
  fs.mkdirSync(OUTPUT_DIR, { recursive: true });
  if (VSIX) installVsix(dirs);

  const port = await freePort();
  const serverLog = path.join(OUTPUT_DIR, `${SHOT_NAME}.code-server.log`);
  const testLog = path.join(OUTPUT_DIR, `${SHOT_NAME}.log`);
  const logStream = fs.createWriteStream(testLog);
  const shotFile = path.join(OUTPUT_DIR, `${SHOT_NAME}.png`);

  let server;
  let browser;
  let page;
  let summary = '';
  const takeShot = async (why) => {
    if (!page || page.isClosed()) return;
    try {
      await page.screenshot({ path: shotFile, timeout: 15_000 });
      info(`screenshot (${why}): ${path.relative(REPO, shotFile)}`);
    } catch (e) { info(`screenshot failed: ${e.message}`); }
  };

  let exitCode = 1;
  try {
    server = await startCodeServer(dirs, port, serverLog);

    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({
      executablePath: chromiumPath(),
      headless: true,
      // keeps Chromium's crashpad/config out of ~/.config and ~/.cache
      env: { ...process.env, XDG_CONFIG_HOME: path.join(dirs.root, 'xdg-config'), XDG_CACHE_HOME: path.join(dirs.root, 'xdg-cache') },
      args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking',
        '--disable-component-update', '--disable-sync', '--disable-quic', '--no-first-run'],
    });
    cleanups.push(() => { try { browser.process?.()?.kill('SIGKILL'); } catch { /* gone */ } });
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    page = await context.newPage();

    let resolveExit;
    const exited = new Promise((r) => { resolveExit = r; });
    // A test can ask for a picture of the live workbench by logging "[ska-screenshot] NAME"
    // (then waiting a moment): the one taken at the end comes after code-server has stopped
    // the extension host, when status bar items and tree contents are already gone.
    const SHOT_MARKER = /\[ska-screenshot\] ([A-Za-z0-9_-]+)/;
    const emit = (line) => {
      const marker = SHOT_MARKER.exec(line);
      if (marker && page && !page.isClosed()) {
        const file = path.join(OUTPUT_DIR, `${marker[1]}.png`);
        page.screenshot({ path: file, timeout: 15_000 }).then(
          () => info(`screenshot (requested by the suite): ${path.relative(REPO, file)}`),
          (e) => info(`screenshot ${marker[1]} failed: ${e.message}`),
        );
      }
      logStream.write(line + '\n');
      for (const l of line.split(/\r?\n/)) {
        const m = SUMMARY_RE.exec(l);
        if (m) summary = m[0].trim();
      }
      console.log(line);
      const nonEmpty = line.split(/\r?\n/).filter((l) => l.trim());
      if (nonEmpty.length) lastStdoutLine = nonEmpty[nonEmpty.length - 1].trim();
    };
    await page.exposeFunction('codeAutomationLog', (_type, args) => emit(cleanLog(args)));
    await page.exposeFunction('codeAutomationExit', (code) => { resolveExit(Number(code)); });
    page.on('pageerror', (err) => logStream.write(`[pageerror] ${err}\n`));
    page.on('crash', () => { emit('[browser] page crashed'); resolveExit(1); });
    page.on('console', (msg) => logStream.write(`[console.${msg.type()}] ${msg.text()}\n`));

    const authority = `127.0.0.1:${port}`;
    const toRemote = (p) => `vscode-remote://${authority}${p.split(path.sep).map(encodeURIComponent).join('/')}`;
    const payload = [['extensionTestsPath', toRemote(TESTS_INDEX)]];
    // Installed-vsix mode still needs isExtensionDevelopment (it switches on the test log
    // forwarding); an empty folder as development path adds no extension.
    payload.unshift(['extensionDevelopmentPath', toRemote(VSIX ? dirs.devStub : REPO)]);
    payload.push(['skipWelcome', 'true']);
    const url = `http://${authority}/?folder=${encodeURIComponent(dirs.workspace)}&payload=${encodeURIComponent(JSON.stringify(payload))}`;
    info(`opening ${url}`);

    let timer;
    const timeout = new Promise((r) => { timer = setTimeout(() => r('timeout'), TIMEOUT_MS); });
    await page.goto(url, { waitUntil: 'domcontentloaded', timeout: 120_000 });
    const result = await Promise.race([exited, timeout]);
    clearTimeout(timer);
    if (result === 'timeout') {
      info(`TIMEOUT after ${TIMEOUT_MS} ms (SSHKA_EXT_TEST_TIMEOUT_MS)`);
      exitCode = 1;
    } else {
      exitCode = result;
    }
    await takeShot(exitCode === 0 ? 'final' : 'failure');
  } catch (e) {
    info(`ERROR: ${e.stack || e}`);
    await takeShot('error');
    exitCode = 1;
  } finally {
    try { await browser?.close(); } catch { /* already gone */ }
    await stopCodeServer(server);
    await new Promise((r) => logStream.end(r));
  }

  if (exitCode !== 0) {
    info(`failed with exit code ${exitCode}; logs: ${path.relative(REPO, testLog)}, ${path.relative(REPO, serverLog)}`);
  }
  if (!summary) info('the suite printed no "N passed, N failed" line');
  return { exitCode, summary };
}

// ------------------------------------------------------------------ electron runner
async function runElectron() {
  const { runTests, downloadAndUnzipVSCode, resolveCliArgsFromVSCodeExecutablePath } = await import('@vscode/test-electron');
  const dirs = makeTempProfile();
  const exe = downloadedVSCode() || await downloadAndUnzipVSCode(process.env.SSHKA_VSCODE_VERSION || 'stable');
  const common = ['--user-data-dir', dirs.userData, '--extensions-dir', dirs.extensions];
  if (VSIX) {
    const [cli, ...cliArgs] = resolveCliArgsFromVSCodeExecutablePath(exe);
    const r = spawnSync(cli, [...cliArgs, ...common, '--install-extension', VSIX, '--force'], { encoding: 'utf8', stdio: 'inherit', shell: process.platform === 'win32' });
    if (r.status !== 0) throw new Error(`--install-extension failed (exit ${r.status})`);
  }
  const env = { ...process.env, SSHKA_TEST_HARNESS: 'electron' };
  if (VSIX) env.SSHKA_TEST_EXPECT_INSTALLED = '1';
  let timer;
  const timeout = new Promise((_, rej) => { timer = setTimeout(() => rej(new Error(`timeout after ${TIMEOUT_MS} ms`)), TIMEOUT_MS); });
  try {
    const code = await Promise.race([runTests({
      vscodeExecutablePath: exe,
      extensionDevelopmentPath: VSIX ? dirs.devStub : REPO,
      extensionTestsPath: TESTS_INDEX,
      extensionTestsEnv: env,
      launchArgs: [dirs.workspace, ...common, '--disable-workspace-trust', '--disable-gpu', '--skip-welcome', '--skip-release-notes'],
    }), timeout]);
    return { exitCode: code, summary: '' };
  } catch (e) {
    info(`electron run failed: ${e.message || e}`);
    return { exitCode: 1, summary: '' };
  } finally {
    clearTimeout(timer);
  }
}

// ------------------------------------------------------------------ main
async function main() {
  checkPrereqs();
  const runner = pickRunner();
  info(`runner: ${runner}${VSIX ? ` (installed vsix ${VSIX})` : ''}`);
  const { exitCode, summary } = runner === 'electron' ? await runElectron() : await runCodeServer();
  info(`extension tests finished with exit code ${exitCode}`);
  // The suite's closing line must be the last line of stdout: repeat it if anything followed.
  if (summary && lastStdoutLine !== summary) console.log(summary);
  return exitCode;
}

main().then((code) => {
  cleanupSync();
  process.exit(code);
}, (err) => {
  info(`ERROR: ${err.stack || err}`);
  cleanupSync();
  process.exit(1);
});

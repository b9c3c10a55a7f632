/**
 * The extension suite in code-server (VS Code's web workbench + a Node extension host), driven
 * by headless Chromium. The workbench is opened with a `payload` carrying
 * extensionDevelopmentPath / extensionTestsPath (as VS Code's own test/integration/browser
 * does); when the tests finish, the workbench calls window.codeAutomationExit(code, logs), and
 * its log service calls window.codeAutomationLog(level, args).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { format } from 'node:util';
import type { Page } from 'playwright-core';
import { openBrowser, type BrowserSession } from '../../tools/peers/browser';
import { ensureCodeServer, installVsix, makeProfile, startCodeServer, type CodeServer } from '../../tools/peers/codeServer';
import { repoRoot } from '../../tools/peers/repo';
import { freePort } from '../../tools/peers/sshd';
import { harnessEnv, info, type RunOptions, type RunResult } from './runOptions';

const summaryLine = /(\d+) passed, (\d+) failed(, \d+ skipped)?\s*$/;
/**
 * A test can ask for a picture of the live workbench by logging "[ska-screenshot] NAME" (then
 * waiting a moment): the one taken at the end comes after code-server has stopped the extension
 * host, when status bar items and tree contents are already gone.
 */
const shotMarker = /\[ska-screenshot\] ([A-Za-z0-9_-]+)/;

/** `atExit` registers a synchronous last resort for a signal or an early exit. */
export async function runInCodeServer(o: RunOptions, atExit: (fn: () => void) => void): Promise<RunResult> {
  ensureCodeServer();
  const profile = makeProfile('sshka-ext-', o.settings, '# SSH Keepalive extension test workspace\n');
  if (o.keepTmp) info(`keeping temp dir ${profile.root}`);
  else atExit(() => profile.remove());
  // Installed-vsix mode still needs isExtensionDevelopment (it switches on the test log
  // forwarding); an empty folder as development path adds no extension.
  const devStub = path.join(profile.root, 'no-dev-extension');
  fs.mkdirSync(devStub);
  fs.mkdirSync(o.outputDir, { recursive: true });
  if (o.vsix) {
    info(`installing ${o.vsix} into ${profile.extensions}`);
    installVsix(profile, o.vsix, info);
  }

  const port = await freePort();
  const serverLog = path.join(o.outputDir, `${o.shotName}.code-server.log`);
  const testLog = path.join(o.outputDir, `${o.shotName}.log`);
  const logStream = fs.createWriteStream(testLog);
  const shotFile = path.join(o.outputDir, `${o.shotName}.png`);

  let server: CodeServer | undefined;
  let browser: BrowserSession | undefined;
  let summary = '';
  let lastLine = '';
  let exitCode = 1;
  let timer: NodeJS.Timeout | undefined;
  const takeShot = async (why: string) => {
    const page = browser?.page;
    if (!page || page.isClosed()) return;
    try {
      await page.screenshot({ path: shotFile, timeout: 15_000 });
      info(`screenshot (${why}): ${path.relative(repoRoot, shotFile)}`);
    } catch (err) {
      info(`screenshot failed: ${(err as Error).message}`);
    }
  };

  try {
    info(`starting code-server on 127.0.0.1:${port}`);
    server = await startCodeServer({ profile, port, env: harnessEnv(o, 'code-server'), logFile: serverLog, echo: o.verbose });
    const started = server;
    atExit(() => started.kill());
    browser = await openBrowser(profile.root);
    const { page } = browser;

    const { exited } = await attachToSuite(page, o, logStream, (line) => {
      const m = summaryLine.exec(line);
      if (m) summary = m[0].trim();
      if (line.trim()) lastLine = line.trim();
    });

    const authority = `127.0.0.1:${port}`;
    const toRemote = (p: string) => `vscode-remote://${authority}${p.split(path.sep).map(encodeURIComponent).join('/')}`;
    const payload = [
      ['extensionDevelopmentPath', toRemote(o.vsix ? devStub : repoRoot)],
      ['extensionTestsPath', toRemote(o.testsIndex)],
      ['skipWelcome', 'true'],
    ];
    const url = `http://${authority}/?folder=${encodeURIComponent(profile.workspace)}&payload=${encodeURIComponent(JSON.stringify(payload))}`;
    info(`opening ${url}`);

    const timeout = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), o.timeoutMs)));
    await page.goto(url, { waitUntil: 'domcontentloaded', timeout: 120_000 });
    const result = await Promise.race([exited, timeout]);
    if (result === 'timeout') info(`TIMEOUT after ${o.timeoutMs} ms (SSHKA_EXT_TEST_TIMEOUT_MS)`);
    else exitCode = result;
    await takeShot(exitCode === 0 ? 'final' : 'failure');
  } catch (err) {
    info(`ERROR: ${(err as Error).stack ?? String(err)}`);
    await takeShot('error');
    exitCode = 1;
  } finally {
    clearTimeout(timer);
    await browser?.close();
    await server?.stop();
    await new Promise<void>((r) => logStream.end(() => r()));
  }

  if (exitCode !== 0) info(`failed with exit code ${exitCode}; logs: ${path.relative(repoRoot, testLog)}, ${path.relative(repoRoot, serverLog)}`);
  if (!summary) info('the suite printed no "N passed, N failed" line');
  return { exitCode, summary, lastLine };
}

/**
 * Wires the workbench's test hooks (before the page is opened): every line the suite logs goes
 * to stdout and the test log (and to `onLine`); `exited` resolves with the exit code the
 * workbench reports (1 if the page crashes).
 */
async function attachToSuite(page: Page, o: RunOptions, log: fs.WriteStream, onLine: (line: string) => void): Promise<{ exited: Promise<number> }> {
  let resolve!: (code: number) => void;
  const exited = new Promise<number>((r) => (resolve = r));
  const emit = (text: string) => {
    const marker = shotMarker.exec(text);
    if (marker && !page.isClosed()) {
      const file = path.join(o.outputDir, `${marker[1]}.png`);
      page.screenshot({ path: file, timeout: 15_000 }).then(
        () => info(`screenshot (requested by the suite): ${path.relative(repoRoot, file)}`),
        (err: Error) => info(`screenshot ${marker[1]} failed: ${err.message}`),
      );
    }
    log.write(`${text}\n`);
    for (const l of text.split(/\r?\n/)) onLine(l);
    console.log(text);
  };
  // The workbench forwards console calls as (format, ...args), with %s/%d and %c (CSS, dropped).
  await page.exposeFunction('codeAutomationLog', (_type: unknown, args: unknown) => emit(format(...((Array.isArray(args) ? args : [args]) as unknown[]))));
  await page.exposeFunction('codeAutomationExit', (code: unknown) => resolve(Number(code)));
  page.on('pageerror', (err) => log.write(`[pageerror] ${err}\n`));
  page.on('crash', () => {
    emit('[browser] page crashed');
    resolve(1);
  });
  page.on('console', (msg) => log.write(`[console.${msg.type()}] ${msg.text()}\n`));
  return { exited };
}

/**
 * The VS Code workbench as a person uses it, through playwright: the command palette, quick
 * picks and input boxes, the status bar, the terminal. Only the keyboard, the mouse and the DOM;
 * no extension API.
 */
import type { Page } from 'playwright-core';
import { extensionId } from '../../tools/peers/repo';
import * as scripts from './pageScripts';

export async function openWorkbench(page: Page, url: string): Promise<void> {
  await page.goto(url, { waitUntil: 'domcontentloaded', timeout: 60_000 });
  await page.waitForSelector('.monaco-workbench .part.statusbar', { timeout: 60_000 });
}

/** The DOM id of a host's status bar item: `<extension id>.<item id>`. */
const itemId = (alias: string) => `${extensionId}.sshKeepalive.status.${alias}`;

export interface StatusView {
  text: string;
  label: string;
}

export async function readStatus(page: Page, alias: string): Promise<StatusView | undefined> {
  return page.evaluate<StatusView | undefined>(scripts.readItem(itemId(alias)));
}

/** Waits until the item reads "<alias> NN ms" (connected, with a measured round trip). */
export async function waitForConnected(page: Page, alias: string, timeoutMs: number): Promise<StatusView> {
  await page.waitForFunction(scripts.itemConnected(itemId(alias), alias), undefined, { timeout: timeoutMs, polling: 100 });
  return (await readStatus(page, alias))!;
}

/**
 * Starts recording, in the page, every state the host's item shows that is not "connected"
 * (a spinner: lost, reconnecting, connecting). A MutationObserver sees states that last a
 * few milliseconds, which polling could miss.
 */
export async function recordLoss(page: Page, alias: string): Promise<void> {
  await page.evaluate(scripts.recordLoss(itemId(alias)));
}

/** The non-connected states seen since recordLoss(). */
export async function lossSeen(page: Page): Promise<string[]> {
  return page.evaluate<string[]>(scripts.lossSeen);
}

/** F1, type the command's title, Enter once it is the focused row. */
export async function runCommand(page: Page, title: string): Promise<void> {
  // Escape only closes a leftover quick input: in a focused terminal it would reach the shell
  // (and make readline eat the next key as a Meta combination).
  if (await page.locator('.quick-input-widget .quick-input-box input').isVisible()) await page.keyboard.press('Escape');
  await page.keyboard.press('F1');
  await page.locator('.quick-input-widget .quick-input-box input').waitFor({ state: 'visible', timeout: 10_000 });
  await page.keyboard.type(title, { delay: 5 });
  await page.locator('.quick-input-widget .monaco-list-row.focused', { hasText: title }).first().waitFor({ state: 'visible', timeout: 10_000 });
  await page.keyboard.press('Enter');
}

/**
 * Waits for the quick pick whose placeholder contains `placeholder` (not the palette that
 * opened it), types `filter`, waits until the focused row shows `text`, Enter.
 */
export async function pickItem(page: Page, placeholder: string, filter: string, text: string = filter): Promise<void> {
  await page.locator(`.quick-input-widget .quick-input-box input[placeholder*="${placeholder}"]`).waitFor({ state: 'visible', timeout: 10_000 });
  await page.keyboard.type(filter, { delay: 5 });
  // The host picker rebuilds its items on every keystroke (a round trip to the extension
  // host); an Enter during that round trip can select nothing. Let it settle, as a person would.
  await page.waitForTimeout(400);
  await page.locator('.quick-input-widget .monaco-list-row.focused', { hasText: text }).first().waitFor({ state: 'visible', timeout: 10_000 });
  await page.keyboard.press('Enter');
  // Gone, or replaced by the next question.
  await page.locator(`.quick-input-widget .quick-input-box input[placeholder*="${placeholder}"]`).waitFor({ state: 'hidden', timeout: 10_000 });
}

/** An input box (no list) whose placeholder contains `placeholder`: type, Enter, wait until it closes. */
export async function answerInput(page: Page, placeholder: string, value: string): Promise<void> {
  await page.locator(`.quick-input-widget .quick-input-box input[placeholder*="${placeholder}"]`).waitFor({ state: 'visible', timeout: 10_000 });
  await page.keyboard.type(value, { delay: 5 });
  await page.keyboard.press('Enter');
  await page.locator('.quick-input-widget').waitFor({ state: 'hidden', timeout: 10_000 });
}

/** The active terminal's visible rows (xterm's DOM renderer), one string per row. */
export async function terminalRows(page: Page): Promise<string[]> {
  return page.evaluate<string[]>(scripts.terminalRows);
}

export async function waitForTerminal(page: Page, re: RegExp, timeoutMs: number): Promise<RegExpMatchArray> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const rows = await terminalRows(page);
    for (const row of rows) {
      const m = re.exec(row);
      if (m) return m;
    }
    if (Date.now() > deadline) throw new Error(`terminal never showed ${re}; it shows:\n${rows.filter((r) => r).join('\n')}`);
    await page.waitForTimeout(100);
  }
}

/** Click into the terminal (focus) and type a line. */
export async function typeInTerminal(page: Page, line: string): Promise<void> {
  const term = page.locator('.terminal-wrapper.active .xterm').first();
  await term.click();
  // xterm marks itself focused; keys sent before that go elsewhere.
  await page.locator('.terminal-wrapper.active .xterm.focus').waitFor({ state: 'visible', timeout: 5000 });
  await page.waitForTimeout(100);
  await page.keyboard.type(line, { delay: 10 });
  await page.keyboard.press('Enter');
}

/** Shows the SSH Keepalive view (hosts, their terminals and forwards) in the side bar. */
export async function showHostsView(page: Page, alias: string): Promise<void> {
  const item = page.locator('.part.activitybar .action-item a[aria-label^="SSH Keepalive"]').first();
  await item.click({ timeout: 10_000 });
  const row = page.locator('.part.sidebar .monaco-list-row', { hasText: alias }).first();
  await row.waitFor({ state: 'visible', timeout: 15_000 });
}

/** Expands a host in the SSH Keepalive view so its terminals and forwards show. */
export async function expandHost(page: Page, alias: string): Promise<void> {
  const row = page.locator('.part.sidebar .monaco-list-row', { hasText: alias }).first();
  if ((await row.getAttribute('aria-expanded')) === 'false') await row.locator('.monaco-tl-twistie').click();
}

/**
 * The VS Code workbench as a person uses it, through playwright: the command palette, quick
 * picks and input boxes, the status bar, the terminal. Only the keyboard, the mouse and the DOM;
 * no extension API.
 */
import * as fs from 'node:fs';
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
  /** The codicon shown: pulse (connected), question (unconfirmed), sync (spinner), error... */
  icon: string;
}

/** One state the item showed, with the page's clock. */
export interface SeenState extends StatusView {
  at: number;
}

export async function readStatus(page: Page, alias: string): Promise<StatusView | undefined> {
  return page.evaluate<StatusView | undefined>(scripts.readItem(itemId(alias)));
}

/**
 * Starts recording, in the page, every state the host's item shows (a MutationObserver sees
 * states that last a few milliseconds, which polling could miss). Once per page load.
 */
export async function watchStatus(page: Page, alias: string): Promise<void> {
  await page.evaluate(scripts.watchItem(itemId(alias)));
}

/** A mark on the page's clock: statesSince(mark) returns what the item showed from then on. */
export async function markStates(page: Page): Promise<number> {
  return page.evaluate<number>(scripts.pageNow);
}

/** The states the item showed since `mark` (the first one: what it showed at the mark). */
export async function statesSince(page: Page, mark: number): Promise<SeenState[]> {
  return page.evaluate<SeenState[]>(scripts.statesSince(mark));
}

/** "+0.0 s 'lab 2.7 ms' (pulse) SSH host lab: connected, ..." lines for an error message. */
export function describeStates(states: readonly SeenState[], mark: number): string {
  if (states.length === 0) return 'nothing (the item was never seen)';
  return states
    .map(
      (s) =>
        `\n  ${((s.at - mark) / 1000).toFixed(1)} s: ${s.label === 'absent' ? 'no item' : `"${s.text}" (${s.icon || 'no icon'}) ${JSON.stringify(s.label)}`}`,
    )
    .join('');
}

/**
 * Waits until the item shows `what` (a page predicate); on timeout the error names what was
 * awaited and every state the item showed meanwhile, so a failure says where it stopped.
 */
async function waitForItem(page: Page, alias: string, predicate: string, what: string, timeoutMs: number): Promise<StatusView> {
  await watchStatus(page, alias);
  const mark = await markStates(page);
  try {
    await page.waitForFunction(predicate, undefined, { timeout: timeoutMs, polling: 100 });
  } catch (err) {
    const seen = await statesSince(page, mark).catch(() => []);
    throw new Error(
      `the status bar item of ${alias} did not show ${what} within ${timeoutMs / 1000} s (${(err as Error).message.split('\n')[0]}); it showed:${describeStates(seen, mark)}`,
    );
  }
  return (await readStatus(page, alias))!;
}

/**
 * Waits until the item shows what a user reads as connected: the pulse icon and "connected"
 * in its accessibility label ("lab 2.7 ms", or "lab" before a round trip, slow or not).
 */
export function waitForConnected(page: Page, alias: string, timeoutMs: number): Promise<StatusView> {
  return waitForItem(page, alias, scripts.itemConnected(itemId(alias), alias), `connected (pulse icon, label "SSH host ${alias}: connected...")`, timeoutMs);
}

/** Waits until the item shows unconfirmed (question icon, "unconfirmed, last heard N s ago"). */
export function waitForUnconfirmed(page: Page, alias: string, timeoutMs: number): Promise<StatusView> {
  return waitForItem(
    page,
    alias,
    scripts.itemUnconfirmed(itemId(alias), alias),
    `unconfirmed (question icon, label "SSH host ${alias}: unconfirmed...")`,
    timeoutMs,
  );
}

/** Marks the moment from which lossSeen() reports (what the item showed that was not connected). */
export async function recordLoss(page: Page, alias: string): Promise<number> {
  await watchStatus(page, alias);
  return markStates(page);
}

/** The labels of the non-connected states the item showed since `mark` (spinner, unconfirmed, checking...). */
export async function lossSeen(page: Page, mark: number): Promise<string[]> {
  const labels = (await statesSince(page, mark)).filter((s) => s.at >= mark && (s.icon !== 'pulse' || !s.label.includes(': connected'))).map((s) => s.label);
  return labels.filter((l, i) => l !== labels[i - 1]);
}

/** Waits until the item showed, since `mark`, a state that is not connected; the error lists what it showed. */
export async function waitForLoss(page: Page, alias: string, mark: number, timeoutMs: number): Promise<void> {
  try {
    await page.waitForFunction(scripts.lostSince(mark), undefined, { timeout: timeoutMs, polling: 50 });
  } catch (err) {
    const seen = await statesSince(page, mark).catch(() => []);
    throw new Error(
      `the status bar item of ${alias} never stopped saying connected within ${timeoutMs / 1000} s (${(err as Error).message.split('\n')[0]}); it showed:${describeStates(seen, mark)}`,
    );
  }
}

/**
 * A picture of a state that lasts about a second (unconfirmed, before the demand probe's
 * deadline): a shot counts only when the item showed the same state from before the shot
 * began until after it ended (its seconds may count on), so the picture is known to show it. Tries again while the
 * state lasts; false when it ended before one shot could be bracketed.
 */
export async function shootWhile(page: Page, alias: string, file: string, still: (s: StatusView) => boolean): Promise<boolean> {
  await watchStatus(page, alias);
  for (;;) {
    const mark = await markStates(page);
    const before = await statesSince(page, mark);
    if (!before.length || !before.every(still)) return false;
    const png = await page.screenshot();
    // "silent 3 s" may become "silent 4 s" during the shot: the same state, still true.
    if ((await statesSince(page, mark)).every(still)) {
      fs.writeFileSync(file, png);
      return true;
    }
  }
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

/** Waits until the terminal's screen, read as one text (long lines wrap), matches `re`. */
export async function waitForScreen(page: Page, re: RegExp, timeoutMs: number): Promise<RegExpMatchArray> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const rows = await terminalRows(page);
    const m = re.exec(rows.join(''));
    if (m) return m;
    if (Date.now() > deadline) throw new Error(`terminal never showed ${re} within ${timeoutMs / 1000} s; it shows:\n${rows.filter((r) => r).join('\n')}`);
    await page.waitForTimeout(100);
  }
}

/** Waits until the terminal's screen no longer matches `re` (e.g. after `clear`). */
export async function waitForScreenWithout(page: Page, re: RegExp, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const rows = await terminalRows(page);
    if (!re.test(rows.join(''))) return;
    if (Date.now() > deadline) throw new Error(`terminal still shows ${re} after ${timeoutMs / 1000} s:\n${rows.filter((r) => r).join('\n')}`);
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

/**
 * The user story, step by step, through the UI only: what a person does and what they see.
 */
import type { Page } from 'playwright-core';
import type { Step } from './steps';
import type { GetResult, StoryNet } from './storyNet';
import {
  answerInput,
  expandHost,
  lossSeen,
  markStates,
  openWorkbench,
  pickItem,
  readStatus,
  recordLoss,
  runCommand,
  shootWhile,
  showHostsView,
  statesSince,
  type StatusView,
  terminalRows,
  typeInTerminal,
  waitForConnected,
  waitForLoss,
  waitForScreen,
  waitForScreenWithout,
  waitForTerminal,
  waitForUnconfirmed,
  watchStatus,
} from './workbench';

export interface StoryContext {
  page: Page;
  net: StoryNet;
  url: string;
  alias: string;
}

/** GET through the forward until it answers (the listener may take a moment to bind). */
async function getUntilOk(net: StoryNet, port: number, timeoutMs: number): Promise<GetResult> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await net.get(port, Math.max(1000, Math.min(5000, deadline - Date.now())));
    if (r.ok || Date.now() >= deadline) return r;
    await new Promise((res) => setTimeout(res, 250));
  }
}

/** The story's keepalive settings (story.ts): ServerAliveInterval 2 s, dead after 2 missed. */
export const storyKeepalive = { intervalS: 2, countMax: 2 };

/**
 * How long an idle, silent path may still be shown alive: the interval plus max(1 s, 4 RTTs)
 * (core/liveness), plus a second for the status bar's tick and the page's poll, plus 2 s for
 * a loaded 2-core machine (timers late in the extension host).
 */
const unconfirmedWithinMs = storyKeepalive.intervalS * 1000 + 1000 + 1000 + 2000;

/**
 * The first connect as a user waits for it, from the moment the host shows in the view: one
 * attempt's own deadlines (connectTimeout 15 s, then the first keepalive) fit with room for
 * a retry after reconnect.maxDelay (5 s) on a loaded machine.
 */
const firstConnectMs = 45_000;

/** "850 ms", "12 s", "3 min 4 s" (format.ts formatDuration) -> ms; undefined for anything else. */
function durationMs(text: string): number | undefined {
  const m = /^(?:(\d+) min)? ?(?:(\d+) s)?(?:(\d+) ms)?$/.exec(text.trim());
  if (!m || (!m[1] && !m[2] && !m[3])) return undefined;
  return Number(m[1] ?? 0) * 60_000 + Number(m[2] ?? 0) * 1000 + Number(m[3] ?? 0);
}

const isUnconfirmed = (s: StatusView) => s.icon === 'question' && s.label.includes(': unconfirmed');

export function storySteps({ page, net, url, alias }: StoryContext): Step[] {
  let value = '';
  let droppedAt = 0;
  let healedAt = 0;
  let held: Promise<GetResult> | undefined;
  let typedAt = 0;
  let lossMark = 0;
  let idleDownAt = 0;
  const forwardSpec = `${net.localPort}:127.0.0.1:${net.webPort}`;

  return [
    {
      name: 'connected',
      timeoutMs: 90_000,
      async run() {
        await openWorkbench(page, url);
        // Every state the item shows from now on is recorded: a timeout lists them.
        await watchStatus(page, alias);
        const loaded = await markStates(page);
        await showHostsView(page, alias);
        const s = await waitForConnected(page, alias, firstConnectMs);
        const path = (await statesSince(page, loaded)).map(
          (x) => `${((x.at - loaded) / 1000).toFixed(1)} s ${x.label === 'absent' ? 'no item' : x.label.replace(/^SSH host \S+: /, '')}`,
        );
        // The view says the same as the status bar.
        await page
          .locator('.part.sidebar .monaco-list-row', { hasText: `${alias}connected` })
          .first()
          .waitFor({ state: 'visible', timeout: 10_000 });
        await page.mouse.move(700, 250); // no hover tooltip in the picture
        return `status bar "${s.text}" (${s.label}); since the page loaded: ${path.join(' -> ')}`;
      },
    },
    {
      name: 'terminal',
      timeoutMs: 30_000,
      async run() {
        await runCommand(page, 'SSH Keepalive: Open Remote Terminal');
        await pickItem(page, 'Host to open a terminal on', alias);
        const m = await waitForTerminal(page, /[#$]$/, 20_000);
        // Room for the terminal in the pictures, and no toasts over it.
        await runCommand(page, 'View: Toggle Maximized Panel');
        await runCommand(page, 'Notifications: Clear All Notifications');
        return `prompt "${m.input}"`;
      },
    },
    {
      name: 'echo',
      timeoutMs: 20_000,
      async run() {
        await typeInTerminal(page, 'export V=e2e-$RANDOM; echo $V');
        value = (await waitForTerminal(page, /^(e2e-\d+)$/, 10_000))[1];
        return `V=${value}`;
      },
    },
    {
      name: 'unconfirmed',
      timeoutMs: 30_000,
      async run(shot) {
        // The terminal is open and idle; nobody types or clicks from here on. The router
        // reboots (forgets every flow) and stays down: only silence tells.
        const mark = await markStates(page);
        await net.rebootAndHold();
        const downAt = Date.now();
        idleDownAt = downAt;
        const s = await waitForUnconfirmed(page, alias, unconfirmedWithinMs);
        const afterMs = Date.now() - downAt;
        // Unconfirmed lasts about a second here (an open terminal is in use, so a probe goes
        // out at once): the picture is taken while it shows, or the step fails.
        if (!(await shootWhile(page, alias, shot, isUnconfirmed)))
          throw new Error(`unconfirmed ended before a screenshot could show it: ${JSON.stringify(await lossSeen(page, mark))}`);
        const before = (await statesSince(page, mark)).filter((x) => x.at >= mark);
        const first = before.find((x) => !(x.icon === 'pulse' && x.label.includes(': connected')));
        if (!first || !isUnconfirmed(first)) throw new Error(`the first state after the path died was not unconfirmed: ${JSON.stringify(first)}`);
        return `router rebooted and down while idle (no key, no click): "${s.text}" (${s.label}) ${afterMs} ms after the path died`;
      },
    },
    {
      name: 'restored',
      timeoutMs: 40_000,
      async run() {
        const mark = await markStates(page);
        await page.waitForTimeout(1000); // a second of visible outage
        await net.heal();
        const healed = Date.now();
        const s = await waitForConnected(page, alias, 20_000);
        const backMs = Date.now() - healed;
        // The terminal says what happened to its shell, and it is the same shell.
        const note = await waitForScreen(page, /Connection to \S+ restored after ([^;.]+).{0,200}?nothing was lost\./, 15_000);
        // The note counts the outage as the terminal lived it: at least from the path's death to the heal.
        const saidMs = durationMs(note[1]);
        const downMs = healed - idleDownAt;
        if (saidMs === undefined || saidMs + 1000 < downMs)
          throw new Error(`the note says "restored after ${note[1]}", but the path was down for ${downMs} ms`);
        await typeInTerminal(page, 'echo "still:$V"');
        const still = (await waitForTerminal(page, /^still:(e2e-\d+)$/, 10_000))[1];
        if (still !== value) throw new Error(`V is ${still} after the restore, was ${value}: a new shell`);
        await page.mouse.move(700, 250);
        const seen = await lossSeen(page, mark);
        return `back ${backMs} ms after the heal: "${s.text}"; terminal: "${note[0]}"; states seen: ${seen.map((l) => JSON.stringify(l.replace(/^SSH host \S+: /, ''))).join(', ')}`;
      },
    },
    {
      name: 'forward',
      timeoutMs: 40_000,
      async run() {
        // A clean screen, so that the notes read later are those of the next outage.
        await typeInTerminal(page, 'clear');
        await waitForScreenWithout(page, /restored/, 5000);
        await runCommand(page, 'SSH Keepalive: Forward a Port...');
        await pickItem(page, 'Host to forward through', alias);
        await pickItem(page, 'Kind of forward', 'Local', 'Local');
        await answerInput(page, '8080:localhost:80', forwardSpec);
        const r = await getUntilOk(net, net.localPort, 15_000);
        if (!r.ok) throw new Error(`GET http://127.0.0.1:${net.localPort}/ failed: ${r.error ?? r.body}`);
        await expandHost(page, alias);
        await runCommand(page, 'Notifications: Clear All Notifications');
        return `-L ${forwardSpec}: GET 200 in ${r.ms} ms`;
      },
    },
    {
      name: 'nat-drop',
      timeoutMs: 30_000,
      async run() {
        lossMark = await recordLoss(page, alias);
        await net.rebootAndHold();
        droppedAt = Date.now();
        // Using the forward is a user action: the quiet path gets a demand probe at once. The
        // request is held while the session is down and served once it is back (step 8).
        held = net.get(net.localPort, 45_000);
        // The user types the moment the network drops, without looking at the status bar.
        await typeInTerminal(page, 'echo "typed:$V"');
        typedAt = Date.now();
        await waitForLoss(page, alias, lossMark, 20_000);
        const s = await readStatus(page, alias);
        return `NAT forgot every flow (${net.mode === 'natlab' ? 'conntrack -F' : 'flaky NAT'}), path down, a line typed at once; loss shown after ${Date.now() - droppedAt} ms: "${s?.label}"`;
      },
    },
    {
      name: 'recovered',
      timeoutMs: 30_000,
      async run() {
        await page.waitForTimeout(1000); // a second of visible outage
        await net.heal();
        healedAt = Date.now();
        const s = await waitForConnected(page, alias, 20_000);
        const seen = await lossSeen(page, lossMark);
        return `back ${Date.now() - healedAt} ms after the NAT came back: "${s.text}"; states seen: ${seen.map((l) => JSON.stringify(l.replace(/^SSH host \S+: /, ''))).join(', ')}`;
      },
    },
    {
      name: 'kept',
      timeoutMs: 30_000,
      async run() {
        // The line typed during the drop ran once, in the same shell, without being typed again.
        const typed = await waitForTerminal(page, /^typed:(e2e-\d+)$/, 15_000);
        if (typed[1] !== value) throw new Error(`V is ${typed[1]} after the reconnect, was ${value}: a new shell`);
        const rows = await terminalRows(page);
        const runs = rows.filter((r) => /^typed:e2e-\d+$/.test(r.trim())).length;
        if (runs !== 1) throw new Error(`the typed line ran ${runs} times`);
        // What the terminal said about the drop is still on screen after the restore.
        // Long notes wrap: read the screen as one text.
        const screen = rows.join('');
        const lost = /Connection to \S+ lost \([^)]*\)/.exec(screen)?.[0];
        const restored = /Connection to \S+ restored.{0,200}?nothing was lost\./.exec(screen)?.[0];
        if (!lost || !restored) throw new Error(`the loss and restore notes are not on screen: ${JSON.stringify(rows.filter((r) => r))}`);
        await typeInTerminal(page, 'echo "again:$V"');
        const again = await waitForTerminal(page, /^again:(e2e-\d+)$/, 10_000);
        if (again[1] !== value) throw new Error(`V is ${again[1]}, was ${value}`);
        return `line typed during the drop ran once, ${((Date.now() - typedAt) / 1000).toFixed(1)} s after typing it (same shell, session keeper); notes on screen: "${lost}" / "${restored}"`;
      },
    },
    {
      name: 'forward-again',
      timeoutMs: 50_000,
      async run() {
        const h = await held!;
        if (!h.ok) throw new Error(`the request made during the outage failed: ${h.error ?? h.body}`);
        const r = await getUntilOk(net, net.localPort, 10_000);
        if (!r.ok) throw new Error(`GET after recovery failed: ${r.error ?? r.body}`);
        await typeInTerminal(page, '');
        return `request made during the outage held and served (${h.ms} ms); new GET in ${r.ms} ms; ${((Date.now() - droppedAt) / 1000).toFixed(1)} s since the drop`;
      },
    },
  ];
}

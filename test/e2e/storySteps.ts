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
  openWorkbench,
  pickItem,
  readStatus,
  recordLoss,
  runCommand,
  showHostsView,
  terminalRows,
  typeInTerminal,
  waitForConnected,
  waitForTerminal,
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

export function storySteps({ page, net, url, alias }: StoryContext): Step[] {
  let value = '';
  let droppedAt = 0;
  let healedAt = 0;
  let held: Promise<GetResult> | undefined;
  let typedAt = 0;
  const forwardSpec = `${net.localPort}:127.0.0.1:${net.webPort}`;

  return [
    {
      name: 'connected',
      timeoutMs: 60_000,
      async run() {
        await openWorkbench(page, url);
        await showHostsView(page, alias);
        const s = await waitForConnected(page, alias, 30_000);
        // The view says the same as the status bar.
        await page
          .locator('.part.sidebar .monaco-list-row', { hasText: `${alias}connected` })
          .first()
          .waitFor({ state: 'visible', timeout: 10_000 });
        await page.mouse.move(700, 250); // no hover tooltip in the picture
        return `status bar "${s.text}"`;
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
      name: 'forward',
      timeoutMs: 40_000,
      async run() {
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
        await recordLoss(page, alias);
        await net.rebootAndHold();
        droppedAt = Date.now();
        // Using the forward is a user action: the quiet path gets a demand probe at once. The
        // request is held while the session is down and served once it is back (step 8).
        held = net.get(net.localPort, 45_000);
        // The user types the moment the network drops, without looking at the status bar.
        await typeInTerminal(page, 'echo "typed:$V"');
        typedAt = Date.now();
        await page.waitForFunction('(window.__skaLoss || []).length > 0', undefined, { timeout: 20_000, polling: 50 });
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
        const seen = await lossSeen(page);
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

/**
 * Code that runs inside the workbench page. Kept as source text (the project's TypeScript has
 * no DOM library, on purpose: src/ must not lean on browser globals); values are passed in with
 * JSON.stringify.
 */
const itemLookup = (itemId: string) => `
  const el = document.getElementById(${JSON.stringify(itemId)});
  const label = el ? (el.querySelector('[aria-label]')?.getAttribute('aria-label') ?? '') : '';
  const text = el ? (el.textContent ?? '').trim() : '';
  const icon = el ? ([...el.querySelectorAll('.codicon')].map((c) => [...c.classList].find((k) => k.startsWith('codicon-') && k !== 'codicon-modifier-spin')).filter(Boolean)[0] ?? '').replace('codicon-', '') : '';`;

/** -> {text, label, icon} of a status bar item, or undefined. */
export const readItem = (itemId: string) => `(() => {${itemLookup(itemId)}
  return el ? { text, label, icon } : undefined;
})()`;

/**
 * -> true while the item says what a user reads as connected: the pulse icon and the
 * accessibility label "SSH host <alias>: connected..." (with or without a round trip, slow or
 * not). Not: unconfirmed (question icon), checking, connecting or reconnecting (spinner).
 */
export const itemConnected = (itemId: string, alias: string) => `(() => {${itemLookup(itemId)}
  return !!el && icon === 'pulse' && label.startsWith(${JSON.stringify(`SSH host ${alias}: connected`)});
})()`;

/** -> true while the item says unconfirmed (question icon, "unconfirmed, last heard N s ago"). */
export const itemUnconfirmed = (itemId: string, alias: string) => `(() => {${itemLookup(itemId)}
  return !!el && icon === 'question' && label.startsWith(${JSON.stringify(`SSH host ${alias}: unconfirmed`)});
})()`;

/**
 * Records every state the item shows, with the page's clock (window.__skaStates: {at, text,
 * label, icon}; "absent" while there is no item), via a MutationObserver: states that last a
 * few milliseconds are seen, which polling could miss. Idempotent.
 */
export const watchItem = (itemId: string) => `(() => {
  if (window.__skaObserver) return;
  window.__skaStates = [];
  const check = () => {${itemLookup(itemId)}
    const now = el ? { text, label, icon } : { text: '', label: 'absent', icon: '' };
    const last = window.__skaStates[window.__skaStates.length - 1];
    if (!last || last.label !== now.label || last.text !== now.text || last.icon !== now.icon) window.__skaStates.push({ at: Date.now(), ...now });
  };
  window.__skaObserver = new MutationObserver(check);
  window.__skaObserver.observe(document.querySelector('.part.statusbar') || document.body, { subtree: true, childList: true, attributes: true, characterData: true });
  check();
})()`;

/** -> the page's clock now (marks for statesSince). */
export const pageNow = `Date.now()`;

/** -> the states recorded at or after \`at\` (page clock), and the one showing at that moment. */
export const statesSince = (at: number) => `(() => {
  const all = window.__skaStates || [];
  const before = all.filter((s) => s.at < ${at}).slice(-1);
  return [...before, ...all.filter((s) => s.at >= ${at})];
})()`;

/** -> true once the item showed a state other than connected at or after \`at\` (page clock). */
export const lostSince = (at: number) => `(window.__skaStates || []).some((s) => s.at >= ${at} && !(s.icon === 'pulse' && s.label.includes(': connected')))`;

/** -> the active terminal's rows (xterm's DOM renderer), one string each. */
export const terminalRows = `(() => {
  const rows = document.querySelector('.terminal-wrapper.active .xterm-rows') || document.querySelector('.xterm-rows');
  return rows ? [...rows.children].map((r) => (r.textContent || '').replace(/\\u00a0/g, ' ').replace(/\\s+$/, '')) : [];
})()`;

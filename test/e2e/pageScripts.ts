/**
 * Code that runs inside the workbench page. Kept as source text (the project's TypeScript has
 * no DOM library, on purpose: src/ must not lean on browser globals); values are passed in with
 * JSON.stringify.
 */
const itemLookup = (itemId: string) => `
  const el = document.getElementById(${JSON.stringify(itemId)});
  const label = el ? (el.querySelector('[aria-label]')?.getAttribute('aria-label') ?? '') : '';
  const text = el ? (el.textContent ?? '').trim() : '';`;

/** -> {text, label} of a status bar item, or undefined. */
export const readItem = (itemId: string) => `(() => {${itemLookup(itemId)}
  return el ? { text, label } : undefined;
})()`;

/** -> true once the item reads "<alias> NN ms" and says connected. */
export const itemConnected = (itemId: string, alias: string) => `(() => {${itemLookup(itemId)}
  return !!el && /^${alias} \\d+(\\.\\d+)? ms$/.test(text) && label.includes(': connected');
})()`;

/** Records every non-connected state the item shows (window.__skaLoss), via a MutationObserver. */
export const recordLoss = (itemId: string) => `(() => {
  window.__skaLoss = [];
  if (window.__skaObserver) window.__skaObserver.disconnect();
  const check = () => {${itemLookup(itemId)}
    if (!el) return;
    const spinning = !!el.querySelector('.codicon-sync, .codicon-modifier-spin');
    if ((spinning || !label.includes(': connected')) && window.__skaLoss[window.__skaLoss.length - 1] !== label) window.__skaLoss.push(label);
  };
  window.__skaObserver = new MutationObserver(check);
  window.__skaObserver.observe(document.querySelector('.part.statusbar') || document.body, { subtree: true, childList: true, attributes: true, characterData: true });
  check();
})()`;

export const lossSeen = `[...(window.__skaLoss || [])]`;

/** -> the active terminal's rows (xterm's DOM renderer), one string each. */
export const terminalRows = `(() => {
  const rows = document.querySelector('.terminal-wrapper.active .xterm-rows') || document.querySelector('.xterm-rows');
  return rows ? [...rows.children].map((r) => (r.textContent || '').replace(/\\u00a0/g, ' ').replace(/\\s+$/, '')) : [];
})()`;

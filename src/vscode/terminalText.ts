/**
 * The few lines a remote terminal prints about its connection. Dim (SGR 2) so they read as
 * remarks, not as shell output; each starts on a fresh line because the cursor may be in
 * the middle of a prompt. Pure (no 'vscode').
 */
import { formatDuration } from './format';

export function dimLine(text: string): string {
  return `\r\n\x1b[2m${text}\x1b[0m\r\n`;
}

export function connectingLine(alias: string): string {
  return dimLine(`Connecting to ${alias}…`);
}

export function lostLine(alias: string, reason: string): string {
  return dimLine(`Connection to ${alias} lost (${reason}). Restoring it; this terminal stays open.`);
}

/**
 * After a reconnect: the old shell is back (tmux kept it) or this is a new one. The hint
 * says what would keep the next one: tmux on the server, or the setting turned back on.
 */
export function restoredLine(
  alias: string,
  reattached: boolean,
  multiplexer: string | undefined,
  afterMs: number | undefined,
  reattachEnabled = true,
  heldBytes = 0,
): string {
  const after = afterMs === undefined ? '' : ` after ${formatDuration(afterMs)}`;
  if (reattached && multiplexer === 'keeper') {
    const held = heldBytes > 0 ? ` The ${plural(heldBytes, 'key')} typed meanwhile went to it.` : '';
    return dimLine(`Connection to ${alias} restored${after}; the shell kept running on the server (session keeper): nothing was lost.${held}`);
  }
  if (reattached) return dimLine(`Connection to ${alias} restored${after}; reattached to the ${multiplexer ?? 'remote'} session: nothing was lost.`);
  const hint = multiplexer ? '' : reattachEnabled ? ' Install tmux on the server to keep shells across drops.' : ' (sshKeepalive.reattach is off.)';
  return dimLine(`Connection to ${alias} restored${after}. This is a new shell: the previous one and its state were lost.${hint}`);
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** A terminal taken back from the session keeper after the window reloaded. */
export function reloadedLine(alias: string): string {
  return dimLine(
    `Terminal on ${alias} restored after the window reloaded: the shell kept running on the server (session keeper). Output printed before the reload is not shown again.`,
  );
}

/** Keys typed while the connection is down, held for the kept shell. */
export function heldLine(): string {
  return dimLine('Keys typed now are held and sent to this shell when the connection is back (Ctrl-C drops them).');
}

/** Held keys that will not be sent, and why. */
export function discardedLine(bytes: number, why: 'interrupt' | 'new-shell' | 'limit'): string {
  const keys = plural(bytes, 'held key');
  if (why === 'interrupt') return dimLine(`Ctrl-C: ${keys} dropped, not sent.`);
  if (why === 'limit') return dimLine(`Too much typed while the connection is down: ${plural(bytes, 'key')} not held and not sent.`);
  return dimLine(`${keys} not sent: they were meant for a shell that is gone, not for this new one.`);
}

/** The terminal runs without the session keeper: why, and what keeps it instead. */
export function fallbackLine(alias: string, reason: string, reattachEnabled: boolean): string {
  const instead = reattachEnabled ? 'tmux keeps this shell if the server has it' : 'a drop ends this shell';
  return dimLine(`The session keeper is not available on ${alias} (${reason}); ${instead}.`);
}

export function inputRefusedLine(): string {
  return dimLine('Keys typed while the connection is down are not sent; type them again once the shell is back.');
}

export function failedLine(alias: string, reason: string): string {
  return dimLine(`No shell on ${alias}: ${reason}. Run "SSH Keepalive: Reconnect" to try again, or close this terminal.`);
}

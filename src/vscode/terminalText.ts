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
export function restoredLine(alias: string, reattached: boolean, multiplexer: string | undefined, afterMs: number | undefined, reattachEnabled = true): string {
  const after = afterMs === undefined ? '' : ` after ${formatDuration(afterMs)}`;
  if (reattached) return dimLine(`Connection to ${alias} restored${after}; reattached to the ${multiplexer ?? 'remote'} session: nothing was lost.`);
  const hint = multiplexer ? '' : reattachEnabled ? ' Install tmux on the server to keep shells across drops.' : ' (sshKeepalive.reattach is off.)';
  return dimLine(`Connection to ${alias} restored${after}. This is a new shell: the previous one and its state were lost.${hint}`);
}

export function inputRefusedLine(): string {
  return dimLine('Keys typed while the connection is down are not sent; type them again once the shell is back.');
}

export function failedLine(alias: string, reason: string): string {
  return dimLine(`No shell on ${alias}: ${reason}. Run "SSH Keepalive: Reconnect" to try again, or close this terminal.`);
}

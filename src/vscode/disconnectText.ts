import type { ShellKeeping } from '../core/shell/keptShell';

/**
 * What Disconnect asks before it ends remote shells. Pure (no 'vscode'), unit-tested.
 */
export const disconnectButton = 'Disconnect';
export const keepShellsButton = 'Disconnect and Keep Shells';

export interface DisconnectQuestion {
  message: string;
  detail: string;
  buttons: string[];
}

/** A terminal's shell: kept by the session keeper, by tmux, not kept, or not known yet. */
export type TerminalKeeping = ShellKeeping | undefined;

/** The question, or undefined when no terminal is open (nothing of the user's ends). */
export function disconnectQuestion(aliases: readonly string[], keeping: readonly TerminalKeeping[]): DisconnectQuestion | undefined {
  const n = keeping.length;
  if (n === 0) return undefined;
  const where = aliases.length === 1 ? aliases[0] : `${aliases.length} hosts`;
  const terminals = `${n} terminal${n === 1 ? ' is' : 's are'} open on ${where}`;
  const kept = keeping.filter((k) => k === 'keeper' || k === 'tmux').length;
  const by = [...new Set(keeping.filter((k) => k === 'keeper' || k === 'tmux').map((k) => (k === 'keeper' ? 'the session keeper' : 'tmux')))].join(' and ');
  const lines = [
    `${terminals}. Disconnecting closes ${n === 1 ? 'it' : 'them'} and ends ${n === 1 ? 'its remote shell' : 'their remote shells'} and every process running in ${n === 1 ? 'it' : 'them'}.`,
  ];
  if (kept > 0) {
    lines.push(
      `"${keepShellsButton}" closes the terminal${n === 1 ? '' : 's'} here but leaves ${kept === n ? (n === 1 ? 'the shell' : 'the shells') : `${kept} of the shells`} running on the server (${by}), to be picked up again later.`,
    );
  }
  return {
    message: `Disconnect ${where}?`,
    detail: lines.join('\n\n'),
    buttons: kept > 0 ? [disconnectButton, keepShellsButton] : [disconnectButton],
  };
}

/**
 * Disconnect ran while the host was unreachable: what may still run on the server and how to
 * end it (nothing could be ended there). Undefined when no shell could have been left.
 */
export function leftRunningNote(alias: string, keeping: readonly TerminalKeeping[], keeperIdleHours: number): string | undefined {
  const tmux = keeping.filter((k) => k === 'tmux').length;
  const keeper = keeping.filter((k) => k === 'keeper').length;
  if (tmux + keeper === 0) return undefined;
  const parts: string[] = [];
  if (tmux) parts.push(`${tmux} in tmux (sessions named ska-…; list them with "ssh ${alias} tmux ls", end one with "tmux kill-session -t <name>")`);
  if (keeper) parts.push(`${keeper} in the session keeper (it ends them by itself after ${keeperIdleHours} h without a client)`);
  const n = tmux + keeper;
  return `${alias} could not be reached, so ${n === 1 ? 'its shell' : `its ${n} shells`} may still run there: ${parts.join('; ')}.`;
}

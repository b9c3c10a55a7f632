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

/** A terminal's shell as Disconnect sees it: what keeps it, and its tmux session when tmux does. */
export interface LeftShell {
  keeping: TerminalKeeping;
  tmuxSession?: string;
}

/**
 * Disconnect ran while the host was unreachable: what may still run on the server and how to
 * end it (nothing could be ended there). tmux sessions are named, with the one command that
 * ends each; the keeper's shells end by themselves once it has had no client for its idle
 * time. Each terminal has a tmux server of its own (`tmux -L <name>`, see core/shell/tmux.ts),
 * so a plain `tmux ls` would not show it. Undefined when no shell could have been left.
 */
export function leftRunningNote(alias: string, shells: readonly LeftShell[], keeperIdleHours: number): string | undefined {
  const tmux = shells.filter((s) => s.keeping === 'tmux');
  const keeper = shells.filter((s) => s.keeping === 'keeper').length;
  if (tmux.length + keeper === 0) return undefined;
  const parts: string[] = [];
  if (tmux.length) {
    const named = tmux.map((s) => s.tmuxSession).filter((n): n is string => !!n);
    const how =
      named.length === tmux.length
        ? `end ${named.length === 1 ? 'it' : 'them'} with ${named.map((n) => `"ssh ${alias} tmux -L ${n} kill-server"`).join(', ')}`
        : `list them with "ssh ${alias} 'ls \${TMUX_TMPDIR:-/tmp}/tmux-$(id -u)'" (sockets named ska-…), end one with "ssh ${alias} tmux -L <name> kill-server"`;
    parts.push(`${tmux.length} in tmux (${how})`);
  }
  if (keeper)
    parts.push(`${keeper} in the session keeper (it ends them by itself after ${keeperIdleHours} h without a client: sshKeepalive.keeper.idleTimeoutHours)`);
  const n = tmux.length + keeper;
  return `${alias} could not be reached, so ${n === 1 ? 'its shell' : `its ${n} shells`} may still run there: ${parts.join('; ')}.`;
}

import type { Logger } from '../core/base/logger';
import type { KeeperLink } from '../core/keeper/keeperLink';
import type { Session } from '../core/session/session';
import { KeptShell } from '../core/shell/keptShell';
import { describeShellState } from '../core/shell/shellState';

export interface InteractiveShellOptions {
  alias: string;
  reattach: boolean;
  command?: string;
  logger: Logger;
  /** The session keeper (undefined: --no-keeper). */
  keeper?: KeeperLink;
}

/** A dim status line on stderr, on its own line, never mixed into the remote output. */
function note(text: string): void {
  process.stderr.write(`\r\n\x1b[2m[ssh-keepalive] ${text}\x1b[0m\r\n`);
}

/**
 * The interactive terminal of the CLI: raw TTY in, remote pty out, resized on SIGWINCH.
 * The shell outlives outages: on the session keeper, keys typed while the connection is down
 * are held and delivered to the same shell (Ctrl-C drops them); without it (no python3 on the
 * server, --no-keeper) they are refused (said once per outage) and after the restore it is
 * the same tmux session when the host has tmux, or a new shell (and the user is told).
 * Resolves with the remote exit code.
 */
export async function runInteractiveShell(session: Session, opts: InteractiveShellOptions): Promise<{ code: number; shell: KeptShell }> {
  const shell = new KeptShell(
    session,
    opts.keeper,
    {
      term: process.env.TERM ?? 'xterm-256color',
      cols: process.stdout.columns || 80,
      rows: process.stdout.rows || 24,
      reattach: opts.reattach,
      id: `cli-${opts.alias}-${process.pid}`,
      command: opts.command,
    },
    { logger: opts.logger },
  );
  let droppedThisOutage = false;
  let heldThisOutage = false;
  let everOpen = false;
  shell.onDidData((d) => process.stdout.write(d));
  shell.onDidFallBack((reason) =>
    note(`the session keeper is not available (${reason}); ${opts.reattach ? 'tmux keeps the shell if the server has it' : 'a drop ends this shell'}`),
  );
  shell.onDidHoldInput(() => {
    if (heldThisOutage) return;
    heldThisOutage = true;
    note('keys typed now are held and sent to this shell when the connection is back (Ctrl-C drops them)');
  });
  shell.onDidDiscardInput((d) =>
    note(
      d.why === 'interrupt'
        ? `Ctrl-C: ${d.bytes} held byte(s) dropped`
        : d.why === 'limit'
          ? `too much typed while the connection is down: ${d.bytes} byte(s) not sent`
          : `${d.bytes} held byte(s) not sent: the shell they were meant for is gone`,
    ),
  );
  shell.onDidDropInput((d) => {
    if (droppedThisOutage) return;
    droppedThisOutage = true;
    note(`input not sent (${d.bytes} byte(s)): ${describeShellState(d.state)}`);
  });
  const done = new Promise<number>((resolve) =>
    shell.onDidChangeState((s) => {
      if (s.kind === 'open') everOpen = true;
      // A server that closes idle connections by policy was explained once in the log; its
      // every close is not worth two lines across the user's screen.
      if (s.kind === 'suspended') {
        if (!session.closedWhenIdle) note(`connection lost (${s.reason}); restoring...`);
      } else if (s.kind === 'open' && s.generation > 1) {
        droppedThisOutage = false;
        heldThisOutage = false;
        if (!(session.closedWhenIdle && s.reattached))
          note(
            s.reattached
              ? s.multiplexer === 'keeper'
                ? 'restored: the shell kept running on the server (session keeper), nothing was lost'
                : `restored: reattached to the same ${s.multiplexer ?? 'session'}`
              : 'restored: this is a NEW shell, the previous shell state was lost',
          );
      } else if (s.kind === 'exited') resolve(s.code ?? 255);
      else if (s.kind === 'failed') {
        // Before the terminal was ever ours, a refusal is one plain line, as ssh prints it.
        if (everOpen) note(s.reason);
        else process.stderr.write(`ssh-keepalive: ${s.reason}\n`);
        resolve(255);
      }
    }),
  );
  const onResize = () => shell.resize(process.stdout.columns || 80, process.stdout.rows || 24);
  process.stdout.on('resize', onResize);
  // A shell that failed or exited before it was ever open settles `done` through its state.
  const opened = await shell.start().then(
    () => true,
    () => false,
  );
  if (!opened) {
    process.stdout.off('resize', onResize);
    return { code: await done, shell };
  }
  const stdin = process.stdin;
  if (stdin.isTTY) stdin.setRawMode(true);
  stdin.setEncoding('utf8');
  const onInput = (d: string) => shell.write(d);
  stdin.on('data', onInput);
  try {
    return { code: await done, shell };
  } finally {
    process.stdout.off('resize', onResize);
    stdin.off('data', onInput);
    if (stdin.isTTY) stdin.setRawMode(false);
    stdin.pause();
  }
}

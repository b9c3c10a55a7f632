import type { Client } from 'ssh2';
import { checkEnvName, type Multiplexer, type MultiplexerLaunch, sanitizeId, shellQuote } from './multiplexer';
import { execCapture } from './remoteExec';

export interface TmuxOptions {
  /** tmux's status line; off by default so the terminal looks like a plain shell. */
  statusBar: boolean;
  /** Scrollback lines per pane: it is the terminal's scrollback after a reattach. */
  historyLimit: number;
}

export const defaultTmuxOptions: TmuxOptions = { statusBar: false, historyLimit: 50_000 };

/**
 * tmux, with one tmux server per terminal (`-L <name>`: its own socket under TMUX_TMPDIR
 * or /tmp/tmux-UID). Why a server each rather than sessions on the user's default server:
 * - our global options (status off, history) never touch the user's own tmux sessions;
 * - the server is started by our client, so it inherits `env K=V` from the launch command:
 *   the variables reach the shell on every tmux version and whatever sshd's AcceptEnv says
 *   (new-session -e needs tmux 3.2);
 * - ending the terminal is `kill-server`, which takes every window the user opened in it.
 * The user can still reach it by hand: `tmux -L <name> attach`.
 */
export class Tmux implements Multiplexer {
  readonly name = 'tmux';

  constructor(private readonly options: TmuxOptions = defaultTmuxOptions) {}

  async probe(client: Client, timeoutMs: number): Promise<boolean> {
    // `tmux -V` rather than `command -v tmux`: no shell builtin needed, so csh and fish answer too.
    const r = await execCapture(client, 'tmux -V', timeoutMs);
    return r.code === 0 && /tmux/i.test(r.stdout);
  }

  sessionName(id: string): string {
    return `ska-${sanitizeId(id)}`;
  }

  hasSessionCommand(sessionName: string): string {
    // '=' asks for this exact name; a bare name would also match a prefix of another.
    return join(['tmux', '-L', checkName(sessionName), 'has-session', '-t', `=${sessionName}`]);
  }

  launchCommand(sessionName: string, opts: MultiplexerLaunch): string {
    const name = checkName(sessionName);
    const env = Object.entries(opts.env ?? {}).map(([k, v]) => {
      checkEnvName(k);
      return `${k}=${v}`;
    });
    const pane = join(['sh', '-c', PANE_SCRIPT, 'ska-pane', ...(opts.command !== undefined ? [opts.command] : [])]);
    const history = String(Math.max(0, Math.floor(this.options.historyLimit)));
    return join(['sh', '-c', LAUNCH_SCRIPT, 'ska-tmux', name, this.options.statusBar ? 'on' : 'off', history, pane, ...env]);
  }

  killCommand(sessionName: string): string {
    return join(['sh', '-c', KILL_SCRIPT, 'ska-tmux', checkName(sessionName)]);
  }
}

/*
 * The scripts below are POSIX sh, passed as one quoted word to `sh -c`, so the user's login
 * shell (fish and csh included) only parses a simple command. They are one line (csh ends a
 * quoted word at a newline) without single quotes or backslashes (fish reads escapes there).
 *
 * tmux's client exits 0 with "[exited]" whatever the shell's status, and a tmux server leaves
 * its socket file behind when it ends. So the pane runs the shell under a small wrapper that
 * records its exit status next to the server's socket ($TMUX is "socket,pid,session"); the
 * launching client, once tmux returns and the server is gone, exits with that status and
 * removes both files. A client that merely detached (another client took over with -D) finds
 * the server still running and leaves them.
 */

/** In the pane: $1 is the command to run instead of the login shell, if any. */
const PANE_SCRIPT = [
  'f=${TMUX%%,*}.status',
  '[ -n "$TMUX" ] && rm -f "$f"',
  'if [ $# -gt 0 ]; then "${SHELL:-/bin/sh}" -c "$1"; else "${SHELL:-/bin/sh}" -l; fi',
  's=$?',
  '[ -n "$TMUX" ] && echo "$s" > "$f"',
  'exit "$s"',
].join('; ');

/** $1 name, $2 status bar on|off, $3 history limit, $4 the pane command, then NAME=value for the shell. */
const LAUNCH_SCRIPT = [
  'n=$1 bar=$2 hist=$3 pane=$4',
  'shift 4',
  'd=${TMUX_TMPDIR:-/tmp}/tmux-$(id -u)',
  // The variables go to the tmux server started here, so every tmux version passes them on
  // (new-session -e needs 3.2). Options are set in the same client command list: start-server
  // loads the user's tmux.conf, ours override it before the first pane (history-limit only
  // applies to panes created after it). -A attaches if the session exists; -D detaches the
  // ghost of this terminal still attached through a dead connection.
  'env "$@" tmux -L "$n" start-server ";" set-option -g status "$bar" ";" set-option -g history-limit "$hist" ";" new-session -A -D -s "$n" "$pane"',
  'c=$?',
  'if [ -f "$d/$n.status" ]; then if tmux -L "$n" has-session -t "=$n" 2>/dev/null; then exit "$c"; fi; read -r s < "$d/$n.status"; rm -f "$d/$n.status" "$d/$n"; exit "${s:-$c}"; fi',
  'exit "$c"',
].join('; ');

/**
 * $1 name: ends the server and removes what it leaves behind. The panes' wrappers outlive
 * kill-server by a few milliseconds and still write their status file, so the files go only
 * once those processes are gone (at most 2 s).
 */
const KILL_SCRIPT = [
  'p=$(tmux -L "$1" list-panes -a -F "#{pane_pid}" 2>/dev/null)',
  'tmux -L "$1" kill-server 2>/dev/null',
  'for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do a=; for q in $p; do kill -0 "$q" 2>/dev/null && a=1; done; [ -z "$a" ] && break; sleep 0.1; done',
  'd=${TMUX_TMPDIR:-/tmp}/tmux-$(id -u)',
  'rm -f "$d/$1" "$d/$1.status"',
].join('; ');

function checkName(name: string): string {
  if (!/^[A-Za-z0-9_-]+$/.test(name)) throw new Error(`invalid tmux session name ${JSON.stringify(name)}`);
  return name;
}

function join(words: string[]): string {
  return words.map(shellQuote).join(' ');
}

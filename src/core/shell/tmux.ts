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
    const words = [
      ...(env.length ? ['env', ...env] : []),
      'tmux', '-L', name,
      // Options first, in the same client command list: start-server loads the user's
      // tmux.conf, then ours override it before the first pane exists (history-limit only
      // applies to panes created after it is set). Re-applied on reattach; harmless.
      'start-server', ';',
      'set-option', '-g', 'status', this.options.statusBar ? 'on' : 'off', ';',
      'set-option', '-g', 'history-limit', String(Math.max(0, Math.floor(this.options.historyLimit))), ';',
      // -A: attach if it exists, else create. -D: detach other clients, i.e. the ghost of this
      // terminal still attached through a dead connection the server has not noticed yet.
      'new-session', '-A', '-D', '-s', name,
      ...(opts.command !== undefined ? [opts.command] : []),
    ];
    return join(words);
  }

  killCommand(sessionName: string): string {
    return join(['tmux', '-L', checkName(sessionName), 'kill-server']);
  }
}

function checkName(name: string): string {
  if (!/^[A-Za-z0-9_-]+$/.test(name)) throw new Error(`invalid tmux session name ${JSON.stringify(name)}`);
  return name;
}

function join(words: string[]): string {
  // ';' ends up quoted: tmux, not the shell, must see it (tmux's command separator).
  return words.map(shellQuote).join(' ');
}

import { createHash } from 'node:crypto';
import type { Client } from 'ssh2';

/** What the shell inside the multiplexer starts with. */
export interface MultiplexerLaunch {
  /** Variables for the shell; names already checked with `checkEnvName`. */
  env?: Readonly<Record<string, string>>;
  /** Run this instead of the login shell (as the session's first command). */
  command?: string;
}

/**
 * A terminal multiplexer on the remote host that keeps a shell running while no client
 * is attached: what lets a terminal come back with its jobs and scrollback after any
 * outage. tmux today; screen or zellij fit behind the same four questions.
 *
 * Every command returned is run by the remote user's login shell (`$SHELL -c`), so it is
 * built from sanitized names and quoted values only, in syntax that sh, bash, zsh and fish
 * read alike (single quotes, no redirections, no control flow).
 */
export interface Multiplexer {
  readonly name: string;
  /**
   * Whether it is installed remotely. Resolves false when it is not; rejects when the
   * question could not be asked (connection lost, timeout), so it can be asked again.
   */
  probe(client: Client, timeoutMs: number): Promise<boolean>;
  /** The remote session's name for a shell's stable id (only [A-Za-z0-9_-]). */
  sessionName(id: string): string;
  /** Exits 0 iff the session exists (checked before opening: that is what `reattached` reports). */
  hasSessionCommand(sessionName: string): string;
  /** Run in the pty channel: attaches if the session exists, else creates it. */
  launchCommand(sessionName: string, opts: MultiplexerLaunch): string;
  /** Ends the session and everything running in it. */
  killCommand(sessionName: string): string;
}

const MAX_ID = 40;

/**
 * An id as a name fit for a remote command line: [A-Za-z0-9_-] only. Ids that had to change
 * get a hash of the original appended, so two ids never map to one name.
 */
export function sanitizeId(id: string): string {
  // Never a leading '-': a command line would read the name as an option.
  const clean = id
    .replace(/[^A-Za-z0-9_-]/g, '_')
    .replace(/^-/, '_')
    .slice(0, MAX_ID);
  if (clean === id && id.length > 0) return id;
  return `${clean || 'id'}-${createHash('sha256').update(id).digest('hex').slice(0, 8)}`;
}

/** POSIX shell quoting; plain words stay bare so commands read well in logs. */
export function shellQuote(word: string): string {
  // '=' is not bare: zsh expands a word starting with it ("=cmd" is the path of cmd);
  // nor '%' (process expansion in older fish).
  if (/^[A-Za-z0-9_./:,+@-]+$/.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Environment names go to remote command lines and SSH env requests: identifiers only. */
export function checkEnvName(name: string): void {
  if (!ENV_NAME.test(name)) throw new Error(`invalid environment variable name ${JSON.stringify(name)}`);
}

/**
 * Commands from ssh_config (ProxyCommand, Match exec) run through a shell after %-token
 * expansion, so a host name or user that reaches them must not carry shell syntax.
 * OpenSSH's answer to CVE-2023-51385 (readconf.c ssh_valid_hostname / ssh_valid_ruser,
 * checked in ssh.c before the config is read) is copied here character for character:
 * a hostile name in a repository's link (`ssh://$(touch x)@host`, an alias from a
 * submodule URL) then stops with an error instead of running.
 */
import { ConfigError } from './types';

/** ssh_valid_hostname: no leading '-', no shell metacharacters, no whitespace or control characters. */
export function isSafeHostForCommand(s: string): boolean {
  if (s.startsWith('-')) return false;
  // eslint-disable-next-line no-control-regex
  return !/['`"$\\;&<>|(){},\s\x00-\x1f\x7f]/.test(s);
}

/** ssh_valid_ruser: like a host name but `$` and inner spaces pass; no '-' after a space, no trailing '\'. */
export function isSafeUserForCommand(s: string): boolean {
  if (s.startsWith('-')) return false;
  // eslint-disable-next-line no-control-regex
  if (/['`";&<>|(){}\x00-\x1f\x7f]/.test(s)) return false;
  if (/\s-/.test(s)) return false;
  return !s.endsWith('\\');
}

/**
 * Refuses the values that would be expanded into a command when they could inject into it:
 * the name as typed (%n, and %h when HostName is unset), the HostName, and the user.
 * ssh checks the command-line host and a user given on the command line or expanded; we
 * check every one of them whenever a command will run (stricter: a HostName with shell
 * syntax names no real host anyway).
 */
export function checkTokensForCommand(values: { alias: string; hostName: string; user: string }, what: string): void {
  for (const [kind, value] of [
    ['host name', values.alias],
    ['HostName', values.hostName],
  ] as const) {
    if (!isSafeHostForCommand(value)) {
      throw new ConfigError(`${kind} "${value}" contains characters that are not allowed in a host name; refusing to run ${what} with it`);
    }
  }
  if (!isSafeUserForCommand(values.user)) {
    throw new ConfigError(`user "${values.user}" contains characters that are not allowed in a user name; refusing to run ${what} with it`);
  }
}

/**
 * Expansion of `~`, `${VAR}` and `%x` tokens in path-like ssh_config values
 * (ssh_config(5) "TOKENS" and "ENVIRONMENT VARIABLES"). Nothing here runs a shell:
 * values are substituted as plain strings, which is what keeps a hostile host name from
 * becoming a command (CVE-2023-51385 was about exactly that).
 */
import * as path from 'node:path';
import { ConfigError } from './types';

/**
 * `~` and `~/x` only (also `~\x` on Windows, as OpenSSH for Windows reads it): `~user` would
 * need a passwd lookup that we deliberately do not do.
 */
export function expandTilde(value: string, homeDir: string, where: string, paths: path.PlatformPath = path): string {
  if (value === '~') return homeDir;
  if (value.startsWith('~/') || (paths === path.win32 && value.startsWith('~\\'))) return paths.join(homeDir, value.slice(2));
  if (value.startsWith('~')) {
    throw new ConfigError(`${where}: "${value}" uses ~user, which is not supported; write the full path`);
  }
  return value;
}

/** `${NAME}` from the environment; an unset variable is an error, as in ssh. */
export function expandEnv(value: string, env: NodeJS.ProcessEnv, where: string): string {
  let out = '';
  let i = 0;
  while (i < value.length) {
    const start = value.indexOf('${', i);
    if (start < 0) {
      out += value.slice(i);
      break;
    }
    const end = value.indexOf('}', start + 2);
    if (end < 0) throw new ConfigError(`${where}: unterminated \${ in "${value}"`);
    const name = value.slice(start + 2, end);
    const v = env[name];
    if (v === undefined) throw new ConfigError(`${where}: environment variable "${name}" used in "${value}" is not set`);
    out += value.slice(i, start) + v;
    i = end + 1;
  }
  return out;
}

/**
 * `%x` substitution from `tokens` (one letter each); `%%` is a literal percent. An
 * unknown token is an error rather than being left in place, because a path with a
 * stray `%C` silently pointing nowhere is harder to debug than a clear message.
 */
export function expandPercent(value: string, tokens: Readonly<Record<string, string>>, where: string): string {
  let out = '';
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    if (c !== '%') {
      out += c;
      continue;
    }
    const t = value[++i];
    if (t === undefined) throw new ConfigError(`${where}: "${value}" ends with a lone %`);
    if (t === '%') {
      out += '%';
    } else if (Object.prototype.hasOwnProperty.call(tokens, t)) {
      out += tokens[t];
    } else {
      throw new ConfigError(`${where}: unknown token %${t} in "${value}"`);
    }
  }
  return out;
}

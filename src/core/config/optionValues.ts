/**
 * Validation of scalar ssh_config values. Every error names the option, the value and
 * where it came from, because the user fixes it by editing that exact line.
 */
import { MAX_TIMER_MS } from '../base/clock';
import { formatSource } from './configFile';
import type { Setting } from './configEval';
import { portFromText } from './servicePort';
import { ConfigError, type StrictHostKeyChecking } from './types';

function bad(setting: Setting, expected: string): ConfigError {
  const where = formatSource(setting.source);
  return new ConfigError(
    `${where}: bad ${setting.name} value "${setting.text}": expected ${expected}`,
    setting.source.file === 'command line' ? undefined : setting.source.file,
    setting.source.file === 'command line' ? undefined : setting.source.line,
  );
}

export function parseYesNo(setting: Setting): boolean {
  const v = setting.text.toLowerCase();
  if (v === 'yes' || v === 'true') return true;
  if (v === 'no' || v === 'false') return false;
  throw bad(setting, '"yes" or "no"');
}

/** Port: a number from 1 to 65535 or a TCP service name (`Port ssh`), as ssh's a2port(). */
export function parsePort(setting: Setting): number {
  const n = portFromText(setting.text);
  if (n !== undefined && n >= 1) return n;
  throw bad(setting, 'a port number from 1 to 65535 or a service name such as "ssh"');
}

export function parseCount(setting: Setting): number {
  if (/^\d{1,9}$/.test(setting.text)) return Number(setting.text);
  throw bad(setting, 'a whole number');
}

const UNIT_SECONDS: Record<string, number> = { '': 1, s: 1, m: 60, h: 3600, d: 86400, w: 604800 };

/** OpenSSH's time format (sshd_config(5) "TIME FORMATS"): "30", "30s", "1m30s", "2h". */
export function parseDuration(setting: Setting): number {
  const text = setting.text.toLowerCase();
  if (!/^(\d+[smhdw]?)+$/.test(text)) throw bad(setting, 'seconds, optionally with units such as 30s, 5m or 1h30m');
  let total = 0;
  for (const m of text.matchAll(/(\d+)([smhdw]?)/g)) total += Number(m[1]) * UNIT_SECONDS[m[2]];
  // ssh's convtime() refuses what does not fit an int.
  if (total > INT_MAX) throw bad(setting, `at most ${INT_MAX} seconds`);
  return total;
}

const INT_MAX = 2 ** 31 - 1;

/**
 * The longest duration a timer can wait, in whole seconds (Node's timers overflow above
 * 2^31-1 ms, about 24.8 days, and then fire after 1 ms: a reconnect storm).
 */
export const MAX_TIMER_SECONDS = Math.floor(MAX_TIMER_MS / 1000);

/**
 * A duration that ssh accepts but no timer can wait for is clamped, with a warning: a
 * config that works with ssh must not stop working here over a value that large.
 */
export function boundedDuration(setting: Setting, note: (message: string) => void): number {
  const seconds = parseDuration(setting);
  if (seconds <= MAX_TIMER_SECONDS) return seconds;
  note(
    `${formatSource(setting.source)}: ${setting.name} ${setting.text} is longer than the longest timer (${MAX_TIMER_SECONDS} s, about 24.8 days); using ${MAX_TIMER_SECONDS} s`,
  );
  return MAX_TIMER_SECONDS;
}

export function parseStrictHostKeyChecking(setting: Setting): StrictHostKeyChecking {
  switch (setting.text.toLowerCase()) {
    case 'yes':
    case 'true':
      return 'yes';
    case 'no':
    case 'false':
      return 'no';
    case 'off':
      return 'off';
    case 'ask':
      return 'ask';
    case 'accept-new':
      return 'accept-new';
    default:
      throw bad(setting, '"yes", "no", "ask", "accept-new" or "off"');
  }
}

/** Wrap an error from a parser that knows nothing of files (forwards, tokens) with file:line. */
export function withSource(setting: Setting, err: unknown): ConfigError {
  const message = err instanceof Error ? err.message : String(err);
  const inFile = setting.source.file !== 'command line';
  return new ConfigError(
    `${formatSource(setting.source)}: ${setting.name}: ${message}`,
    inFile ? setting.source.file : undefined,
    inFile ? setting.source.line : undefined,
  );
}

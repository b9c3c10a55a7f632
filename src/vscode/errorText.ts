/**
 * Where an error points, read from core's messages, so that the notification can open the
 * file at the line. Pure (no 'vscode').
 */
import type { ConfigError } from '../core/config/types';

/** "…does not match /home/u/.ssh/known_hosts:3. …" → file and line, for the Open action. */
export function knownHostsLocation(message: string): { file: string; line: number } | undefined {
  const m = /does not match (\/.+?|[A-Za-z]:\\.+?):(\d+)\./.exec(message);
  return m ? { file: m[1], line: Number(m[2]) } : undefined;
}

/** Where a ConfigError points: its own fields, else the "file:line:" its message starts with. */
export function configLocation(err: ConfigError): { file: string; line?: number } | undefined {
  if (err.file) return { file: err.file, line: err.line };
  const m = /^(\/[^:]+|[A-Za-z]:\\[^:]+):(\d+):/.exec(err.message);
  return m ? { file: m[1], line: Number(m[2]) } : undefined;
}


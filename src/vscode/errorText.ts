/**
 * Where a config error points, so that the notification can open the file at the line.
 * Session errors carry their location as data (SessionError.location). Pure (no 'vscode').
 */
import type { ConfigError } from '../core/config/types';

/** Where a ConfigError points: its own fields, else the "file:line:" its message starts with. */
export function configLocation(err: ConfigError): { file: string; line?: number } | undefined {
  if (err.file) return { file: err.file, line: err.line };
  const m = /^(\/[^:]+|[A-Za-z]:\\[^:]+):(\d+):/.exec(err.message);
  return m ? { file: m[1], line: Number(m[2]) } : undefined;
}

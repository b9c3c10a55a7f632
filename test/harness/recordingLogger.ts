import assert from 'node:assert/strict';
import type { Logger } from '../../src/core/base/logger';

export type LogLevel = keyof Logger;

/**
 * A Logger that keeps every line at every level, trace included: the most verbose a user
 * can ask for. Tests that handle secrets log here and then check that no secret was written
 * (a logger that discards everything would hide a password printed at debug level).
 */
export interface RecordingLogger extends Logger {
  readonly lines: ReadonlyArray<{ level: LogLevel; message: string }>;
  text(): string;
}

export function recordingLogger(): RecordingLogger {
  const lines: Array<{ level: LogLevel; message: string }> = [];
  const at = (level: LogLevel) => (message: string) => void lines.push({ level, message });
  return {
    lines,
    text: () => lines.map((l) => `${l.level}: ${l.message}`).join('\n'),
    trace: at('trace'),
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
  };
}

/**
 * Fails when any secret appears in `texts` (log lines, serialized events, error messages),
 * whole or JSON-escaped. `where` names what was searched, for the failure message.
 */
export function assertNoSecrets(secrets: string[], texts: string[], where: string): void {
  for (const secret of secrets) {
    const forms = new Set([secret, JSON.stringify(secret).slice(1, -1)]);
    for (const text of texts) {
      for (const form of forms) {
        assert.ok(!text.includes(form), `a secret (${secret.length} characters) appears in ${where}: ${text.slice(0, 300)}`);
      }
    }
  }
}

import type { Logger } from '../core/base/logger';

/** -v levels as in ssh: 0 warnings and errors, 1 info, 2 debug, 3 trace. -q silences warnings. */
export function stderrLogger(verbose: number, quiet: boolean): Logger {
  const line = (level: string) => (m: string) => process.stderr.write(`ssh-keepalive: ${level}${m}\n`);
  const off = () => undefined;
  return {
    error: line(''),
    warn: quiet ? off : line('warning: '),
    info: verbose >= 1 ? line('') : off,
    debug: verbose >= 2 ? line('debug: ') : off,
    trace: verbose >= 3 ? line('trace: ') : off,
  };
}

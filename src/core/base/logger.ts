/** Log sink for core. Messages must never contain secrets (passwords, passphrases, key material). */
export interface Logger {
  trace(message: string): void;
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

export const nullLogger: Logger = {
  trace() {},
  debug() {},
  info() {},
  warn() {},
  error() {},
};

/** Prefixes every message, e.g. with the host alias. */
export function prefixed(logger: Logger, prefix: string): Logger {
  return {
    trace: (m) => logger.trace(`[${prefix}] ${m}`),
    debug: (m) => logger.debug(`[${prefix}] ${m}`),
    info: (m) => logger.info(`[${prefix}] ${m}`),
    warn: (m) => logger.warn(`[${prefix}] ${m}`),
    error: (m) => logger.error(`[${prefix}] ${m}`),
  };
}

import type { ForwardRegistryOptions } from '../../src/core/forward/registry';
import type { SessionOptions } from '../../src/core/session/session';

/**
 * Session options for tests on loopback: keepalive every 300 ms (dead after two misses),
 * small backoff and short deadlines, so losses and restores take a second, not a minute.
 * A test that needs one value otherwise spreads this and overrides it.
 */
export const fastSession: Partial<SessionOptions> = {
  keepalive: { intervalMs: 300, countMax: 2, demandMinMs: 400, demandRttFactor: 4, quietMs: 200 },
  backoff: { initialMs: 100, maxMs: 400, factor: 2, minMs: 50 },
  pathDownRetryMs: { min: 50, max: 100 },
  reconnectTcpTimeoutMs: 500,
  connectTimeoutMs: 3000,
};

/** -R retries within about a second while the server still holds the port. */
export const fastRetry: ForwardRegistryOptions = { remote: { retry: { initialMs: 300, maxMs: 1500, factor: 2, minMs: 200 } } };

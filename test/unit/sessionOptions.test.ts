import assert from 'node:assert/strict';
import { test } from 'node:test';
import { defaultBackoff } from '../../src/core/base/backoff';
import type { ResolvedHost } from '../../src/core/config/types';
import { defaultKeepaliveOptions } from '../../src/core/liveness/keepalive';
import { sessionOptionsFor } from '../../src/core/session/session';

/** How ssh_config and our defaults become SessionOptions: ssh_config wins, ours fill in. */

const host = (o: Partial<ResolvedHost> = {}): ResolvedHost => ({
  alias: 'h',
  hostName: 'h.example',
  port: 22,
  user: 'me',
  identityFiles: [],
  identitiesOnly: false,
  proxyJump: [],
  strictHostKeyChecking: 'ask',
  userKnownHostsFiles: [],
  localForwards: [],
  remoteForwards: [],
  dynamicForwards: [],
  unsupported: [],
  ...o,
});

test('without ssh_config values or defaults: the documented figures', () => {
  assert.deepEqual(sessionOptionsFor(host()), {
    backoff: defaultBackoff,
    reconnectTcpTimeoutMs: 1500,
    pathDownRetryMs: { min: 100, max: 500 },
    pathDownMinCycleMs: 1000,
    authTimeoutMs: 15_000,
    stableAfterMs: 30_000,
    connectTimeoutMs: 15_000,
    keepalive: defaultKeepaliveOptions,
  });
});

test('ServerAliveInterval (s) and ServerAliveCountMax from ssh_config win over the defaults', () => {
  const o = sessionOptionsFor(host({ serverAliveInterval: 7, serverAliveCountMax: 5 }), {
    keepalive: { ...defaultKeepaliveOptions, intervalMs: 1, countMax: 9 },
  });
  assert.equal(o.keepalive.intervalMs, 7000);
  assert.equal(o.keepalive.countMax, 5);
  assert.equal(o.keepalive.quietMs, defaultKeepaliveOptions.quietMs, 'the rest from the defaults');
  // ServerAliveInterval 0 turns periodic probes off, as in ssh.
  assert.equal(sessionOptionsFor(host({ serverAliveInterval: 0 })).keepalive.intervalMs, 0);
  // ssh treats ServerAliveCountMax 0 like 1: one silent interval.
  assert.equal(sessionOptionsFor(host({ serverAliveCountMax: 0 })).keepalive.countMax, 1);
  // Our defaults apply where ssh_config says nothing, and do not leak into the shared default object.
  const ours = sessionOptionsFor(host(), { keepalive: { ...defaultKeepaliveOptions, intervalMs: 4000 } });
  assert.equal(ours.keepalive.intervalMs, 4000);
  sessionOptionsFor(host({ serverAliveInterval: 3 }));
  assert.equal(defaultKeepaliveOptions.intervalMs, 15_000, 'the shared defaults are never modified');
});

test('ConnectTimeout (s) sets the first-connect deadline and bounds the reconnect TCP deadline', () => {
  const short = sessionOptionsFor(host({ connectTimeout: 1 }));
  assert.equal(short.connectTimeoutMs, 1000);
  assert.equal(short.reconnectTcpTimeoutMs, 1000, 'never longer than ConnectTimeout');
  assert.equal(short.authTimeoutMs, 15_000, 'authentication gets at least 15 s');
  const long = sessionOptionsFor(host({ connectTimeout: 40 }));
  assert.equal(long.connectTimeoutMs, 40_000);
  assert.equal(long.reconnectTcpTimeoutMs, 1500, 'a reconnect SYN is cheap: short deadline');
  assert.equal(long.authTimeoutMs, 40_000, 'and at least ConnectTimeout');
  assert.equal(sessionOptionsFor(host({ connectTimeout: 40 }), { connectTimeoutMs: 2000 }).connectTimeoutMs, 40_000, 'ssh_config wins');
  assert.equal(sessionOptionsFor(host(), { connectTimeoutMs: 2000 }).connectTimeoutMs, 2000);
});

test('every default can be overridden', () => {
  const d = {
    backoff: { initialMs: 1, maxMs: 2, factor: 3, minMs: 1 },
    reconnectTcpTimeoutMs: 11,
    pathDownRetryMs: { min: 12, max: 13 },
    pathDownMinCycleMs: 14,
    authTimeoutMs: 15,
    stableAfterMs: 16,
    connectTimeoutMs: 17,
  };
  const o = sessionOptionsFor(host(), d);
  assert.deepEqual({ ...o, keepalive: undefined }, { ...d, keepalive: undefined });
});

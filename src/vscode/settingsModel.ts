/**
 * The extension's settings as plain values, and how they become core's session defaults.
 * Pure (no 'vscode'): the values are read in settings.ts.
 */
import { defaultBackoff } from '../core/base/backoff';
import { defaultKeepaliveOptions } from '../core/liveness/keepalive';
import type { SessionOptions } from '../core/session/session';

export interface ExtensionSettings {
  /** Host aliases connected on startup. */
  autoConnect: string[];
  /** ssh_config path; undefined means ~/.ssh/config. */
  configFile: string | undefined;
  /** Seconds; used when ssh_config has no ServerAliveInterval. */
  keepaliveInterval: number;
  /** Used when ssh_config has no ServerAliveCountMax. */
  keepaliveCountMax: number;
  /** Opt-in: learn this network's idle timeout and refresh the NAT with TCP keepalives under it. */
  keepaliveLearn: boolean;
  /** Seconds: cap of the reconnect backoff. */
  reconnectMaxDelay: number;
  /** Run terminals in tmux on the server and reattach after a reconnect. */
  reattach: boolean;
  slowRttMs: number;
  statusBarMaxItems: number;
  /** Opt-in: end the stale sshd process that still holds a remote forward's port. */
  reclaimStaleRemoteForwards: boolean;
  /** Run terminals on the session keeper (python3 on the server) so nothing is lost in an outage. */
  keeperEnabled: boolean;
  /** Hours the keeper stays with no client attached before it ends (with its shells). */
  keeperIdleHours: number;
  /** MiB each terminal may have in flight while the connection is down, per direction. */
  keeperBufferMiB: number;
}

export const defaultSettings: ExtensionSettings = {
  autoConnect: [],
  configFile: undefined,
  keepaliveInterval: 15,
  keepaliveCountMax: 3,
  keepaliveLearn: false,
  reconnectMaxDelay: 30,
  reattach: true,
  slowRttMs: 300,
  statusBarMaxItems: 3,
  reclaimStaleRemoteForwards: false,
  keeperEnabled: true,
  keeperIdleHours: 24,
  keeperBufferMiB: 8,
};

/** Clamps what a hand-edited settings.json may contain into sane ranges. */
export function normalizeSettings(raw: Partial<Record<keyof ExtensionSettings, unknown>>): ExtensionSettings {
  const num = (v: unknown, d: number, min: number, max: number) => (typeof v === 'number' && Number.isFinite(v) ? Math.min(max, Math.max(min, v)) : d);
  const aliases = Array.isArray(raw.autoConnect)
    ? raw.autoConnect.filter((a): a is string => typeof a === 'string' && a.trim() !== '').map((a) => a.trim())
    : [];
  const file = typeof raw.configFile === 'string' && raw.configFile.trim() !== '' ? raw.configFile.trim() : undefined;
  return {
    autoConnect: [...new Set(aliases)],
    configFile: file,
    keepaliveInterval: num(raw.keepaliveInterval, defaultSettings.keepaliveInterval, 0, 3600),
    keepaliveCountMax: Math.round(num(raw.keepaliveCountMax, defaultSettings.keepaliveCountMax, 1, 100)),
    keepaliveLearn: raw.keepaliveLearn === true,
    reconnectMaxDelay: num(raw.reconnectMaxDelay, defaultSettings.reconnectMaxDelay, 1, 3600),
    reattach: typeof raw.reattach === 'boolean' ? raw.reattach : defaultSettings.reattach,
    slowRttMs: num(raw.slowRttMs, defaultSettings.slowRttMs, 1, 60_000),
    statusBarMaxItems: Math.round(num(raw.statusBarMaxItems, defaultSettings.statusBarMaxItems, 1, 20)),
    reclaimStaleRemoteForwards: raw.reclaimStaleRemoteForwards === true,
    keeperEnabled: typeof raw.keeperEnabled === 'boolean' ? raw.keeperEnabled : defaultSettings.keeperEnabled,
    keeperIdleHours: num(raw.keeperIdleHours, defaultSettings.keeperIdleHours, 0.01, 24 * 30),
    keeperBufferMiB: Math.round(num(raw.keeperBufferMiB, defaultSettings.keeperBufferMiB, 1, 256)),
  };
}

/** Our settings as core's defaults; the host's own ssh_config values still win in sessionOptionsFor. */
export function sessionDefaults(s: ExtensionSettings): Partial<SessionOptions> {
  const maxMs = Math.round(s.reconnectMaxDelay * 1000);
  return {
    keepalive: { ...defaultKeepaliveOptions, intervalMs: Math.round(s.keepaliveInterval * 1000), countMax: s.keepaliveCountMax },
    backoff: { ...defaultBackoff, maxMs, initialMs: Math.min(defaultBackoff.initialMs, maxMs), minMs: Math.min(defaultBackoff.minMs, maxMs) },
  };
}

import { formatSshG } from '../core/config/dumpConfig';
import type { EffectiveConfig } from '../core/config/sshConfig';
import type { ResolvedHost } from '../core/config/types';
import { sessionOptionsFor } from '../core/session/session';

/** `-G`: what `ssh -G` prints, for the options ssh-keepalive uses, with its own defaults where the config is silent. */
export function printConfig(host: ResolvedHost, config: EffectiveConfig): string {
  const options = sessionOptionsFor(host);
  return formatSshG(host, config, {
    serverAliveInterval: options.keepalive.intervalMs / 1000,
    serverAliveCountMax: options.keepalive.countMax,
    connectTimeout: options.connectTimeoutMs / 1000,
  });
}

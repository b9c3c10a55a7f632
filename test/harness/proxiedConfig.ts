import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SshdHandle } from '../../tools/peers/sshd';

/**
 * An ssh_config (path) that reaches `server` through a loopback proxy on `proxyPort` (e.g. a
 * fault proxy), with a known_hosts line of its own for that port.
 */
export function configThroughProxy(server: SshdHandle, proxyPort: number): string {
  const knownHosts = join(server.dir, `known_hosts_${proxyPort}`);
  writeFileSync(knownHosts, `[127.0.0.1]:${proxyPort} ${server.hostKeyPublicLine}\n`);
  const config = join(server.dir, `proxy_config_${proxyPort}`);
  writeFileSync(
    config,
    readFileSync(server.sshConfigPath, 'utf8')
      .replace(/Port \d+/, `Port ${proxyPort}`)
      .replace(server.knownHostsPath, knownHosts),
  );
  return config;
}

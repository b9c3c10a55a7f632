import * as fs from 'node:fs';
import { interfaceFingerprint } from '../base/environment';

/**
 * Which network the machine is on, for remembering what its NAT tolerates: the default
 * gateway (where Linux tells it, /proc/net/route) and the set of the machine's addresses.
 * The gateway tells apart two networks that hand out the same addresses (two home routers
 * on 192.168.1.0/24); the addresses tell apart the rest. Elsewhere the addresses alone.
 */
export function networkKey(readRoutes: () => string | undefined = readProcRoutes, interfaces: () => string = interfaceFingerprint): string {
  const gateway = defaultGateway(readRoutes());
  return `${gateway ? `gw ${gateway}` : 'gw ?'} | ${interfaces()}`;
}

function readProcRoutes(): string | undefined {
  try {
    return fs.readFileSync('/proc/net/route', 'utf8');
  } catch {
    return undefined;
  }
}

/** "eth0 192.168.2.1" from /proc/net/route's default route (lowest metric), or undefined. */
export function defaultGateway(routes: string | undefined): string | undefined {
  if (!routes) return undefined;
  let best: { name: string; metric: number } | undefined;
  for (const line of routes.split('\n').slice(1)) {
    const [iface, destination, gateway, flags, , , metric, mask] = line.trim().split(/\s+/);
    // Default route (destination and mask 0), up (flag 1) and via a gateway (flag 2).
    if (destination !== '00000000' || mask !== '00000000' || !gateway || (Number.parseInt(flags, 16) & 3) !== 3) continue;
    const m = Number(metric);
    const name = `${iface} ${hexToIpv4(gateway)}`;
    if (!best || m < best.metric) best = { name, metric: m };
  }
  return best?.name;
}

/** /proc/net/route writes addresses as little-endian hex: 010200C0 is 192.0.2.1. */
function hexToIpv4(hex: string): string {
  const n = Number.parseInt(hex, 16);
  return [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff].join('.');
}

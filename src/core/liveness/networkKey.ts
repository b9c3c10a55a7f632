import * as fs from 'node:fs';
import { networkInterfaces, type NetworkInterfaceInfo } from 'node:os';

/**
 * Which network the machine is on, for remembering what its NAT tolerates: the default
 * gateway (where Linux tells it, /proc/net/route) and the set of the machine's addresses.
 * The gateway tells apart two networks that hand out the same addresses (two home routers
 * on 192.168.1.0/24); the addresses tell apart the rest. Elsewhere the addresses alone.
 */
export function networkKey(readRoutes: () => string | undefined = readProcRoutes, interfaces: () => string = () => addressSet(networkInterfaces())): string {
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

/**
 * The machine's non-internal addresses, as stable as the network is: IPv4 addresses whole,
 * IPv6 by their /64 prefix (privacy extensions change the rest every day), link-local IPv6
 * left out (it says nothing about the network, and a new virtual interface gets a new one).
 */
export function addressSet(interfaces: NodeJS.Dict<NetworkInterfaceInfo[]>): string {
  const parts = new Set<string>();
  for (const [name, addrs] of Object.entries(interfaces)) {
    for (const a of addrs ?? []) {
      if (a.internal) continue;
      if (a.family === 'IPv4') parts.add(`${name}/${a.address}`);
      else if (!/^fe[89ab]/i.test(a.address)) parts.add(`${name}/${ipv6Prefix64(a.address)}::/64`);
    }
  }
  return [...parts].sort().join(',');
}

/** The first four groups of an IPv6 address, "::" expanded: 2001:db8::1 -> 2001:db8:0:0. */
function ipv6Prefix64(address: string): string {
  const [head, tail = ''] = address.split('%')[0].split('::');
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = address.includes('::') ? [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t] : h;
  return groups
    .slice(0, 4)
    .map((g) => g.replace(/^0+(?=.)/, '').toLowerCase())
    .join(':');
}

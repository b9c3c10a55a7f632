import type { Natlab } from '../../tools/peers/natlab';

/**
 * Bytes on the wire of one TCP flow through the natlab's router, both ways, counted by
 * iptables rules without a target at the top of the router's FORWARD chain (FORWARD sees the
 * client's own address and port both ways: SNAT is applied after it, un-NAT before it).
 */
export class FlowBytes {
  private constructor(
    private readonly natlab: Natlab,
    private readonly tag: string,
    private readonly rules: string[][],
  ) {}

  static count(natlab: Natlab, clientPort: number, tag: string): Promise<FlowBytes> {
    return FlowBytes.rules(natlab, tag, [
      ['-p', 'tcp', '-s', natlab.clientAddr, '--sport', String(clientPort), '-m', 'comment', '--comment', `${tag}-up`],
      ['-p', 'tcp', '-d', natlab.clientAddr, '--dport', String(clientPort), '-m', 'comment', '--comment', `${tag}-down`],
    ]);
  }

  /** Whatever one iptables match (`-p tcp --syn ...`) sees in the router's FORWARD chain. */
  static countRule(natlab: Natlab, match: string[], tag: string): Promise<FlowBytes> {
    return FlowBytes.rules(natlab, tag, [[...match, '-m', 'comment', '--comment', `${tag}-all`]]);
  }

  private static async rules(natlab: Natlab, tag: string, rules: string[][]): Promise<FlowBytes> {
    for (const r of rules) {
      const out = await natlab.exec(natlab.routerNs, 'iptables', ['-I', 'FORWARD', '1', ...r]);
      if (out.code !== 0) throw new Error(`iptables: ${out.stderr}`);
    }
    return new FlowBytes(natlab, tag, rules);
  }

  /** Packets and bytes (IP headers included) counted so far, both directions together. */
  async read(): Promise<{ packets: number; bytes: number }> {
    const out = await this.natlab.exec(this.natlab.routerNs, 'iptables', ['-nvxL', 'FORWARD']);
    let packets = 0;
    let bytes = 0;
    for (const line of out.stdout.split('\n')) {
      if (!line.includes(`/* ${this.tag}-`)) continue;
      const [p, b] = line.trim().split(/\s+/);
      packets += Number(p);
      bytes += Number(b);
    }
    return { packets, bytes };
  }

  async dispose(): Promise<void> {
    for (const r of this.rules) await this.natlab.exec(this.natlab.routerNs, 'iptables', ['-D', 'FORWARD', ...r]);
  }
}

/** The client-side port of the established SSH flow (to port 22) owned by process `pid` in the client namespace. */
export async function sshFlowPort(natlab: Natlab, pid: number): Promise<number | undefined> {
  const out = await natlab.exec(natlab.clientNs, 'ss', ['-tnpH', 'state', 'established', 'dport', '=', ':22']);
  for (const line of out.stdout.split('\n')) {
    if (!line.includes(`pid=${pid},`)) continue;
    const local = line.trim().split(/\s+/)[2];
    return Number(local.slice(local.lastIndexOf(':') + 1));
  }
  return undefined;
}

/** `ss -tie` of that flow (its keepalive timer shows whether the kernel refreshes it), for diagnostics. */
export async function flowTimer(natlab: Natlab, clientPort: number): Promise<string> {
  const out = await natlab.exec(natlab.clientNs, 'ss', ['-tnoH', 'state', 'established', 'sport', '=', `:${clientPort}`]);
  return out.stdout.trim();
}

import * as path from 'node:path';
import { sleep } from '../../test/harness/bounded';
import { startClient, tools, type Tool } from '../../test/harness/forwardClient';
import { bursts, captureLoopback } from '../lib/pcap';
import { pathLabel, type PathKind, type Rig } from '../lib/rig';

import { fixed, row, type Row } from '../lib/table';
import type { Mode } from './mode';

/**
 * Bytes and packets on the wire (IP and TCP headers included, as tcpdump sees them on
 * loopback) per keepalive exchange of an idle connection with ServerAliveInterval 1, and what
 * that makes per hour at ServerAliveInterval 15 (ssh-keepalive's default; ssh sends none
 * unless told). One tool at a time, so the capture holds only its connection. With default
 * ciphers ssh uses chacha20-poly1305 (8-byte padding blocks) and ssh-keepalive aes128-gcm
 * (16-byte blocks); the aes128-gcm server is the same-cipher control.
 */
export async function keepaliveWire(rig: Rig, mode: Mode): Promise<Row[]> {
  return [...(await wireOver(rig, mode, 'loopback')), ...(await wireOver(rig, mode, 'loopback-aes128-gcm'))];
}

async function wireOver(rig: Rig, mode: Mode, kind: PathKind): Promise<Row[]> {
  const p = await rig.path(kind);
  const perExchange = new Map<Tool, { bytes: number; packets: number }>();
  for (const tool of tools) {
    const client = await startClient(tool, p, [], ['-o', 'ServerAliveInterval=1', '-o', 'ServerAliveCountMax=30'], 2500);
    try {
      const capture = await captureLoopback(`tcp port ${p.serverPort}`, path.join(path.dirname(p.configPath), `${tool}-keepalive.pcap`));
      await sleep(mode.wireSeconds * 1000);
      const exchanges = bursts(await capture.stop(), 0.3).filter((b) => b.length > 0);
      // A burst cut by the start or end of the capture is not a whole exchange.
      const whole = exchanges.slice(1, -1);
      if (whole.length === 0) throw new Error(`${tool}: no keepalive exchange seen in ${mode.wireSeconds} s`);
      const bytes = whole.reduce((n, b) => n + b.reduce((m, x) => m + x.ipBytes, 0), 0) / whole.length;
      const packets = whole.reduce((n, b) => n + b.length, 0) / whole.length;
      perExchange.set(tool, { bytes, packets });
    } finally {
      await client.stop();
    }
  }
  const cli = perExchange.get('ssh-keepalive')!;
  const ssh = perExchange.get('ssh')!;
  return [
    {
      figure: `bytes on the wire per keepalive exchange (IP+TCP headers included), ${pathLabel[kind]}`,
      cli: `${cli.bytes.toFixed(0)} B in ${cli.packets.toFixed(1)} packets`,
      ssh: `${ssh.bytes.toFixed(0)} B in ${ssh.packets.toFixed(1)} packets`,
      ratio: cli.bytes / ssh.bytes,
      better: 'lower',
    },
    row(
      `keepalive bytes per hour, idle, both ServerAliveInterval 15, ${pathLabel[kind]}`,
      (cli.bytes * 3600) / 15,
      (ssh.bytes * 3600) / 15,
      fixed(0, ' B'),
      'lower',
    ),
  ];
}

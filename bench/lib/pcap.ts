import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { sleep } from '../../test/harness/bounded';

export interface Packet {
  /** seconds */
  time: number;
  /** IP packet length (IPv4/IPv6 header + TCP header + payload). */
  ipBytes: number;
}

export interface Capture {
  /** Stops tcpdump and returns what it saw. */
  stop(): Promise<Packet[]>;
}

/** Starts tcpdump on loopback with `filter`, writing to `file`; resolves once it is listening. */
export async function captureLoopback(filter: string, file: string): Promise<Capture> {
  const child = spawn('tcpdump', ['-i', 'lo', '-nn', '-U', '--immediate-mode', '-w', file, filter], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`tcpdump did not say "listening on" within 5 s: ${stderr}`)), 5000);
    child.stderr.on('data', (d: Buffer) => {
      stderr += d;
      if (stderr.includes('listening on')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`tcpdump could not start (apt-get install tcpdump; needs root): ${e.message}`));
    });
  });
  return {
    stop: async () => {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGINT');
      await Promise.race([exited, sleep(3000).then(() => child.kill('SIGKILL'))]);
      return readPcap(file);
    },
  };
}

/** Reads a classic pcap file (as tcpdump -w writes it) of Ethernet, Linux cooked v1/v2 or raw IP frames. */
export function readPcap(file: string): Packet[] {
  const b = readFileSync(file);
  if (b.length < 24) return [];
  const le = b.readUInt32LE(0) === 0xa1b2c3d4;
  const u32 = (o: number) => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));
  const linkType = u32(20);
  const linkHeader = linkType === 1 ? 14 : linkType === 113 ? 16 : linkType === 276 ? 20 : 0;
  const packets: Packet[] = [];
  for (let o = 24; o + 16 <= b.length;) {
    const incl = u32(o + 8);
    packets.push({ time: u32(o) + u32(o + 4) / 1e6, ipBytes: u32(o + 12) - linkHeader });
    o += 16 + incl;
  }
  return packets;
}

/** Splits packets into bursts separated by more than `gapS` of silence (one burst = one keepalive exchange). */
export function bursts(packets: Packet[], gapS: number): Packet[][] {
  const out: Packet[][] = [];
  for (const p of packets) {
    const last = out[out.length - 1];
    if (last && p.time - last[last.length - 1].time <= gapS) last.push(p);
    else out.push([p]);
  }
  return out;
}

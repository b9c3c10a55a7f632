import { readFileSync } from 'node:fs';
import type { Duplex } from 'node:stream';

/**
 * Our own outbound bytes as evidence of life. A probe sent behind an upload waits for the whole
 * queue ahead of it (the kernel's send buffer, up to megabytes, and a router's deep queue), so
 * on a slow or bufferbloated uplink its reply can be many seconds late while the path works, a
 * wait that no RTT-based deadline foresees. But the server's TCP acknowledges that upload as it
 * arrives: when bytes we sent have been acknowledged since the probe went out, the path works.
 *
 * On Linux the kernel says how many bytes of a socket are not yet acknowledged (/proc/net/tcp's
 * tx_queue: written minus acknowledged), and bytesWritten minus writableLength says how many
 * the kernel was given: acknowledged = given - unacknowledged grows only with the server's
 * ACKs. Elsewhere, a queue in the stream itself that moves is the evidence (a socket queues
 * bytes only while the kernel's buffer is full, which empties only with ACKs). A transport
 * that is not a socket (a ProxyCommand's pipes, a jump host's channel) gives no evidence.
 */
export interface OutboundSample {
  /** Bytes handed on to the kernel (given to the stream minus still queued in it). */
  handedOn: number;
  /** Bytes still queued in the stream. */
  queued: number;
  /** Bytes the kernel holds that the server has not acknowledged (Linux), if known. */
  unacked: number | undefined;
  /** The kernel's retransmission timeout for this socket, backed off as it is now (Linux). */
  rtoMs?: number;
  /** When the kernel resends next, if a retransmission is pending (Linux). */
  retransmitInMs?: number;
  /** Bytes the kernel received for us that we have not read yet (Linux): a reply waiting on our event loop, not on the wire. */
  unread?: number;
}

type SocketLike = Duplex & { bytesWritten?: unknown; localPort?: unknown; remotePort?: unknown };

export function sampleOutbound(transport: Duplex): OutboundSample | undefined {
  const s = transport as SocketLike;
  if (typeof s.bytesWritten !== 'number') return undefined;
  const queued = transport.writableLength;
  const kernel = typeof s.localPort === 'number' && typeof s.remotePort === 'number' ? linuxTcpInfo(s.localPort, s.remotePort) : undefined;
  return {
    handedOn: s.bytesWritten - queued,
    queued,
    unacked: kernel?.unacked,
    rtoMs: kernel?.rtoMs,
    retransmitInMs: kernel?.retransmitInMs,
    unread: kernel?.unread,
  };
}

/**
 * Only a probe behind this much of our data in flight counts the data's acknowledgements: the
 * ACKs come from the next TCP hop, which is the server only when nothing on the way ends TCP
 * (a local proxy, a ProxyCommand's relay, a carrier's TCP accelerator all ACK what they read,
 * even when the path beyond them is dead). A probe behind an upload has a real reason to be
 * late; one behind a few keystrokes must not be excused by the first hop's ACKs.
 */
export const UPLOAD_AHEAD_BYTES = 64 * 1024;

/** True when, with an upload ahead of the probe, the server acknowledged some of it between the two samples. */
export function acknowledgedSince(before: OutboundSample | undefined, after: OutboundSample | undefined): boolean {
  if (!before || !after) return false;
  if (before.unacked !== undefined && after.unacked !== undefined) {
    if (before.unacked + before.queued < UPLOAD_AHEAD_BYTES) return false;
    return after.handedOn - before.handedOn - (after.unacked - before.unacked) > 0;
  }
  return before.queued > 0 && after.handedOn > before.handedOn;
}

/** Clock ticks in /proc (USER_HZ, 100 on every Linux ABI) to ms. */
const TICK_MS = 10;

interface KernelTcp {
  unacked: number;
  rtoMs: number;
  retransmitInMs: number | undefined;
  unread: number;
}

/**
 * The one established TCP socket with these ports, from /proc/net/tcp and tcp6: tx_queue
 * (unacknowledged bytes) and rx_queue (received, not yet read), the retransmission timer when
 * it is the one pending (tr 1, its expiry in ticks) and the RTO (the 13th field, in ticks).
 */
function linuxTcpInfo(localPort: number, remotePort: number): KernelTcp | undefined {
  if (process.platform !== 'linux') return undefined;
  const ports = `:${hex4(localPort)} `;
  const remote = `:${hex4(remotePort)} `;
  let found: KernelTcp | undefined;
  let matches = 0;
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(file, 'latin1');
    } catch {
      continue;
    }
    for (const line of text.split('\n')) {
      // "sl local_address rem_address st tx_queue:rx_queue ...": addresses end in :PORT (hex).
      const f = line.trim().split(/\s+/);
      if (f.length < 5 || f[3] !== '01' || !`${f[1]} `.endsWith(ports) || !`${f[2]} `.endsWith(remote)) continue;
      matches++;
      const [tr, when] = f[5].split(':').map((h) => parseInt(h, 16));
      const rto = Number(f[12]);
      const [tx, rx] = f[4].split(':').map((h) => parseInt(h, 16));
      found = {
        unacked: tx,
        unread: rx,
        rtoMs: rto * TICK_MS,
        retransmitInMs: tr === 1 && Number.isFinite(when) ? when * TICK_MS : undefined,
      };
    }
  }
  // Two sockets with the same ports (to different hosts) cannot be told apart here: no evidence.
  return matches === 1 && found && Number.isFinite(found.unacked) && Number.isFinite(found.unread) && Number.isFinite(found.rtoMs) ? found : undefined;
}

function hex4(port: number): string {
  return port.toString(16).toUpperCase().padStart(4, '0');
}

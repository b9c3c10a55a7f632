import type { Duplex } from 'node:stream';

/**
 * Our own outbound queue as evidence of life. A socket keeps bytes in its writable buffer only
 * while the kernel's send buffer is full, and the kernel takes more only when the server's TCP
 * acknowledges what it sent. So when bytes were queued and some of them have since been handed
 * on, the server was acknowledging our data: the path works, though a probe may wait seconds
 * behind that queue (a bulk upload on a slow or bufferbloated uplink), a wait no RTT-based
 * deadline foresees. Only a net.Socket tells (bytesWritten counts what it was given, queued
 * included); other transports (a ProxyCommand's pipes, a jump host's channel) give no evidence.
 */
export interface OutboundSample {
  /** Bytes handed on to the kernel (given minus still queued). */
  handedOn: number;
  /** Bytes still queued in the stream. */
  queued: number;
}

export function sampleOutbound(transport: Duplex): OutboundSample | undefined {
  const given = (transport as Duplex & { bytesWritten?: unknown }).bytesWritten;
  if (typeof given !== 'number') return undefined;
  const queued = transport.writableLength;
  return { handedOn: given - queued, queued };
}

/** True when bytes were queued at `before` and some have been handed on since: the server is acknowledging. */
export function drainedSince(before: OutboundSample | undefined, after: OutboundSample | undefined): boolean {
  return !!before && !!after && before.queued > 0 && after.handedOn > before.handedOn;
}

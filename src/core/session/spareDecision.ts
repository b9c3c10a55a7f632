/**
 * Make-before-break (session.bridge): the first connection missed a demand probe, and the
 * second one is up. Whether it takes over now, after a moment, or only when the first
 * connection's longer wait (Keepalive.suspect) ends in silence. A takeover cuts nothing (the
 * riders resume on the new connection), but it is a reconnect the path did not need when the
 * first connection was only slow or lossy, so it waits wherever the evidence says "late, not
 * cut". A cut flow (a router that rebooted, a NAT that forgot it) shows none of it: its bytes
 * stay unacknowledged, and the new connection's round trip is as short as ever.
 */
export interface DoubtEvidence {
  /** The first connection lost packets lately while it worked (lossMemory.ts). */
  lossyLately: boolean;
  /** With an upload of ours ahead of the probe, the server acknowledged some of it since the miss. */
  uploadMoving: boolean;
  /** The server's TCP acknowledged everything the first connection wrote. */
  everythingAcknowledged: boolean;
  /** The deadline the first connection's probe missed. */
  missedDeadlineMs: number | undefined;
  /** The second connection's first keepalive round trip: how slow the path is right now. */
  spareRttMs: number | undefined;
}

export type SpareVerdict =
  /** The first connection keeps its whole longer wait; the spare takes over if that ends in silence. */
  | { kind: 'longer-wait'; why: string }
  /** The first connection gets ACKED_GRACE_MS more, then the spare takes over. */
  | { kind: 'grace'; why: string }
  | { kind: 'take-over' };

export function spareVerdict(e: DoubtEvidence): SpareVerdict {
  if (e.lossyLately) return { kind: 'longer-wait', why: 'the first lost packets lately' };
  if (e.uploadMoving) return { kind: 'longer-wait', why: "the server still acknowledges the upload queued ahead of the first one's probe" };
  // A path whose round trip is now half the missed deadline or more (a bloated queue filled
  // since the first connection measured it) left the reply no room: it is late, not lost. The
  // new connection crossed the same queue, so it measures it; a cut flow's path is as fast as before.
  if (e.spareRttMs !== undefined && e.missedDeadlineMs !== undefined && 2 * e.spareRttMs >= e.missedDeadlineMs)
    return {
      kind: 'longer-wait',
      why: `the path's round trip is ${Math.round(e.spareRttMs)} ms now, slow for the ${e.missedDeadlineMs} ms deadline the first one missed`,
    };
  if (e.everythingAcknowledged) return { kind: 'grace', why: 'the first still carries our bytes' };
  return { kind: 'take-over' };
}

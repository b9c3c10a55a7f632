/**
 * Bytes sent on a stream and not yet acknowledged, numbered from `base`. Chunks are kept as
 * written (no copy); acknowledged ones are dropped from the front.
 */
export class SendBuffer {
  private chunks: Buffer[] = [];
  private headOffset = 0;
  /** Sequence number of the first byte held. */
  base = 0;
  length = 0;

  get end(): number {
    return this.base + this.length;
  }

  push(data: Buffer): void {
    if (data.length === 0) return;
    this.chunks.push(data);
    this.length += data.length;
  }

  /** Forgets everything before `seq` (acknowledged by the peer). */
  ackTo(seq: number): void {
    let drop = Math.min(seq - this.base, this.length);
    if (drop <= 0) return;
    this.base += drop;
    this.length -= drop;
    while (drop > 0) {
      const head = this.chunks[0];
      const avail = head.length - this.headOffset;
      if (drop >= avail) {
        this.chunks.shift();
        this.headOffset = 0;
        drop -= avail;
      } else {
        this.headOffset += drop;
        drop = 0;
      }
    }
  }

  /** Up to `max` bytes starting at sequence number `seq` (base <= seq < end). */
  slice(seq: number, max: number): Buffer {
    let skip = seq - this.base + this.headOffset;
    const parts: Buffer[] = [];
    let want = Math.min(max, this.end - seq);
    for (const chunk of this.chunks) {
      if (want <= 0) break;
      if (skip >= chunk.length) {
        skip -= chunk.length;
        continue;
      }
      const part = chunk.subarray(skip, skip + want);
      parts.push(part);
      want -= part.length;
      skip = 0;
    }
    return parts.length === 1 ? parts[0] : Buffer.concat(parts);
  }
}

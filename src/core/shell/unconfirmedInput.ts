import type { Disposable } from '../base/disposable';

/**
 * Keys written into one channel that the server has not yet been proven to have received.
 * Proof is a keepalive reply to a probe sent after them: SSH is one ordered stream, so the
 * reply comes after the bytes. One probe is in flight at a time; keys written meanwhile wait
 * for the next one, so typing costs at most one probe per round trip.
 *
 * What is left when the connection dies is what may not have arrived: the tmux fallback
 * replays it into the reattached session. A reply lost with the path after the bytes did
 * arrive would replay them twice; the window for that is one round trip.
 */
export class UnconfirmedInput implements Disposable {
  private chunks: string[] = [];
  private probing = false;
  private disposed = false;

  /**
   * @param confirm sends a probe now; true when its reply came back.
   * @param flushed whether every byte written so far left for the transport (ssh2 queues data
   *   in the channel while the server's window is full, and then a probe would overtake it).
   */
  constructor(
    private readonly confirm: () => Promise<boolean>,
    private readonly flushed: () => boolean,
  ) {}

  get bytes(): number {
    return this.chunks.reduce((n, c) => n + Buffer.byteLength(c, 'utf8'), 0);
  }

  /** Keys just written into the channel. */
  add(data: string): void {
    if (this.disposed || !data) return;
    this.chunks.push(data);
    this.probe();
  }

  /** What was never proven received, in order; nothing is tracked after this. */
  take(): string[] {
    this.dispose();
    const chunks = this.chunks;
    this.chunks = [];
    return chunks;
  }

  dispose(): void {
    this.disposed = true;
  }

  private probe(): void {
    if (this.probing || this.disposed) return;
    this.probing = true;
    const covered = this.chunks.length;
    const flushed = this.flushed();
    void this.confirm().then(
      (ok) => this.settle(ok, flushed ? covered : 0),
      () => this.settle(false, 0),
    );
  }

  private settle(ok: boolean, proven: number): void {
    this.probing = false;
    if (this.disposed || !ok) return; // no reply: the connection is gone, keep everything
    this.chunks.splice(0, proven);
    // Keys written while the probe was out (or still queued in the channel) need another.
    if (this.chunks.length > 0) this.probe();
  }
}

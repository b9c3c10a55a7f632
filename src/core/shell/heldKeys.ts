const CTRL_C = '\x03';

export type HoldOutcome =
  /** Kept; `bytes` is everything held now. */
  | { readonly kind: 'held'; readonly bytes: number }
  /** interrupt: a Ctrl-C dropped everything held (`bytes`); limit: these keys were not held. */
  | { readonly kind: 'dropped'; readonly bytes: number; readonly why: 'interrupt' | 'limit' };

/**
 * Keys kept, in order, for a shell that is down, up to a limit (a paste, not a file). A Ctrl-C
 * typed blind means "never mind": it drops what is held instead of joining it.
 */
export class HeldKeys {
  private chunks: string[] = [];
  private total = 0;

  constructor(private readonly limit: number) {}

  get bytes(): number {
    return this.total;
  }

  offer(data: string): HoldOutcome {
    const bytes = Buffer.byteLength(data, 'utf8');
    if (data.includes(CTRL_C) && this.total > 0) return { kind: 'dropped', bytes: this.take().bytes, why: 'interrupt' };
    if (this.total + bytes > this.limit) return { kind: 'dropped', bytes, why: 'limit' };
    this.chunks.push(data);
    this.total += bytes;
    return { kind: 'held', bytes: this.total };
  }

  /** Keys that were due before anything held now (e.g. never proven received); not limited. */
  prepend(chunks: readonly string[]): void {
    this.chunks = [...chunks, ...this.chunks];
    this.total += chunks.reduce((n, c) => n + Buffer.byteLength(c, 'utf8'), 0);
  }

  /** Everything held, in order; nothing is held afterwards. */
  take(): { chunks: string[]; bytes: number } {
    const taken = { chunks: this.chunks, bytes: this.total };
    this.chunks = [];
    this.total = 0;
    return taken;
  }
}

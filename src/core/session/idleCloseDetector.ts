/**
 * Recognises a server that closes connections by policy after a fixed idle time (Dropbear
 * -I, a server or middlebox idle timeout for which keepalives are not activity): clean
 * closes by the server, again and again, each about the same time after the connection was
 * made. Without this the session loses and restores the connection every few seconds forever
 * with two log lines each time; with it, the pattern is explained once and the repeats are
 * quiet. The session still reconnects as usual (shells reattach, forwards come back).
 */
export interface IdleCloseOptions {
  /** Clean closes in a row, each after about the same connected time, before it is named. */
  repeats: number;
  /** How close the connected times must be: at least this many ms ... */
  toleranceMs: number;
  /** ... or this fraction of the typical time, whichever is larger. */
  toleranceRatio: number;
}

export const defaultIdleCloseOptions: IdleCloseOptions = { repeats: 3, toleranceMs: 1000, toleranceRatio: 0.2 };

export type IdleCloseVerdict =
  /** Not (or no longer) the pattern: log as any loss. */
  | { readonly kind: 'normal' }
  /** Just recognised: log this explanation once. */
  | { readonly kind: 'explain'; readonly message: string }
  /** Another close of the recognised pattern: keep quiet. */
  | { readonly kind: 'quiet' };

export class IdleCloseDetector {
  private durations: number[] = [];
  private recognised = false;

  constructor(private readonly options: IdleCloseOptions = defaultIdleCloseOptions) {}

  /** True while the pattern holds: the restore that follows a close is not news either. */
  get quiet(): boolean {
    return this.recognised;
  }

  /**
   * A connection ended. `clean`: the server closed it (not a dead path or our own drop);
   * `connectedMs`: how long it had been connected (undefined: it never was).
   */
  onLoss(clean: boolean, connectedMs: number | undefined): IdleCloseVerdict {
    if (!clean || connectedMs === undefined) return this.reset();
    this.durations.push(connectedMs);
    this.durations = this.durations.slice(-this.options.repeats);
    if (this.durations.length < this.options.repeats || !this.similar()) {
      if (this.recognised && !this.similar()) return this.reset(connectedMs);
      return { kind: 'normal' };
    }
    if (this.recognised) return { kind: 'quiet' };
    this.recognised = true;
    const seconds = Math.round(median(this.durations) / 100) / 10;
    return {
      kind: 'explain',
      message:
        `the server closed the connection ${this.durations.length} times in a row, each about ${seconds} s after it was made: ` +
        `it probably closes idle connections by policy (an idle timeout such as Dropbear's -I), and keepalives do not count as activity for it. ` +
        `Reconnecting each time as usual (shells and forwards come back); further closes like this are logged at debug level. ` +
        `To stop it, raise or turn off the server's idle timeout, or keep the session busy.`,
    };
  }

  private similar(): boolean {
    const m = median(this.durations);
    const tolerance = Math.max(this.options.toleranceMs, this.options.toleranceRatio * m);
    return this.durations.every((d) => Math.abs(d - m) <= tolerance);
  }

  private reset(keep?: number): IdleCloseVerdict {
    this.recognised = false;
    this.durations = keep === undefined ? [] : [keep];
    return { kind: 'normal' };
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

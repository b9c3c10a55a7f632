/** Exponential backoff with full jitter (AWS architecture blog, "Exponential Backoff And Jitter"). */
export interface BackoffOptions {
  /** Upper bound of the first delay, ms. */
  initialMs: number;
  /** Cap for any delay, ms. */
  maxMs: number;
  /** Growth factor per attempt. */
  factor: number;
  /** Lower bound of any delay, ms: full jitter may pick 0, which would spin. */
  minMs: number;
}

export const defaultBackoff: BackoffOptions = { initialMs: 1000, maxMs: 30_000, factor: 2, minMs: 250 };

export class Backoff {
  private attempt = 0;

  constructor(
    private readonly options: BackoffOptions = defaultBackoff,
    private readonly random: () => number = Math.random,
  ) {}

  /** Number of delays handed out since the last reset. */
  get attempts(): number {
    return this.attempt;
  }

  /** The ceiling for the current attempt (before jitter). */
  ceiling(attempt = this.attempt): number {
    const { initialMs, maxMs, factor } = this.options;
    return Math.min(maxMs, initialMs * Math.pow(factor, attempt));
  }

  next(): number {
    const ceiling = this.ceiling();
    this.attempt++;
    return Math.max(this.options.minMs, Math.round(this.random() * ceiling));
  }

  reset(): void {
    this.attempt = 0;
  }
}

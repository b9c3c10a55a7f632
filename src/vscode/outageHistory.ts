/**
 * A small per-host record of recent outages (when, how long, why) for the tooltip. Fed
 * with session states; pure, so it is unit-tested without VS Code.
 */
import type { SessionState } from '../core/session/state';

export interface Outage {
  readonly start: number;
  /** Undefined while the outage lasts. */
  readonly end?: number;
  readonly cause: string;
}

export class OutageHistory {
  private readonly items: Outage[] = [];

  constructor(private readonly max = 5) {}

  /** Newest first. */
  get outages(): readonly Outage[] {
    return [...this.items].reverse();
  }

  get current(): Outage | undefined {
    const last = this.items[this.items.length - 1];
    return last && last.end === undefined ? last : undefined;
  }

  observe(state: SessionState, now = Date.now()): void {
    switch (state.kind) {
      case 'lost':
        this.close(state.at);
        this.items.push({ start: state.at, cause: state.reason });
        if (this.items.length > this.max) this.items.shift();
        break;
      case 'connected':
        this.close(now);
        break;
      case 'failed':
        // The outage ends in giving up; say so, since that is the cause the user must fix.
        this.close(state.at, state.error.message);
        break;
      case 'closed':
        this.close(now);
        break;
      default:
        break;
    }
  }

  private close(at: number, finalCause?: string): void {
    const open = this.current;
    if (!open) return;
    const closed: Outage = { start: open.start, end: at, cause: finalCause ? `${open.cause}; then: ${finalCause}` : open.cause };
    this.items[this.items.length - 1] = closed;
  }
}

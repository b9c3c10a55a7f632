import type { Clock } from '../base/clock';
import type { Disposable } from '../base/disposable';
import type { OutboundSample } from './outbound';

/** How long a sign of loss keeps a connection "lossy lately" (see LossMemory). */
export const LOSS_MEMORY_MS = 10 * 60_000;
/**
 * A probe still unanswered this long after it went out, with nothing waiting for us in the
 * kernel, was held up on the wire: Linux resends a lost segment (a loss probe or the
 * retransmission timer) no sooner than about 200 ms, so on a path whose round trip is a few
 * ms, a reply this late was lost once and resent.
 */
export const LOSS_LOOK_FLOOR_MS = 150;

/** One probe's look at the wire: told when (and whether) the reply came. */
export interface ProbeWatch extends Disposable {
  answered(rttMs: number): void;
}

/**
 * Whether this connection lost packets lately while it worked: the one fact that tells a
 * lossy path from a cut one at a missed probe. Both look the same then (our few bytes
 * unacknowledged, the kernel resending them), and each further resend that goes unanswered
 * is only weak evidence on a lossy line (at 15 % loss about one resend in four fails, so a
 * miss followed by one more failed resend is a coin toss away from a false reconnect). A
 * connection that lost nothing lately and now loses every segment is cut: it can be given up
 * (or replaced) at once. One that lost some lately gets the longer wait.
 *
 * The evidence: a probe whose reply was held up on the wire (see LOSS_LOOK_FLOOR_MS) and then
 * came, and a doubt that ended with the path answering. "On the wire" is the kernel's word:
 * a reply the kernel already holds but our event loop has not read (a busy process, a stall)
 * is not loss. The kernel's own loss counters are no help here: for small exchanges Linux
 * recovers a lost segment with a loss probe and undoes its congestion response, so the
 * socket's slow-start threshold stays untouched on a 15 % lossy line (measured).
 */
export class LossMemory {
  private evidenceAt: number | undefined;
  private minRttMs: number | undefined;

  constructor(
    private readonly clock: Clock,
    private readonly sample: () => OutboundSample | undefined,
    private readonly memoryMs = LOSS_MEMORY_MS,
  ) {}

  /** A probe goes out now: looks at the wire if its reply is late, and learns from the answer. */
  watch(): ProbeWatch {
    let heldOnWire = false;
    const look = this.clock.timeout(() => {
      const kernel = this.sample();
      heldOnWire = kernel?.unread === 0;
    }, this.lookMs);
    return {
      answered: (rttMs) => {
        look.dispose();
        this.minRttMs = Math.min(this.minRttMs ?? rttMs, rttMs);
        if (heldOnWire) this.noteLoss();
      },
      dispose: () => look.dispose(),
    };
  }

  /**
   * When to look: past the floor, and past twice the best round trip this path has shown (a
   * long path's replies are not late at 150 ms; its jitter is covered by the doubling).
   */
  private get lookMs(): number {
    return Math.max(LOSS_LOOK_FLOOR_MS, 2 * (this.minRttMs ?? 0) + 100);
  }

  /** The path answered after a missed deadline: it was lossy or slow, not cut. */
  noteLoss(): void {
    this.evidenceAt = this.clock.now();
  }

  /** True when this connection showed loss within the memory. */
  get lossyLately(): boolean {
    return this.evidenceAt !== undefined && this.clock.now() - this.evidenceAt < this.memoryMs;
  }
}

import type { Clock } from '../base/clock';
import type { OutboundSample } from './outbound';

/** How long a sign of loss keeps a connection "lossy lately" (see LossMemory). */
export const LOSS_MEMORY_MS = 10 * 60_000;

/**
 * Whether this connection has lost packets lately while it worked: the one fact that tells a
 * lossy path from a cut one at a missed probe. Both look the same then (our few bytes
 * unacknowledged, the kernel resending them), and each further resend that goes unanswered
 * is only weak evidence on a lossy line (at 15 % loss about one resend in four fails, so a
 * miss followed by one more failed resend is a coin toss away from a false reconnect). A
 * connection that never lost a segment and now loses every one is cut: it can be given up
 * (or replaced) at once. One that lost some lately gets the longer wait.
 *
 * The evidence is the kernel's: a lowered slow-start threshold (it is lowered at each loss
 * the kernel reacts to and never raised back, except when the resend proved needless) or a
 * pending resend, read from a sample taken when a probe went out and believed only once that
 * probe was answered, so that what a cut does to the socket is never taken for history. A
 * doubt that ended with the path answering is evidence too.
 */
export class LossMemory {
  private lastThreshold: number | undefined;
  private evidenceAt: number | undefined;

  constructor(
    private readonly clock: Clock,
    private readonly memoryMs = LOSS_MEMORY_MS,
  ) {}

  /** A probe sent when `atSend` was taken was answered: the path worked then, so what the kernel said is history. */
  noteAnswered(atSend: OutboundSample | undefined): void {
    if (!atSend) return;
    const { ssthresh, retransmits } = atSend;
    const lowered = ssthresh !== undefined && ssthresh !== -1 && ssthresh !== this.lastThreshold;
    if (ssthresh !== undefined) this.lastThreshold = ssthresh;
    if (lowered || (retransmits ?? 0) > 0) this.noteLoss();
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

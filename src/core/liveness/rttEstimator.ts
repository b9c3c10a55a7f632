/**
 * The round-trip estimator of TCP's retransmission timer (RFC 6298): a smoothed RTT and its
 * mean deviation, so that a deadline covers what this path's replies actually take, jitter
 * and retransmission delays included, rather than a fixed multiple of the average. A path
 * whose RTT is steady gets a deadline near its RTT; one whose replies wander (a lossy line, a
 * jittery radio link) gets a deadline that has room for the wandering.
 */
export class RttEstimator {
  /** RFC 6298's alpha and beta: the gains of the smoothed RTT and of its deviation. */
  static readonly alpha = 1 / 8;
  static readonly beta = 1 / 4;

  private srtt: number | undefined;
  private rttvar = 0;

  /** One measured round trip, in ms. */
  add(rttMs: number): void {
    if (this.srtt === undefined) {
      // RFC 6298 2.2: the first sample sets SRTT = R and RTTVAR = R/2.
      this.srtt = rttMs;
      this.rttvar = rttMs / 2;
      return;
    }
    // RFC 6298 2.3: RTTVAR is updated with the SRTT from before this sample.
    this.rttvar = (1 - RttEstimator.beta) * this.rttvar + RttEstimator.beta * Math.abs(this.srtt - rttMs);
    this.srtt = (1 - RttEstimator.alpha) * this.srtt + RttEstimator.alpha * rttMs;
  }

  get smoothedMs(): number | undefined {
    return this.srtt;
  }

  get deviationMs(): number | undefined {
    return this.srtt === undefined ? undefined : this.rttvar;
  }

  /** SRTT + k x RTTVAR, within [floorMs, capMs], in whole ms; floorMs before any sample. */
  timeoutMs(floorMs: number, k: number, capMs: number): number {
    if (this.srtt === undefined) return floorMs;
    return Math.min(capMs, Math.max(floorMs, Math.round(this.srtt + k * this.rttvar)));
  }
}

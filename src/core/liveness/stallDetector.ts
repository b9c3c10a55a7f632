import type { Duplex } from 'node:stream';
import { type Clock, systemClock } from '../base/clock';
import type { Disposable } from '../base/disposable';

export interface StallDetectorOptions {
  /**
   * A flow is at least this many bytes arriving in a row, each chunk within `flowGapMs` of the
   * one before: bulk data, not the echo and prompt of an interactive command.
   */
  flowBytes: number;
  flowGapMs: number;
  /** A flow that stops for max(stallMinMs, stallRttFactor x RTT) has stalled. */
  stallMinMs: number;
  stallRttFactor: number;
}

export const defaultStallOptions: StallDetectorOptions = { flowBytes: 32 * 1024, flowGapMs: 200, stallMinMs: 1000, stallRttFactor: 4 };

/**
 * Notices a flow that stops: bytes were arriving steadily (a download through a forward, a
 * command's output in a terminal) and then nothing comes for max(1 s, a few RTTs). That is
 * not something a person does, so the path is probed at once (one probe per stall, however
 * many channels were flowing), and a dead path is found in about two seconds instead of after
 * interval x count. A flow that simply ended costs one probe.
 */
export class StallDetector implements Disposable {
  private lastDataAt = 0;
  private streakBytes = 0;
  private check: Disposable | undefined;
  private readonly onData = (chunk: Buffer) => this.data(chunk.length);

  constructor(
    private readonly transport: Duplex,
    private readonly onStall: (silentMs: number) => void,
    private readonly rttMs: () => number | undefined,
    private readonly options: StallDetectorOptions = defaultStallOptions,
    private readonly clock: Clock = systemClock,
  ) {
    transport.on('data', this.onData);
  }

  private get stallMs(): number {
    return Math.max(this.options.stallMinMs, this.options.stallRttFactor * (this.rttMs() ?? 0));
  }

  private data(bytes: number): void {
    const now = this.clock.now();
    this.streakBytes = now - this.lastDataAt <= this.options.flowGapMs ? this.streakBytes + bytes : bytes;
    this.lastDataAt = now;
    // Checked on a coarse timer while a flow lasts, not re-armed per chunk (bulk data is many chunks a millisecond).
    if (this.streakBytes >= this.options.flowBytes && !this.check)
      this.check = this.clock.interval(() => this.look(), Math.max(50, Math.round(this.stallMs / 4)));
  }

  private look(): void {
    const silentMs = this.clock.now() - this.lastDataAt;
    if (silentMs <= this.stallMs) return;
    this.check?.dispose();
    this.check = undefined;
    this.streakBytes = 0;
    this.onStall(silentMs);
  }

  dispose(): void {
    this.check?.dispose();
    this.check = undefined;
    this.transport.removeListener('data', this.onData);
  }
}

import { networkInterfaces } from 'node:os';
import type { Disposable } from './disposable';
import { Emitter, type Event } from './event';

/**
 * How often the wake and network detectors look. Each look wakes an idle process (an idle
 * CLI with forwards otherwise wakes only for its keepalive), so the cadence is the idle cost:
 * at 2 s and 3 s they were most of an idle CLI's CPU after start-up (bench/README.md, idle).
 * Both use the same period so that Node runs their timers in one wake-up (one timer list).
 */
export const ENVIRONMENT_CHECK_MS = 10_000;

/**
 * Detects that the machine slept: the wall clock moved on much further than the timer's
 * period between two looks. On Linux and macOS the timers run on the monotonic clock, which
 * stands still in suspend: the timer fires on time by its own clock, up to one period after
 * the wake-up, and the wall clock has moved on by the sleep. On Windows the monotonic clock
 * counts the sleep: the overdue timer fires right after the wake-up. Either way the difference
 * is the sleep, whatever the period. After a wake-up every NAT mapping is likely gone, so
 * sessions should probe or reconnect at once instead of waiting for their backoff or
 * keepalive timers.
 */
export class WakeDetector implements Disposable {
  private readonly emitter = new Emitter<{ sleptMs: number }>();
  readonly onDidWake: Event<{ sleptMs: number }> = this.emitter.event;
  private last: number;
  private readonly handle: NodeJS.Timeout;

  constructor(
    private readonly periodMs = ENVIRONMENT_CHECK_MS,
    private readonly toleranceMs = 5000,
    private readonly wallClock: () => number = Date.now,
  ) {
    this.last = wallClock();
    this.handle = setInterval(() => this.tick(), periodMs);
    this.handle.unref();
  }

  private tick(): void {
    const now = this.wallClock();
    const late = now - this.last - this.periodMs;
    this.last = now;
    if (late > this.toleranceMs) this.emitter.fire({ sleptMs: late });
  }

  dispose(): void {
    clearInterval(this.handle);
    this.emitter.dispose();
  }
}

/** A stable fingerprint of the machine's non-internal addresses. */
export function interfaceFingerprint(): string {
  const parts: string[] = [];
  for (const [name, addrs] of Object.entries(networkInterfaces())) {
    for (const a of addrs ?? []) {
      if (!a.internal) parts.push(`${name}/${a.address}`);
    }
  }
  return parts.sort().join(',');
}

/**
 * Polls the set of network interfaces (Node has no change event) and fires when it
 * changes: a new Wi-Fi, a VPN coming up. Old TCP paths are then likely dead. A look costs
 * about 70 us (getifaddrs); the period bounds how late an idle session learns of the change
 * (a session in use finds a dead path sooner, by its demand probe).
 */
export class NetworkChangeDetector implements Disposable {
  private readonly emitter = new Emitter<void>();
  readonly onDidChange: Event<void> = this.emitter.event;
  private last: string;
  private readonly handle: NodeJS.Timeout;

  constructor(
    periodMs = ENVIRONMENT_CHECK_MS,
    private readonly read: () => string = interfaceFingerprint,
  ) {
    this.last = read();
    this.handle = setInterval(() => {
      const now = this.read();
      if (now !== this.last) {
        this.last = now;
        this.emitter.fire();
      }
    }, periodMs);
    this.handle.unref();
  }

  dispose(): void {
    clearInterval(this.handle);
    this.emitter.dispose();
  }
}

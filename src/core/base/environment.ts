import { networkInterfaces } from 'node:os';
import type { Disposable } from './disposable';
import { Emitter, type Event } from './event';

/**
 * Detects that the machine slept: a timer that should fire every `periodMs` fires much
 * later. After a wake-up every NAT mapping is likely gone, so sessions should probe or
 * reconnect at once instead of waiting for their backoff or keepalive timers.
 */
export class WakeDetector implements Disposable {
  private readonly emitter = new Emitter<{ sleptMs: number }>();
  readonly onDidWake: Event<{ sleptMs: number }> = this.emitter.event;
  private last = Date.now();
  private readonly handle: NodeJS.Timeout;

  constructor(
    private readonly periodMs = 2000,
    private readonly toleranceMs = 5000,
  ) {
    this.handle = setInterval(() => this.tick(), periodMs);
    this.handle.unref();
  }

  private tick(): void {
    const now = Date.now();
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
 * changes: a new Wi-Fi, a VPN coming up. Old TCP paths are then likely dead.
 */
export class NetworkChangeDetector implements Disposable {
  private readonly emitter = new Emitter<void>();
  readonly onDidChange: Event<void> = this.emitter.event;
  private last: string;
  private readonly handle: NodeJS.Timeout;

  constructor(
    periodMs = 3000,
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

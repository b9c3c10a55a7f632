import { type Clock, systemClock } from '../base/clock';
import { DisposableStore, type Disposable } from '../base/disposable';
import { Emitter, type Event } from '../base/event';
import type { Session } from '../session/session';

/** What the watcher reads of a session (narrow, so that tests can drive it). */
export type LivenessSource = Pick<Session, 'state' | 'lastContact' | 'rttMs' | 'keepaliveIntervalMs' | 'onDidChangeState' | 'onDidProbe' | 'noteActivity'>;
import { aliveWindowMs, type Liveness, livenessOf } from './liveness';

export interface LivenessWatcherOptions {
  /** True while a terminal or a forwarded connection uses the session: then silence is probed at once. */
  inUse: () => boolean;
  clock?: Clock;
}

/**
 * Tells when a connected session turns from alive to unconfirmed (and back), with a timer set
 * at the moment the alive window ends, so it happens without any user action. When the state
 * turns unconfirmed while the session is in use, one demand probe goes out at once: a dead
 * path is then found in about a second instead of after interval x count.
 */
export class LivenessWatcher implements Disposable {
  private readonly emitter = new Emitter<Liveness>();
  readonly onDidChange: Event<Liveness> = this.emitter.event;
  private readonly disposables = new DisposableStore();
  private timer: Disposable | undefined;
  private current: Liveness['kind'] = 'alive';

  constructor(
    private readonly session: LivenessSource,
    private readonly options: LivenessWatcherOptions,
  ) {
    this.disposables.add(this.emitter);
    session.onDidChangeState(() => this.check(), this.disposables);
    session.onDidProbe(() => this.check(), this.disposables);
    this.check();
  }

  private get clock(): Clock {
    return this.options.clock ?? systemClock;
  }

  /** The session's liveness now; 'alive' outside `connected` (the state itself says more). */
  get liveness(): Liveness {
    if (this.session.state.kind !== 'connected') return { kind: 'alive' };
    return livenessOf(this.session.lastContact, this.clock.now(), this.session.keepaliveIntervalMs, this.session.rttMs);
  }

  private check(): void {
    this.timer?.dispose();
    this.timer = undefined;
    if (this.disposables.isDisposed) return;
    const now = this.liveness;
    if (now.kind !== this.current) {
      this.current = now.kind;
      if (now.kind === 'unconfirmed' && this.options.inUse()) this.session.noteActivity();
      this.emitter.fire(now);
    }
    if (this.session.state.kind !== 'connected') return;
    // Alive: look again when the window ends. Unconfirmed: the next packet or state change
    // brings it back, but bytes have no event here, so look again each second.
    const lastHeard = this.session.lastContact ?? this.clock.now();
    const window = aliveWindowMs(this.session.keepaliveIntervalMs, this.session.rttMs);
    const wait = now.kind === 'alive' ? lastHeard + window - this.clock.now() + 1 : 1000;
    this.timer = this.clock.timeout(() => this.check(), Math.max(1, wait));
  }

  dispose(): void {
    this.timer?.dispose();
    this.disposables.dispose();
  }
}

import type { Client } from 'ssh2';
import { type Disposable, DisposableStore } from '../base/disposable';
import { addTo, Emitter, type Event } from '../base/event';

/** Why a connection ended. */
export interface ConnectionEnd {
  /** In the session's words: "no reply to 3 keepalives", "the session was closed"... */
  readonly reason: string;
  /** `closed`: the session itself ended (disposed); `lost`: it goes on reconnecting. */
  readonly kind: 'lost' | 'closed';
}

/**
 * One live SSH connection of a session, as the riders on it (shells, forwards, the keeper)
 * see it: the ssh2 client, and a scope that ends with it. What a rider sets up for this
 * connection (listeners on the client, channels, timers) it `add`s here, and it is disposed
 * when the connection ends, in reverse order, after the `onDidEnd` listeners ran. Nobody
 * compares clients by identity or keeps a private copy of the connection's lifetime.
 */
export interface Connection {
  readonly client: Client;
  /** True when an earlier connection of the same session existed (a restore, not a first connect). */
  readonly restored: boolean;
  /** Counts the session's connections from 1; for logs. */
  readonly seq: number;
  readonly isEnded: boolean;
  /** Fires once when the connection ends; subscribing after the end calls back on a microtask. */
  readonly onDidEnd: Event<ConnectionEnd>;
  /** Disposed when the connection ends (at once if it already has). */
  add<T extends Disposable>(disposable: T): T;
  /**
   * A rider whose streams resume on the next connection (the session keeper) says so: when
   * this connection stops answering, the session opens a new one beside it and keeps
   * whichever answers first (make-before-break) instead of tearing this one down first.
   */
  preferMakeBeforeBreak(): void;
}

/** The session's side of a Connection: only the session ends it. */
export class ConnectionScope implements Connection {
  private readonly store = new DisposableStore();
  private readonly endEmitter = new Emitter<ConnectionEnd>();
  private ended: ConnectionEnd | undefined;

  constructor(
    readonly client: Client,
    readonly restored: boolean,
    readonly seq: number,
  ) {}

  get isEnded(): boolean {
    return this.ended !== undefined;
  }

  readonly onDidEnd: Event<ConnectionEnd> = (listener, disposables) => {
    const ended = this.ended;
    if (!ended) return this.endEmitter.event(listener, disposables);
    // Already over: call back later (never re-entrantly), unless unsubscribed before that.
    let live = true;
    queueMicrotask(() => {
      if (live) listener(ended);
    });
    const handle = { dispose: () => void (live = false) };
    addTo(disposables, handle);
    return handle;
  };

  add<T extends Disposable>(disposable: T): T {
    return this.store.add(disposable);
  }

  private makeBeforeBreak = false;

  preferMakeBeforeBreak(): void {
    this.makeBeforeBreak = true;
  }

  get prefersMakeBeforeBreak(): boolean {
    return this.makeBeforeBreak;
  }

  /** Ends the connection: listeners first (they see why), then everything added, last first. */
  end(why: ConnectionEnd): void {
    if (this.ended) return;
    this.ended = why;
    this.endEmitter.fire(why);
    this.endEmitter.dispose();
    this.store.dispose();
  }
}

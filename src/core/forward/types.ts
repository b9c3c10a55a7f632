import type { Disposable } from '../base/disposable';
import type { Event } from '../base/event';

export type ForwardKind = 'local' | 'remote' | 'dynamic';

export type ForwardState =
  | { readonly kind: 'starting' }
  | { readonly kind: 'active' }
  /** The session is down (or the server still holds the port): connections are held or requested again later. */
  | { readonly kind: 'waiting'; readonly reason: string }
  /** This forward cannot work until the user changes something (port in use, permission). */
  | { readonly kind: 'failed'; readonly reason: string }
  | { readonly kind: 'stopped' };

export interface ForwardCounters {
  openConnections: number;
  totalConnections: number;
  /** Connections that were open while the path was down and went on afterwards (session keeper). */
  carriedConnections: number;
  /** Bytes from the far side to the side that opened the connection. */
  bytesIn: number;
  bytesOut: number;
}

/** What every forward (-L, -R, -D) offers to the registry, the CLI and the VS Code layer. */
export interface Forward extends Disposable {
  /** Stable across restarts for the same spec, e.g. "L 127.0.0.1:8080 localhost:80". */
  readonly id: string;
  readonly kind: ForwardKind;
  /** As a user would write it: "-L 8080:localhost:80". */
  readonly label: string;
  readonly state: ForwardState;
  readonly onDidChangeState: Event<ForwardState>;
  readonly counters: ForwardCounters;
  /** Fires when a connection opens, ends or is carried through an outage (not per byte). */
  readonly onDidChangeCounters: Event<ForwardCounters>;
  /**
   * True when this forward's connections ride the session keeper: they outlive an outage
   * (held on the server, resumed byte-exact); false when a drop cuts them (plain channels).
   */
  readonly kept: boolean;
  /** Where a user connects: "127.0.0.1:8080" (-L/-D, local) or "host:port" on the server (-R); port 0 resolved. */
  readonly address: string | undefined;
  /** Binds / requests the forward. Rejects with a clear message when it cannot (the state says `failed`). */
  start(): Promise<void>;
}

export function emptyCounters(): ForwardCounters {
  return { openConnections: 0, totalConnections: 0, carriedConnections: 0, bytesIn: 0, bytesOut: 0 };
}

/** Same kind and same reason: a change listeners need not hear about. */
export function sameForwardState(a: ForwardState, b: ForwardState): boolean {
  return a.kind === b.kind && (a as { reason?: string }).reason === (b as { reason?: string }).reason;
}

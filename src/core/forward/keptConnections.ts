import type { Socket } from 'node:net';
import { DisposableStore, type Disposable } from '../base/disposable';
import type { KeeperLink } from '../keeper/keeperLink';
import type { KeeperStream } from '../keeper/stream';
import type { PipeCounters } from './channelPipe';
import { pipeKeptStream, type KeptEnd } from './keptStream';

/**
 * Where a forward gets the session keeper: made on first use, undefined when it is turned
 * off. The keeper itself may still turn out unavailable (no python3 on the server).
 */
export type KeeperSource = () => Promise<KeeperLink | undefined>;

/** How long a forward waits for the keeper's first answer before using a plain channel. */
export const KEEPER_DECISION_MS = 15_000;

/**
 * The keeper to carry a forward's connections, or undefined for a plain SSH channel: none
 * configured, not available on this host, or no answer yet within `timeoutMs` (the first
 * connection decides; until then a new client would otherwise wait).
 */
export async function keeperToUse(source: KeeperSource | undefined, timeoutMs = KEEPER_DECISION_MS): Promise<KeeperLink | undefined> {
  if (!source) return undefined;
  const link = await source().catch(() => undefined);
  if (!link) return undefined;
  if (link.state.kind === 'pending') {
    let timer: NodeJS.Timeout | undefined;
    const decided = await Promise.race([
      link.whenDecided(),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), timeoutMs);
      }),
    ]);
    clearTimeout(timer);
    if (!decided) return undefined;
  }
  return link.state.kind === 'unavailable' ? undefined : link;
}

/**
 * A forward's connections that ride keeper streams, and how many of them were carried
 * through an outage: a connection open when the keeper's transport went away that is still
 * open once it is back counts once per outage.
 */
export class KeptConnections implements Disposable {
  private readonly live = new Map<KeeperStream, { crossing: boolean; pipe: Disposable }>();
  private readonly watched = new WeakSet<KeeperLink>();
  private readonly store = new DisposableStore();
  carried = 0;

  constructor(private readonly onDidCarry: () => void) {}

  get size(): number {
    return this.live.size;
  }

  /** Pipes `socket` and `stream` (see pipeKeptStream) and counts the connection while it lasts. */
  add(link: KeeperLink, socket: Socket, stream: KeeperStream, counters: PipeCounters, onEnd?: (end: KeptEnd) => void): void {
    this.watch(link);
    const entry = {
      crossing: link.mux.state !== 'attached',
      pipe: pipeKeptStream(socket, stream, counters, (end) => {
        this.live.delete(stream);
        onEnd?.(end);
      }),
    };
    this.live.set(stream, entry);
  }

  dispose(): void {
    for (const { pipe } of [...this.live.values()]) pipe.dispose();
    this.live.clear();
    this.store.dispose();
  }

  private watch(link: KeeperLink): void {
    if (this.watched.has(link)) return;
    this.watched.add(link);
    link.mux.onDidChangeState((state) => {
      if (state === 'detached') for (const e of this.live.values()) e.crossing = true;
      if (state !== 'attached') return;
      // The keeper's WELCOME resets the streams it lost right after this state change: count
      // what is still open once that is done.
      queueMicrotask(() => {
        let n = 0;
        for (const [stream, e] of this.live) {
          if (!e.crossing) continue;
          e.crossing = false;
          if (stream.state === 'open' || stream.state === 'opening') n++;
        }
        if (n === 0) return;
        this.carried += n;
        this.onDidCarry();
      });
    }, this.store);
  }
}

import type { Duplex } from 'node:stream';
import { DisposableStore, toDisposable } from '../base/disposable';
import { KeeperError } from './errors';
import { encode, FrameDecoder, FrameType, type Frame } from './frames';
import type { Welcome } from './welcome';

export interface TransportCallbacks {
  onFrame(f: Frame): void;
  onEnd(err: KeeperError): void;
  onDrain(): void;
}

/** One transport's lifetime: decoder, write queue, timers. Everything it starts, it stops in close(). */
export class AttachedTransport {
  readonly welcome = new DeferredWelcome();
  readonly ended: Promise<void>;
  private endResolve!: () => void;
  private readonly decoder = new FrameDecoder();
  private readonly disposables = new DisposableStore();
  private closed = false;
  private flushScheduled = false;
  private ackTimer: NodeJS.Timeout | undefined;
  private readonly pings = new Map<number, { resolve: (ms: number) => void; reject: (e: Error) => void; at: number; timer: NodeJS.Timeout }>();
  private pingCounter = 0;
  writable = true;

  constructor(
    private readonly stream: Duplex,
    handshakeTimeoutMs: number,
    private readonly cb: TransportCallbacks,
  ) {
    this.ended = new Promise((r) => (this.endResolve = r));
    const onData = (chunk: Buffer) => {
      if (this.closed) return;
      try {
        for (const f of this.decoder.feed(chunk)) {
          if (this.closed) return;
          this.cb.onFrame(f);
        }
      } catch (err) {
        this.fail(err instanceof KeeperError ? err : new KeeperError('protocol', String(err)));
      }
    };
    const onEnd = () => this.fail(new KeeperError('transport-closed', 'the keeper transport ended'));
    const onError = (e: Error) => this.fail(new KeeperError('transport-closed', `the keeper transport failed: ${e.message}`));
    const onDrain = () => {
      this.writable = true;
      this.cb.onDrain();
    };
    stream.on('data', onData);
    stream.on('end', onEnd);
    stream.on('close', onEnd);
    stream.on('error', onError);
    stream.on('drain', onDrain);
    this.disposables.add(
      toDisposable(() => {
        stream.off('data', onData);
        stream.off('end', onEnd);
        stream.off('close', onEnd);
        stream.off('drain', onDrain);
        // Errors after we let go must not become uncaught exceptions.
        stream.off('error', onError);
        stream.on('error', () => undefined);
      }),
    );
    const handshake = setTimeout(() => this.fail(new KeeperError('timeout', `no WELCOME from the keeper within ${handshakeTimeoutMs} ms`)), handshakeTimeoutMs);
    this.disposables.add(toDisposable(() => clearTimeout(handshake)));
    this.welcome.promise.then(
      () => clearTimeout(handshake),
      () => undefined,
    );
  }

  get queued(): number {
    return this.stream.writableLength;
  }

  write(buffers: Buffer[]): void {
    if (this.closed) return;
    for (const b of buffers) {
      if (!this.stream.write(b)) this.writable = false;
    }
  }

  scheduleFlush(fn: () => void): void {
    if (this.flushScheduled || this.closed) return;
    this.flushScheduled = true;
    // Coalesce every write of this tick into one pump (and few frames).
    setImmediate(() => {
      this.flushScheduled = false;
      if (!this.closed) fn();
    });
  }

  scheduleAck(ms: number, fn: () => void): void {
    if (this.ackTimer || this.closed) return;
    this.ackTimer = setTimeout(() => {
      this.ackTimer = undefined;
      if (!this.closed) fn();
    }, ms);
  }

  ping(timeoutMs: number): Promise<number> {
    const token = ++this.pingCounter;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pings.delete(token);
        reject(new KeeperError('timeout', `no PONG from the keeper within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pings.set(token, { resolve, reject, at: performance.now(), timer });
      this.write([encode.ping(FrameType.Ping, token)]);
    });
  }

  onPong(token: number): void {
    const p = this.pings.get(token);
    if (!p) return;
    this.pings.delete(token);
    clearTimeout(p.timer);
    p.resolve(performance.now() - p.at);
  }

  private fail(err: KeeperError): void {
    if (this.closed) return;
    this.cb.onEnd(err);
    this.close(err);
  }

  close(err: KeeperError): void {
    if (this.closed) return;
    this.closed = true;
    if (this.ackTimer) clearTimeout(this.ackTimer);
    for (const p of this.pings.values()) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    this.pings.clear();
    this.welcome.reject(err);
    this.disposables.dispose();
    this.stream.destroy();
    this.endResolve();
  }
}

class DeferredWelcome {
  readonly promise: Promise<Welcome>;
  resolve!: (w: Welcome) => void;
  reject!: (e: Error) => void;
  constructor() {
    this.promise = new Promise((res, rej) => {
      this.resolve = res;
      this.reject = rej;
    });
    this.promise.catch(() => undefined);
  }
}

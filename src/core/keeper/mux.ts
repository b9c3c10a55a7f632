import { randomBytes } from 'node:crypto';
import type { Duplex } from 'node:stream';
import { type Disposable, DisposableStore, toDisposable } from '../base/disposable';
import { Emitter } from '../base/event';
import { type Logger, nullLogger } from '../base/logger';
import { KeeperError } from './errors';
import { encode, FrameDecoder, FrameType, PROTOCOL_VERSION, type Frame, type JsonObject } from './frames';
import { KeeperStream, type StreamHost, type StreamParams } from './stream';
import { parseWelcome, type Welcome } from './welcome';

export interface KeeperMuxOptions {
  /** The secret the keeper was started with (hex). */
  secret: string;
  /** Which of the keeper's sessions this client is; keep it across reconnects (and reloads). */
  sessionId?: string;
  logger?: Logger;
  /** Deadline for the keeper's WELCOME after our HELLO. */
  handshakeTimeoutMs?: number;
  /** How long received bytes may wait for an acknowledgement when no data goes back. */
  ackDelayMs?: number;
  /** Replay bound per stream (bytes) on our side. */
  streamBound?: number;
}

export type MuxState = 'detached' | 'attaching' | 'attached' | 'closed';

export interface DetachEvent {
  readonly error: KeeperError;
}

/** Bytes we keep queued on a transport before waiting for 'drain'. */
const TRANSPORT_BUDGET = 512 * 1024;

/**
 * Several resumable streams over one transport to the keeper (a stream-local channel or an
 * exec'd relay). The transport may die at any time; `attach` a new one and every stream
 * resumes where the keeper's and our counters say, each byte once and in order.
 */
export class KeeperMux implements Disposable {
  readonly sessionId: string;
  private readonly streams = new Map<number, KeeperStream>();
  private readonly pendingResets = new Map<number, JsonObject>();
  private nextStreamId = 1;
  private transport: AttachedTransport | undefined;
  private stateValue: MuxState = 'detached';
  private readonly logger: Logger;
  private readonly stateEmitter = new Emitter<MuxState>();
  private readonly detachEmitter = new Emitter<DetachEvent>();
  /** State changes: detached, attaching, attached, closed. */
  readonly onDidChangeState = this.stateEmitter.event;
  /** The transport ended or failed; streams wait for the next attach. */
  readonly onDidDetach = this.detachEmitter.event;
  /** The keeper instance we last attached to (a change means its streams are gone). */
  keeperInstance: string | undefined;

  private readonly host: StreamHost = {
    kick: () => this.kick(),
    forget: (s) => this.forget(s),
    get attached() {
      return false;
    },
  };

  constructor(private readonly options: KeeperMuxOptions) {
    this.sessionId = options.sessionId ?? randomBytes(16).toString('hex');
    this.logger = options.logger ?? nullLogger;
    const mux = this;
    Object.defineProperty(this.host, 'attached', { get: () => mux.stateValue === 'attached' });
  }

  get state(): MuxState {
    return this.stateValue;
  }

  get openStreams(): readonly KeeperStream[] {
    return [...this.streams.values()];
  }

  /**
   * Runs the handshake on `transport` and resumes every stream. A transport already attached
   * is dropped first (make-before-break: the keeper takes the session over as well).
   */
  attach(transport: Duplex): Promise<Welcome> {
    if (this.stateValue === 'closed') return Promise.reject(new KeeperError('disposed', 'the keeper mux is disposed'));
    this.dropTransport(new KeeperError('transport-closed', 'replaced by a new transport'), false);
    const attached = new AttachedTransport(transport, this.options.handshakeTimeoutMs ?? 10_000, {
      onFrame: (f) => this.onFrame(attached, f),
      onEnd: (err) => this.onTransportEnd(attached, err),
      onDrain: () => this.pump(),
    });
    this.transport = attached;
    this.setState('attaching');
    attached.write([
      encode.json(FrameType.Hello, {
        v: PROTOCOL_VERSION,
        secret: this.options.secret,
        session: this.sessionId,
        streams: [...this.streams.values()].filter((s) => s.openAcknowledged).map((s) => s.resumeEntry()),
      }),
    ]);
    return attached.welcome.promise;
  }

  /** Opens a stream; data may be written at once (it is sent after the OPEN, now or on attach). */
  open(params: StreamParams): KeeperStream {
    if (this.stateValue === 'closed') throw new KeeperError('disposed', 'the keeper mux is disposed');
    const id = this.nextStreamId++;
    const stream = new KeeperStream(id, params, this.host, this.options.streamBound);
    this.streams.set(id, stream);
    if (this.stateValue === 'attached') this.transport!.write([encode.open(id, params as unknown as JsonObject)]);
    this.kick();
    return stream;
  }

  /** Asks the keeper for its acknowledgements now; resolves with the round trip in ms. */
  ping(timeoutMs: number): Promise<number> {
    const t = this.transport;
    if (!t || this.stateValue !== 'attached') return Promise.reject(new KeeperError('transport-closed', 'not attached'));
    return t.ping(timeoutMs);
  }

  /** Ends the keeper and everything it runs (the user's explicit Disconnect). */
  async shutdown(timeoutMs = 5000): Promise<void> {
    const t = this.transport;
    if (!t || this.stateValue !== 'attached') throw new KeeperError('transport-closed', 'not attached');
    const ended = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new KeeperError('timeout', `keeper did not end the transport within ${timeoutMs} ms`)), timeoutMs);
      t.ended.then(() => {
        clearTimeout(timer);
        resolve();
      });
    });
    t.write([encode.shutdown()]);
    await ended;
  }

  dispose(): void {
    if (this.stateValue === 'closed') return;
    this.dropTransport(new KeeperError('disposed', 'the keeper mux is disposed'), false);
    this.setState('closed');
    for (const s of [...this.streams.values()]) s.onReset({ reason: 'disposed', message: 'the client let go of the stream' });
    this.streams.clear();
    this.stateEmitter.dispose();
    this.detachEmitter.dispose();
  }

  // ---- internals

  private setState(state: MuxState): void {
    if (this.stateValue === state) return;
    this.stateValue = state;
    this.stateEmitter.fire(state);
  }

  private kick(): void {
    if (this.stateValue === 'attached') this.transport!.scheduleFlush(() => this.pump());
  }

  private forget(stream: KeeperStream): void {
    this.streams.delete(stream.id);
    if (stream.resetPending && stream.openAcknowledged) {
      const why = { reason: stream.resetPending.reason, message: stream.resetPending.message };
      if (this.stateValue === 'attached') this.transport!.write([encode.reset(stream.id, why)]);
      else this.pendingResets.set(stream.id, why);
    } else if (stream.resetPending) {
      // The keeper may have the OPEN without our knowing: tell it too, it ignores unknown ids.
      this.pendingResets.set(stream.id, { reason: stream.resetPending.reason, message: stream.resetPending.message });
      if (this.stateValue === 'attached') this.flushPendingResets();
    }
  }

  private flushPendingResets(): void {
    for (const [id, why] of this.pendingResets) this.transport!.write([encode.reset(id, why)]);
    this.pendingResets.clear();
  }

  /** Moves bytes from the streams to the transport while it takes them. */
  private pump(): void {
    const t = this.transport;
    if (!t || this.stateValue !== 'attached') return;
    let progress = true;
    while (progress && t.writable && t.queued < TRANSPORT_BUDGET) {
      progress = false;
      for (const s of this.streams.values()) {
        if (!s.hasSendable() && !s.needsAck()) continue;
        const out: Buffer[] = [];
        if (s.transmit(out, 256 * 1024) > 0) {
          t.write(out);
          progress = true;
        }
      }
    }
    // Received bytes not yet acknowledged and nothing to carry the ack: a short delayed ACK.
    if ([...this.streams.values()].some((s) => s.hasPendingAck())) {
      t.scheduleAck(this.options.ackDelayMs ?? 20, () => this.flushAcks());
    }
  }

  private flushAcks(): void {
    const t = this.transport;
    if (!t || this.stateValue !== 'attached') return;
    const out: Buffer[] = [];
    for (const s of this.streams.values()) if (s.hasPendingAck()) s.transmit(out, 0);
    if (out.length) t.write(out);
  }

  private onFrame(t: AttachedTransport, f: Frame): void {
    if (t !== this.transport) return;
    if (this.stateValue === 'attaching') {
      if (f.type === FrameType.Error) throw errorFromFrame(f.json);
      if (f.type !== FrameType.Welcome) throw new KeeperError('protocol', `expected WELCOME, got frame 0x${f.type.toString(16)}`);
      this.onWelcome(t, parseWelcome(f.json));
      return;
    }
    switch (f.type) {
      case FrameType.Data:
        this.streams.get(f.sid)?.onAck(f.ack, f.window);
        this.streams.get(f.sid)?.onData(f.seq, f.payload);
        if (this.streams.get(f.sid)?.needsAck()) this.pump();
        else this.kick();
        break;
      case FrameType.Ack:
        this.streams.get(f.sid)?.onAck(f.ack, f.window);
        this.kick();
        break;
      case FrameType.Close: {
        const s = this.streams.get(f.sid);
        s?.onAck(f.ack, f.window);
        s?.onClose(f.seq, f.info);
        this.kick();
        break;
      }
      case FrameType.Opened:
        this.streams.get(f.sid)?.onOpened(f.json);
        this.kick();
        break;
      case FrameType.Reset:
        this.streams.get(f.sid)?.onReset({ reason: String(f.json.reason ?? 'reset'), message: String(f.json.message ?? '') });
        break;
      case FrameType.Pong:
        t.onPong(f.token);
        break;
      case FrameType.Error:
        throw errorFromFrame(f.json);
      default:
        throw new KeeperError('protocol', `unexpected frame 0x${f.type.toString(16)} from the keeper`);
    }
  }

  private onWelcome(t: AttachedTransport, welcome: Welcome): void {
    if (this.keeperInstance && this.keeperInstance !== welcome.keeper) {
      this.logger.warn(`keeper: a different keeper instance answered (${welcome.keeper}); earlier streams are gone`);
    }
    this.keeperInstance = welcome.keeper;
    const known = new Map(welcome.streams.map((e) => [e.id, e]));
    const resets = new Map(welcome.resets.map((r) => [r.id, r]));
    this.setState('attached');
    this.flushPendingResets();
    for (const s of [...this.streams.values()]) {
      const entry = known.get(s.id);
      if (entry) {
        s.resume(entry.recv, entry.win);
        s.onOpened(entry.meta);
      } else if (s.openAcknowledged) {
        const r = resets.get(s.id);
        s.onReset(r ? { reason: r.reason, message: r.message } : { reason: 'unknown-stream', message: 'the keeper no longer has this stream' });
      } else {
        // The OPEN never reached the keeper: send it (again), followed by everything written.
        t.write([encode.open(s.id, s.params as unknown as JsonObject)]);
      }
    }
    for (const e of welcome.streams) {
      if (!this.streams.has(e.id)) this.logger.info(`keeper: stream ${e.id} (${e.kind}) is parked on the keeper; this client does not know it`);
      if (e.id >= this.nextStreamId) this.nextStreamId = e.id + 1;
    }
    t.welcome.resolve(welcome);
    this.pump();
  }

  private onTransportEnd(t: AttachedTransport, err: KeeperError): void {
    if (t !== this.transport) return;
    this.dropTransport(err, true);
  }

  private dropTransport(err: KeeperError, notify: boolean): void {
    const t = this.transport;
    if (!t) return;
    this.transport = undefined;
    t.close(err);
    if (this.stateValue !== 'closed') this.setState('detached');
    this.logger.info(`keeper: detached (${err.reason}: ${err.message})`);
    if (notify) this.detachEmitter.fire({ error: err });
  }
}

function errorFromFrame(json: JsonObject): KeeperError {
  const code = String(json.code ?? 'protocol');
  const message = String(json.message ?? 'the keeper refused');
  const reason = code === 'secret' || code === 'peer-uid' || code === 'version' || code === 'shutdown' ? code : 'protocol';
  return new KeeperError(reason, `keeper: ${message}`);
}

interface TransportCallbacks {
  onFrame(f: Frame): void;
  onEnd(err: KeeperError): void;
  onDrain(): void;
}

/** One transport's lifetime: decoder, write queue, timers. Everything it starts, it stops in close(). */
class AttachedTransport {
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
    this.welcome.promise.then(() => clearTimeout(handshake), () => undefined);
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

import { randomBytes } from 'node:crypto';
import type { Duplex } from 'node:stream';
import type { Disposable } from '../base/disposable';
import { Emitter } from '../base/event';
import { type Logger, nullLogger } from '../base/logger';
import { KeeperError, textField } from './errors';
import { AttachedTransport } from './attachedTransport';
import { encode, FrameType, PROTOCOL_VERSION, type Frame, type JsonObject } from './frames';
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

export interface AcceptEvent {
  /** The tcp-listen stream the connection came in on. */
  readonly listener: KeeperStream | undefined;
  readonly stream: KeeperStream;
}

export interface DetachEvent {
  readonly error: KeeperError;
}

/** The keeper takes at most this many stream entries in a HELLO. */
const MAX_HELLO_STREAMS = 1024;
/** Cleanly ended streams whose final ACK is repeated in the next HELLO. */
const MAX_FINISHED = 256;

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
  /**
   * Streams that ended cleanly here, with our final position: the keeper forgets a stream
   * only once it knows we received its CLOSE. The ACK goes out at once when attached, and is
   * repeated in the next HELLO in case that transport died with it (bounded: the oldest go).
   */
  private readonly finished = new Map<number, number>();
  private nextStreamId = 1;
  private transport: AttachedTransport | undefined;
  private stateValue: MuxState = 'detached';
  private readonly logger: Logger;
  private readonly stateEmitter = new Emitter<MuxState>();
  private readonly detachEmitter = new Emitter<DetachEvent>();
  private readonly acceptEmitter = new Emitter<AcceptEvent>();
  /** A connection reached a keeper-owned listener (now, or while we were detached); its data waits for `stream.claim()`. */
  readonly onDidAccept = this.acceptEmitter.event;
  /** State changes: detached, attaching, attached, closed. */
  readonly onDidChangeState = this.stateEmitter.event;
  /** The transport ended or failed; streams wait for the next attach. */
  readonly onDidDetach = this.detachEmitter.event;
  /** The keeper instance we last attached to (a change means its streams are gone). */
  keeperInstance: string | undefined;

  private readonly host: StreamHost = {
    kick: () => this.kick(),
    forget: (s) => this.forget(s),
  };

  constructor(private readonly options: KeeperMuxOptions) {
    this.sessionId = options.sessionId ?? randomBytes(16).toString('hex');
    this.logger = options.logger ?? nullLogger;
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
        streams: this.helloEntries(),
      }),
    ]);
    return attached.welcome.promise;
  }

  /** Lets the transport go (its connection was given up); the streams wait for the next attach. */
  detach(error: KeeperError): void {
    this.dropTransport(error, true);
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

  /**
   * Takes back a stream this client had before a reload (same session id): it resumes on the
   * next attach from what the keeper still holds, or is reset if the keeper no longer has it.
   * Call before attaching.
   */
  adopt(id: number, params: StreamParams): KeeperStream {
    if (this.stateValue === 'closed') throw new KeeperError('disposed', 'the keeper mux is disposed');
    if (this.streams.has(id) || id <= 0 || id >= KeeperStream.KEEPER_ID_BASE) throw new KeeperError('protocol', `stream ${id} cannot be adopted`);
    const stream = new KeeperStream(id, params, this.host, this.options.streamBound);
    stream.markAdopting();
    this.streams.set(id, stream);
    this.nextStreamId = Math.max(this.nextStreamId, id + 1);
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
      void t.ended.then(() => {
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
    this.acceptEmitter.dispose();
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

  private helloEntries(): Array<{ id: number; recv: number; win: number; adopt?: boolean }> {
    const live = [...this.streams.values()].filter((s) => s.openAcknowledged).map((s) => s.resumeEntry());
    const room = Math.max(0, MAX_HELLO_STREAMS - live.length);
    const done = [...this.finished].slice(-room).map(([id, recv]) => ({ id, recv, win: 0 }));
    return [...live, ...done];
  }

  private forget(stream: KeeperStream): void {
    this.streams.delete(stream.id);
    if (stream.state === 'closed') {
      this.finished.delete(stream.id);
      this.finished.set(stream.id, stream.receivedSeq);
      if (this.finished.size > MAX_FINISHED) this.finished.delete(this.finished.keys().next().value!);
      if (this.stateValue === 'attached') this.transport!.write([encode.ack(stream.id, stream.receivedSeq, 0)]);
      return;
    }
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
      case FrameType.Open:
        if (f.sid < KeeperStream.KEEPER_ID_BASE) throw new KeeperError('protocol', `keeper opened stream ${f.sid} in the client's id range`);
        if (!this.streams.has(f.sid)) this.adoptStream(f.sid, f.json, 0);
        break;
      case FrameType.Opened:
        this.streams.get(f.sid)?.onOpened(f.json);
        this.kick();
        break;
      case FrameType.Reset:
        this.streams.get(f.sid)?.onReset({ reason: textField(f.json.reason, 'reset'), message: textField(f.json.message, '') });
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
    // The keeper has our final positions of the streams that ended here (HELLO carried them).
    this.finished.clear();
    this.flushPendingResets();
    for (const s of [...this.streams.values()]) {
      const entry = known.get(s.id);
      if (entry && s.adopting) {
        s.resumeAdopted(entry.recv, entry.base, entry.win, entry.meta);
      } else if (entry) {
        s.resume(entry.recv, entry.win);
        s.onOpened(entry.meta);
      } else if (s.openAcknowledged) {
        const r = resets.get(s.id);
        s.onReset(r ? { reason: r.reason, message: r.message } : { reason: 'unknown-stream', message: 'the keeper no longer has this stream' });
      } else {
        // The OPEN never reached the keeper: send it (again), followed by everything written.
        s.reopen();
        t.write([encode.open(s.id, s.params as unknown as JsonObject)]);
      }
    }
    for (const e of welcome.streams) {
      if (this.streams.has(e.id)) continue;
      if (e.id >= KeeperStream.KEEPER_ID_BASE && e.kind === 'tcp-accepted') {
        // Accepted while we were away: held by the keeper, carried now.
        this.adoptStream(e.id, e.meta, e.base);
      } else {
        this.logger.info(`keeper: stream ${e.id} (${e.kind}) is parked on the keeper; this client does not know it`);
        if (e.id < KeeperStream.KEEPER_ID_BASE && e.id >= this.nextStreamId) this.nextStreamId = e.id + 1;
      }
    }
    t.welcome.resolve(welcome);
    this.pump();
  }

  private adoptStream(id: number, meta: JsonObject, keeperBase: number): void {
    const listenerId = typeof meta.listener === 'number' ? meta.listener : -1;
    const peer = Array.isArray(meta.peer) ? (meta.peer as [string, number]) : ['', 0];
    const stream = new KeeperStream(
      id,
      { kind: 'tcp-accepted', listener: listenerId, peer: [String(peer[0]), Number(peer[1])] },
      this.host,
      this.options.streamBound,
    );
    this.streams.set(id, stream);
    stream.adopt(keeperBase, meta);
    this.acceptEmitter.fire({ listener: this.streams.get(listenerId), stream });
    this.kick();
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
  const code = textField(json.code, 'protocol');
  const message = textField(json.message, 'the keeper refused');
  const reason = code === 'secret' || code === 'peer-uid' || code === 'version' || code === 'shutdown' ? code : 'protocol';
  return new KeeperError(reason, `keeper: ${message}`);
}

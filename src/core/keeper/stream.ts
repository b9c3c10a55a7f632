import type { Disposable } from '../base/disposable';
import { Emitter } from '../base/event';
import { KeeperError, type StreamResetInfo } from './errors';
import { encode, MAX_DATA, type JsonObject } from './frames';
import { SendBuffer } from './sendBuffer';

export type StreamKind = 'pty' | 'tcp-connect' | 'tcp-listen' | 'tcp-accepted';

export interface PtyParams {
  kind: 'pty';
  term?: string;
  cols: number;
  rows: number;
  env?: Record<string, string>;
  /** Program and arguments instead of the user's login shell. */
  argv?: string[];
  cwd?: string;
}

export interface TcpConnectParams {
  kind: 'tcp-connect';
  host: string;
  port: number;
}

/** A listener the keeper owns on the server (-R); each connection arrives as a 'tcp-accepted' stream. */
export interface TcpListenParams {
  kind: 'tcp-listen';
  /** Default 127.0.0.1; anything but loopback needs allowNonLoopback. */
  bind?: string;
  /** 0: the keeper picks one (OPENED meta.port says which). */
  port: number;
  allowNonLoopback?: boolean;
}

/** A connection the keeper accepted on a tcp-listen stream (opened by the keeper). */
export interface TcpAcceptedParams {
  kind: 'tcp-accepted';
  listener: number;
  peer: [string, number];
}

export type StreamParams = (PtyParams | TcpConnectParams | TcpListenParams | TcpAcceptedParams) & {
  /** Replay bound on the keeper's side (bytes); default 8 MiB. */
  bound?: number;
  /** What the keeper does when its replay buffer is full while detached: stop reading (default) or reset. */
  overflow?: 'pause' | 'reset';
};

/** How the far end ended: a shell's exit status, or {} for a TCP half-close. */
export type CloseInfo = { exit?: number; signal?: number } & JsonObject;

export type StreamState = 'opening' | 'open' | 'closed' | 'reset';

/** What a stream needs from the mux that carries it. */
export interface StreamHost {
  /** Something became sendable (data, ack, close, resize). */
  kick(): void;
  /** The stream is finished; forget it (and tell the keeper if it was reset here). */
  forget(stream: KeeperStream): void;
}

export const DEFAULT_STREAM_BOUND = 8 * 1024 * 1024;
/** What we accept unconsumed from the keeper; we consume at once, so this is the keeper's in-flight limit. */
export const RECEIVE_WINDOW = 4 * 1024 * 1024;
const ACK_EVERY = 256 * 1024;

/**
 * One multiplexed, resumable byte stream to the keeper. Every byte written is numbered and
 * kept until the keeper acknowledges it; after a re-attach the mux resumes it from what the
 * keeper says it has. Received bytes are numbered too, so a replay is delivered exactly once.
 */
export class KeeperStream implements Disposable {
  private readonly dataEmitter = new Emitter<Buffer>();
  private readonly openEmitter = new Emitter<JsonObject>();
  private readonly endEmitter = new Emitter<CloseInfo>();
  private readonly resetEmitter = new Emitter<StreamResetInfo>();
  private readonly drainEmitter = new Emitter<void>();
  /** Bytes from the keeper, in order, each once. */
  readonly onDidData = this.dataEmitter.event;
  /** The keeper opened the far end (meta: pid for a pty, local address for TCP). */
  readonly onDidOpen = this.openEmitter.event;
  /** The far end finished sending (shell exited with this status, TCP peer half-closed). */
  readonly onDidEnd = this.endEmitter.event;
  /** The stream is gone without a clean close; nothing more will flow. */
  readonly onDidReset = this.resetEmitter.event;
  /** The send buffer fell below its high-water mark after `write` returned false. */
  readonly onDidDrain = this.drainEmitter.event;

  state: StreamState = 'opening';
  meta: JsonObject = {};
  /** OPEN reached the keeper (it listed the stream or answered OPENED). */
  openAcknowledged = false;

  private readonly out = new SendBuffer();
  /** Next sequence number to put on the current transport. */
  private sent = 0;
  private endSeq: number | undefined;
  private peerAck = 0;
  private peerWindow = RECEIVE_WINDOW;
  private recvNext = 0;
  private recvEnded = false;
  private ackedSent = 0;
  private size: { cols: number; rows: number } | undefined;
  private sizeDirty = false;
  private wantDrain = false;
  private readonly bound: number;
  private readonly highWater: number;
  resetPending: StreamResetInfo | undefined;
  /** Ours from before a reload: the keeper tells where both sides are on the next attach. */
  adopting = false;
  /** Data of an adopted or accepted stream that arrived before its consumer claimed it. */
  private unclaimed: Buffer[] | undefined;
  /** The far end's close, when it came before the consumer claimed the stream. */
  private unclaimedEnd: CloseInfo | undefined;

  /** Ids from here up are streams the keeper opened. */
  static readonly KEEPER_ID_BASE = 0x80000000;

  constructor(
    readonly id: number,
    readonly params: StreamParams,
    private readonly host: StreamHost,
    bound = DEFAULT_STREAM_BOUND,
  ) {
    this.bound = bound;
    this.highWater = Math.min(bound / 2, 1024 * 1024);
    if (params.kind === 'pty') this.size = { cols: params.cols, rows: params.rows };
  }

  get kind(): StreamKind {
    return this.params.kind;
  }

  /** Bytes written and not yet acknowledged by the keeper. */
  get buffered(): number {
    return this.out.length;
  }

  get bytesReceived(): number {
    return this.recvNext - (this.recvEnded ? 1 : 0);
  }

  get receivedSeq(): number {
    return this.recvNext;
  }

  /**
   * Queues bytes for the keeper. Returns false once the unacknowledged bytes pass the
   * high-water mark (wait for onDidDrain); past the bound the stream is reset, honestly.
   */
  write(data: Buffer | string): boolean {
    if (this.state === 'closed' || this.state === 'reset' || this.endSeq !== undefined) {
      throw new KeeperError('protocol', `stream ${this.id} is ${this.endSeq !== undefined ? 'ended' : this.state}`);
    }
    const chunk = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    if (this.out.length + chunk.length > this.bound) {
      this.reset('buffer-overflow', `more than ${this.bound} bytes unacknowledged`);
      return false;
    }
    this.out.push(chunk);
    this.host.kick();
    if (this.out.length >= this.highWater) {
      this.wantDrain = true;
      return false;
    }
    return true;
  }

  /** No more bytes from us (TCP: half-close; pty: hang up the shell). */
  end(): void {
    if (this.endSeq !== undefined || this.state === 'closed' || this.state === 'reset') return;
    this.endSeq = this.out.end;
    this.host.kick();
  }

  resize(cols: number, rows: number): void {
    if (this.kind !== 'pty') return;
    this.size = { cols, rows };
    this.sizeDirty = true;
    this.host.kick();
  }

  /** Ends the stream at once; the keeper drops the far end (RST for TCP, SIGHUP for a shell). */
  reset(reason = 'reset-by-client', message = 'reset by the client'): void {
    if (this.state === 'closed' || this.state === 'reset') return;
    this.resetPending = { reason, message };
    this.host.kick();
    this.finishWithReset({ reason, message });
  }

  dispose(): void {
    this.reset('reset-by-client', 'disposed');
  }

  // ---- driven by the mux

  /**
   * A stream this client did not open (the keeper accepted it, or a previous client instance
   * had it): take it over from the oldest byte the keeper still holds.
   */
  adopt(keeperBase: number, meta: JsonObject): void {
    // Whoever takes this stream (a -R forward connecting its local target) subscribes later:
    // hold what arrives until it claims the stream.
    this.unclaimed = [];
    this.recvNext = keeperBase;
    this.ackedSent = -1;
    this.openAcknowledged = true;
    this.onOpened(meta);
  }

  /**
   * A stream of this client from before a reload (its counters were lost with the process):
   * ask the keeper to resume it from whatever it still holds.
   */
  markAdopting(): void {
    this.adopting = true;
    this.openAcknowledged = true;
    this.unclaimed = [];
  }

  /**
   * The terminal that shows an adopted stream subscribed: what arrived before it did (the
   * keeper answers as soon as the new window attaches) is handed on now, in order.
   */
  claim(): void {
    const early = this.unclaimed;
    this.unclaimed = undefined;
    for (const d of early ?? []) this.dataEmitter.fire(d);
    const end = this.unclaimedEnd;
    this.unclaimedEnd = undefined;
    if (end) this.endEmitter.fire(end);
  }

  /** The keeper's answer for an adopted stream: it has `peerRecv` of our bytes and holds its own from `keeperBase`. */
  resumeAdopted(peerRecv: number, keeperBase: number, window: number, meta: JsonObject): void {
    this.adopting = false;
    // Anything written since the reload follows what the keeper already has.
    this.out.base = peerRecv;
    this.sent = peerRecv;
    this.peerAck = peerRecv;
    this.peerWindow = window;
    this.recvNext = keeperBase;
    this.ackedSent = -1;
    this.sizeDirty = this.size !== undefined;
    this.onOpened(meta);
  }

  /**
   * Our OPEN never reached the keeper (the transport died first): it goes again on the new
   * transport, and so does everything written since, from the first byte.
   */
  reopen(): void {
    this.sent = this.out.base;
    this.peerAck = this.out.base;
    this.peerWindow = RECEIVE_WINDOW;
    this.sizeDirty = this.size !== undefined;
  }

  /** Resume after (re-)attach: the keeper has `peerRecv` of our bytes and accepts `window` more. */
  resume(peerRecv: number, window: number): void {
    if (peerRecv < this.out.base || peerRecv > this.out.end + (this.endSeq !== undefined ? 1 : 0)) {
      throw new KeeperError('protocol', `stream ${this.id}: keeper has ${peerRecv}, we hold ${this.out.base}..${this.out.end}`);
    }
    this.openAcknowledged = true;
    this.sent = this.out.base;
    this.peerAck = this.out.base;
    this.onAck(peerRecv, window);
    this.sizeDirty = this.size !== undefined;
    this.ackedSent = -1; // tell the keeper where we are even if no data flows
  }

  onAck(ack: number, window: number): void {
    const limit = this.out.end + (this.endSeq !== undefined ? 1 : 0);
    if (ack > limit) throw new KeeperError('protocol', `stream ${this.id}: ack ${ack} beyond ${limit}`);
    if (ack > this.out.base) this.out.ackTo(ack);
    this.peerAck = Math.max(this.peerAck, ack);
    this.peerWindow = window;
    if (this.sent < this.peerAck) this.sent = this.peerAck;
    if (this.wantDrain && this.out.length < this.highWater) {
      this.wantDrain = false;
      this.drainEmitter.fire();
    }
    this.maybeFinish();
  }

  onOpened(meta: JsonObject): void {
    this.openAcknowledged = true;
    this.meta = meta;
    if (this.state === 'opening') {
      this.state = 'open';
      this.openEmitter.fire(meta);
    }
  }

  onData(seq: number, payload: Buffer): void {
    if (seq > this.recvNext) throw new KeeperError('protocol', `stream ${this.id}: gap, got ${seq}, expected ${this.recvNext}`);
    const end = seq + payload.length;
    if (this.recvEnded && end > this.recvNext) throw new KeeperError('protocol', `stream ${this.id}: data after CLOSE`);
    if (end <= this.recvNext) return; // a replay we already have
    if (end - this.ackedSent > RECEIVE_WINDOW + MAX_DATA && this.ackedSent >= 0) {
      throw new KeeperError('protocol', `stream ${this.id}: keeper overran the window`);
    }
    const fresh = payload.subarray(this.recvNext - seq);
    this.recvNext = end;
    if (this.state === 'opening') this.onOpened(this.meta);
    if (this.unclaimed) this.unclaimed.push(Buffer.from(fresh));
    else this.dataEmitter.fire(fresh);
  }

  onClose(seq: number, info: CloseInfo): void {
    if (seq < this.recvNext) return;
    if (seq > this.recvNext) throw new KeeperError('protocol', `stream ${this.id}: CLOSE at ${seq}, expected ${this.recvNext}`);
    this.recvNext += 1;
    this.recvEnded = true;
    if (this.unclaimed) this.unclaimedEnd = info;
    else this.endEmitter.fire(info);
    // A shell that ended takes the terminal with it: answer with our own end.
    if (this.kind === 'pty') this.end();
    this.maybeFinish();
  }

  onReset(info: StreamResetInfo): void {
    if (info.reason === 'closed' && this.recvEnded) {
      // The keeper finished the stream on both sides; our own CLOSE's ack was lost with a transport.
      this.finishClean();
      return;
    }
    this.finishWithReset(info);
  }

  needsAck(): boolean {
    return this.recvNext - this.ackedSent >= ACK_EVERY;
  }

  hasPendingAck(): boolean {
    return this.recvNext !== this.ackedSent;
  }

  /** Frames this stream may send now, within the keeper's window and `budget` bytes. */
  transmit(out: Buffer[], budget: number): number {
    let used = 0;
    if (this.sizeDirty && this.size && this.openAcknowledged) {
      out.push(encode.resize(this.id, this.size.cols, this.size.rows));
      this.sizeDirty = false;
      used += 13;
    }
    const limit = this.peerAck + this.peerWindow;
    while (this.sent < this.out.end && this.sent < limit && used < budget) {
      const n = Math.min(MAX_DATA, this.out.end - this.sent, limit - this.sent);
      const payload = this.out.slice(this.sent, n);
      out.push(...encode.data(this.id, this.sent, this.recvNext, RECEIVE_WINDOW, payload));
      this.ackedSent = this.recvNext;
      this.sent += payload.length;
      used += payload.length + 29;
    }
    if (this.endSeq !== undefined && this.sent === this.endSeq && this.sent === this.out.end && used < budget) {
      out.push(encode.close(this.id, this.endSeq, this.recvNext, RECEIVE_WINDOW));
      this.ackedSent = this.recvNext;
      this.sent += 1;
      used += 50;
    }
    if (this.hasPendingAck() && used === 0) {
      out.push(encode.ack(this.id, this.recvNext, RECEIVE_WINDOW));
      this.ackedSent = this.recvNext;
      used += 21;
    }
    return used;
  }

  hasSendable(): boolean {
    const limit = this.peerAck + this.peerWindow;
    return (
      (this.sizeDirty && this.openAcknowledged) || (this.sent < this.out.end && this.sent < limit) || (this.endSeq !== undefined && this.sent === this.endSeq)
    );
  }

  resumeEntry(): { id: number; recv: number; win: number; adopt?: boolean } {
    return this.adopting ? { id: this.id, recv: 0, win: RECEIVE_WINDOW, adopt: true } : { id: this.id, recv: this.recvNext, win: RECEIVE_WINDOW };
  }

  private maybeFinish(): void {
    if (this.recvEnded && this.endSeq !== undefined && this.peerAck > this.endSeq) this.finishClean();
  }

  private finishClean(): void {
    if (this.state === 'closed' || this.state === 'reset') return;
    this.state = 'closed';
    this.host.forget(this);
    this.disposeEmitters();
  }

  private finishWithReset(info: StreamResetInfo): void {
    if (this.state === 'closed' || this.state === 'reset') return;
    this.state = 'reset';
    this.resetEmitter.fire(info);
    this.host.forget(this);
    this.disposeEmitters();
  }

  private disposeEmitters(): void {
    for (const e of [this.dataEmitter, this.openEmitter, this.endEmitter, this.resetEmitter, this.drainEmitter]) e.dispose();
  }
}

import { KeeperError } from './errors';

/**
 * The keeper protocol's frames (docs/keeper-protocol.md): a u32 big-endian length of what
 * follows, a u8 type, a body. The same numbers are in keeper/keeper.py.
 */
export const PROTOCOL_VERSION = 1;
/** Bytes after the length field; anything longer is garbage, not a frame to wait for. */
export const MAX_FRAME = (1 << 20) + 64;
export const MAX_JSON = 64 * 1024;
/** Payload of one DATA frame we send. */
export const MAX_DATA = 64 * 1024;
/** Sequence numbers stay exact in a JS number. */
export const MAX_SEQ = Number.MAX_SAFE_INTEGER;

export enum FrameType {
  Hello = 0x01,
  Welcome = 0x02,
  Error = 0x03,
  Open = 0x10,
  Opened = 0x11,
  Data = 0x12,
  Ack = 0x13,
  Close = 0x14,
  Reset = 0x15,
  Resize = 0x16,
  Ping = 0x20,
  Pong = 0x21,
  Shutdown = 0x22,
}

export type JsonObject = Record<string, unknown>;

export type Frame =
  | { type: FrameType.Hello | FrameType.Welcome | FrameType.Error; json: JsonObject }
  | { type: FrameType.Open | FrameType.Opened | FrameType.Reset; sid: number; json: JsonObject }
  | { type: FrameType.Data; sid: number; seq: number; ack: number; window: number; payload: Buffer }
  | { type: FrameType.Close; sid: number; seq: number; ack: number; window: number; info: JsonObject }
  | { type: FrameType.Ack; sid: number; ack: number; window: number }
  | { type: FrameType.Resize; sid: number; cols: number; rows: number }
  | { type: FrameType.Ping | FrameType.Pong; token: number }
  | { type: FrameType.Shutdown };

const DATA_HEADER = 4 + 8 + 8 + 4;
const ACK_BODY = 4 + 8 + 4;

function protocolError(message: string): KeeperError {
  return new KeeperError('protocol', message);
}

function readU64(buf: Buffer, at: number, what: string): number {
  const value = buf.readBigUInt64BE(at);
  if (value > BigInt(MAX_SEQ)) throw protocolError(`${what}: sequence number ${value} out of range`);
  return Number(value);
}

function parseJson(body: Buffer, what: string): JsonObject {
  if (body.length > MAX_JSON) throw protocolError(`${what}: JSON of ${body.length} bytes exceeds ${MAX_JSON}`);
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(body));
  } catch (err) {
    throw protocolError(`${what}: bad JSON (${(err as Error).name})`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw protocolError(`${what}: JSON is not an object`);
  }
  return value as JsonObject;
}

function need(body: Buffer, n: number, what: string): void {
  if (body.length < n) throw protocolError(`${what}: body of ${body.length} bytes is shorter than ${n}`);
}

function exact(body: Buffer, n: number, what: string): void {
  if (body.length !== n) throw protocolError(`${what}: body of ${body.length} bytes, want ${n}`);
}

export function parseFrame(type: number, body: Buffer): Frame {
  const what = `frame 0x${type.toString(16)}`;
  switch (type as FrameType) {
    case FrameType.Hello:
    case FrameType.Welcome:
    case FrameType.Error:
      return { type, json: parseJson(body, what) };
    case FrameType.Open:
    case FrameType.Opened:
    case FrameType.Reset:
      need(body, 4, what);
      return { type, sid: body.readUInt32BE(0), json: parseJson(body.subarray(4), what) };
    case FrameType.Data: {
      need(body, DATA_HEADER + 1, 'DATA');
      const seq = readU64(body, 4, 'DATA');
      // Subtract on the right: seq + body.length rounds above 2^53 (floats), and refused a
      // last frame ending exactly at MAX_SEQ that keeper.py (exact integers) accepts.
      if (seq > MAX_SEQ - (body.length - DATA_HEADER)) throw protocolError('DATA: sequence number out of range');
      return {
        type,
        sid: body.readUInt32BE(0),
        seq,
        ack: readU64(body, 12, 'DATA ack'),
        window: body.readUInt32BE(20),
        payload: body.subarray(DATA_HEADER),
      };
    }
    case FrameType.Close: {
      need(body, DATA_HEADER, 'CLOSE');
      const seq = readU64(body, 4, 'CLOSE');
      if (seq + 1 > MAX_SEQ) throw protocolError('CLOSE: sequence number out of range');
      const info = body.length > DATA_HEADER ? parseJson(body.subarray(DATA_HEADER), 'CLOSE') : {};
      return { type, sid: body.readUInt32BE(0), seq, ack: readU64(body, 12, 'CLOSE ack'), window: body.readUInt32BE(20), info };
    }
    case FrameType.Ack:
      exact(body, ACK_BODY, 'ACK');
      return { type, sid: body.readUInt32BE(0), ack: readU64(body, 4, 'ACK'), window: body.readUInt32BE(12) };
    case FrameType.Resize:
      exact(body, 8, 'RESIZE');
      return { type, sid: body.readUInt32BE(0), cols: body.readUInt16BE(4), rows: body.readUInt16BE(6) };
    case FrameType.Ping:
    case FrameType.Pong: {
      exact(body, 8, 'PING/PONG');
      // Tokens are ours (a counter); reading one beyond 2^53 is a peer bug, not data.
      return { type, token: readU64(body, 0, 'PING/PONG') };
    }
    case FrameType.Shutdown:
      exact(body, 0, 'SHUTDOWN');
      return { type };
    default:
      throw protocolError(`unknown frame type 0x${type.toString(16)}`);
  }
}

/**
 * Splits a byte stream into frames. Holds at most one partial frame (bounded by MAX_FRAME);
 * after an error it stays failed, since the stream's framing is lost.
 */
export class FrameDecoder {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private failed: KeeperError | undefined;

  constructor(private readonly maxFrame = MAX_FRAME) {}

  /** Bytes held for a frame not yet complete (at most 4 + maxFrame plus the last chunk fed). */
  get pendingBytes(): number {
    return this.buffered;
  }

  feed(data: Buffer): Frame[] {
    if (this.failed) throw this.failed;
    this.chunks.push(data);
    this.buffered += data.length;
    const frames: Frame[] = [];
    try {
      while (this.buffered >= 4) {
        const head = this.peek(5);
        const length = head.readUInt32BE(0);
        if (length < 1 || length > this.maxFrame) {
          throw protocolError(`frame length ${length} out of range 1..${this.maxFrame}`);
        }
        if (this.buffered < 4 + length) break;
        const whole = this.take(4 + length);
        frames.push(parseFrame(whole[4], whole.subarray(5)));
      }
    } catch (err) {
      this.failed = err instanceof KeeperError ? err : protocolError(String(err));
      this.chunks = [];
      this.buffered = 0;
      throw this.failed;
    }
    return frames;
  }

  private peek(n: number): Buffer {
    if (this.chunks[0].length >= n || this.chunks.length === 1) return this.chunks[0];
    const joined = Buffer.concat(this.chunks);
    this.chunks = [joined];
    return joined;
  }

  private take(n: number): Buffer {
    let first = this.chunks[0];
    if (first.length < n) {
      first = Buffer.concat(this.chunks);
      this.chunks = [first];
    }
    const out = first.subarray(0, n);
    if (first.length === n) this.chunks.shift();
    else this.chunks[0] = first.subarray(n);
    this.buffered -= n;
    return out;
  }
}

function header(type: FrameType, bodyLength: number): Buffer {
  const h = Buffer.allocUnsafe(5);
  h.writeUInt32BE(bodyLength + 1, 0);
  h[4] = type;
  return h;
}

function withBody(type: FrameType, body: Buffer): Buffer {
  return Buffer.concat([header(type, body.length), body]);
}

function sidJson(type: FrameType, sid: number, json: JsonObject): Buffer {
  const j = Buffer.from(JSON.stringify(json), 'utf8');
  const b = Buffer.allocUnsafe(4 + j.length);
  b.writeUInt32BE(sid, 0);
  j.copy(b, 4);
  return withBody(type, b);
}

export const encode = {
  json(type: FrameType.Hello | FrameType.Welcome | FrameType.Error, json: JsonObject): Buffer {
    return withBody(type, Buffer.from(JSON.stringify(json), 'utf8'));
  },
  open: (sid: number, params: JsonObject) => sidJson(FrameType.Open, sid, params),
  opened: (sid: number, meta: JsonObject) => sidJson(FrameType.Opened, sid, meta),
  reset: (sid: number, why: JsonObject) => sidJson(FrameType.Reset, sid, why),
  /** Header and payload as two buffers: the payload is not copied. */
  data(sid: number, seq: number, ack: number, window: number, payload: Buffer): Buffer[] {
    const h = header(FrameType.Data, DATA_HEADER + payload.length);
    const b = Buffer.allocUnsafe(DATA_HEADER);
    b.writeUInt32BE(sid, 0);
    b.writeBigUInt64BE(BigInt(seq), 4);
    b.writeBigUInt64BE(BigInt(ack), 12);
    b.writeUInt32BE(window, 20);
    return [Buffer.concat([h, b]), payload];
  },
  close(sid: number, seq: number, ack: number, window: number, info: JsonObject = {}): Buffer {
    const j = Buffer.from(JSON.stringify(info), 'utf8');
    const b = Buffer.allocUnsafe(DATA_HEADER + j.length);
    b.writeUInt32BE(sid, 0);
    b.writeBigUInt64BE(BigInt(seq), 4);
    b.writeBigUInt64BE(BigInt(ack), 12);
    b.writeUInt32BE(window, 20);
    j.copy(b, DATA_HEADER);
    return withBody(FrameType.Close, b);
  },
  ack(sid: number, ack: number, window: number): Buffer {
    const b = Buffer.allocUnsafe(ACK_BODY);
    b.writeUInt32BE(sid, 0);
    b.writeBigUInt64BE(BigInt(ack), 4);
    b.writeUInt32BE(window, 12);
    return withBody(FrameType.Ack, b);
  },
  resize(sid: number, cols: number, rows: number): Buffer {
    const b = Buffer.allocUnsafe(8);
    b.writeUInt32BE(sid, 0);
    b.writeUInt16BE(cols, 4);
    b.writeUInt16BE(rows, 6);
    return withBody(FrameType.Resize, b);
  },
  ping(type: FrameType.Ping | FrameType.Pong, token: number): Buffer {
    const b = Buffer.allocUnsafe(8);
    b.writeBigUInt64BE(BigInt(token), 0);
    return withBody(type, b);
  },
  shutdown: () => header(FrameType.Shutdown, 0),
};

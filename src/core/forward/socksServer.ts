/**
 * The server side of the SOCKS handshake (RFC 1928 SOCKS5 with the "no authentication"
 * method, and SOCKS4/4a), CONNECT only. Knows nothing about ssh: dynamicForward.ts decides
 * where a request goes and which reply it gets.
 *
 * The parser is incremental: TCP may hand us the greeting and the request one byte at a
 * time, or both (plus the first bytes of the stream) in one chunk.
 */
import { isIPv4 } from 'node:net';
import type { Socket } from 'node:net';

/** RFC 1928 section 6 reply codes. SOCKS4 only knows granted (0) or rejected (anything else). */
export const SocksReply = {
  succeeded: 0x00,
  generalFailure: 0x01,
  notAllowed: 0x02,
  networkUnreachable: 0x03,
  hostUnreachable: 0x04,
  connectionRefused: 0x05,
  ttlExpired: 0x06,
  commandNotSupported: 0x07,
  addressTypeNotSupported: 0x08,
} as const;
export type SocksReplyCode = (typeof SocksReply)[keyof typeof SocksReply];

export type SocksAddressType = 'ipv4' | 'ipv6' | 'domain';

export interface SocksRequest {
  version: 4 | 5;
  /** Only CONNECT gets this far; other commands are refused by the parser. */
  command: 'connect';
  addressType: SocksAddressType;
  /** Dotted quad, IPv6 text (RFC 5952 form, no brackets), or the domain name as sent. */
  host: string;
  port: number;
}

export type HandshakeStep =
  /** Write this to the client and keep feeding (the SOCKS5 method selection). */
  | { readonly kind: 'send'; readonly data: Buffer }
  /** A complete request; `rest` is what the client sent after it (already part of the stream). */
  | { readonly kind: 'request'; readonly request: SocksRequest; readonly rest: Buffer }
  /** Write `data` (if any) and close: the client asked for something we do not do. */
  | { readonly kind: 'refuse'; readonly data: Buffer | undefined; readonly reason: string };

const NO_AUTH = 0x00;
const NO_ACCEPTABLE_METHOD = 0xff;
const CMD_CONNECT = 0x01;
const ATYP_IPV4 = 0x01;
const ATYP_DOMAIN = 0x03;
const ATYP_IPV6 = 0x04;
const SOCKS4_GRANTED = 0x5a;
const SOCKS4_REJECTED = 0x5b;
/** SOCKS4 user ids and 4a host names end with NUL; a client that never sends one must not grow our buffer. */
const MAX_SOCKS4_STRING = 255;

type Phase = 'version' | 's5-greeting' | 's5-request' | 's4-request' | 'done';

/** Incremental handshake parser: feed it what arrives, act on the steps it returns. */
export class SocksHandshake {
  private buffer: Buffer = Buffer.alloc(0);
  private phase: Phase = 'version';

  get done(): boolean {
    return this.phase === 'done';
  }

  /**
   * Takes the next bytes; returns the steps they complete, in order (possibly none). After
   * a `request` or `refuse` step the handshake is over and further input is ignored.
   */
  feed(chunk: Buffer): HandshakeStep[] {
    if (this.phase === 'done') return [];
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    const steps: HandshakeStep[] = [];
    for (;;) {
      const step = this.next();
      if (!step) return steps;
      steps.push(step);
      if (step.kind !== 'send') {
        this.phase = 'done';
        return steps;
      }
    }
  }

  /** One step from the buffered bytes, or undefined when more bytes are needed. */
  private next(): HandshakeStep | undefined {
    const b = this.buffer;
    switch (this.phase) {
      case 'version':
        if (b.length < 1) return undefined;
        if (b[0] === 5) this.phase = 's5-greeting';
        else if (b[0] === 4) this.phase = 's4-request';
        else return refuse(undefined, `not a SOCKS4 or SOCKS5 client (first byte 0x${b[0].toString(16).padStart(2, '0')})`);
        return this.next();
      case 's5-greeting': {
        if (b.length < 2) return undefined;
        const count = b[1];
        if (b.length < 2 + count) return undefined;
        const methods = b.subarray(2, 2 + count);
        this.consume(2 + count);
        if (!methods.includes(NO_AUTH)) {
          return refuse(Buffer.from([5, NO_ACCEPTABLE_METHOD]), 'the client offers no method we support (only "no authentication")');
        }
        this.phase = 's5-request';
        return { kind: 'send', data: Buffer.from([5, NO_AUTH]) };
      }
      case 's5-request':
        return this.socks5Request();
      case 's4-request':
        return this.socks4Request();
      case 'done':
        return undefined;
    }
  }

  private socks5Request(): HandshakeStep | undefined {
    const b = this.buffer;
    if (b.length < 4) return undefined;
    if (b[0] !== 5) return refuse(socks5Reply(SocksReply.generalFailure), `bad SOCKS5 request version ${b[0]}`);
    if (b[1] !== CMD_CONNECT) {
      return refuse(socks5Reply(SocksReply.commandNotSupported), `SOCKS5 command ${b[1]} is not supported (only CONNECT)`);
    }
    let host: string;
    let addressType: SocksAddressType;
    let end: number;
    switch (b[3]) {
      case ATYP_IPV4:
        end = 4 + 4;
        if (b.length < end + 2) return undefined;
        host = ipv4ToString(b.subarray(4, end));
        addressType = 'ipv4';
        break;
      case ATYP_IPV6:
        end = 4 + 16;
        if (b.length < end + 2) return undefined;
        host = ipv6ToString(b.subarray(4, end));
        addressType = 'ipv6';
        break;
      case ATYP_DOMAIN: {
        if (b.length < 5) return undefined;
        end = 5 + b[4];
        if (b.length < end + 2) return undefined;
        host = b.subarray(5, end).toString('utf8');
        addressType = 'domain';
        if (!validDomain(host)) return refuse(socks5Reply(SocksReply.generalFailure), `invalid host name in SOCKS5 request: ${JSON.stringify(host)}`);
        break;
      }
      default:
        return refuse(socks5Reply(SocksReply.addressTypeNotSupported), `SOCKS5 address type ${b[3]} is not supported`);
    }
    const port = b.readUInt16BE(end);
    const rest = b.subarray(end + 2);
    this.consume(b.length);
    return { kind: 'request', request: { version: 5, command: 'connect', addressType, host, port }, rest };
  }

  private socks4Request(): HandshakeStep | undefined {
    const b = this.buffer;
    if (b.length < 8) return undefined;
    if (b[1] !== CMD_CONNECT) return refuse(socks4Reply(false), `SOCKS4 command ${b[1]} is not supported (only CONNECT)`);
    const port = b.readUInt16BE(2);
    const ip = b.subarray(4, 8);
    const userEnd = b.indexOf(0, 8);
    if (userEnd < 0) return b.length - 8 > MAX_SOCKS4_STRING ? refuse(socks4Reply(false), 'SOCKS4 user id too long') : undefined;
    // SOCKS4a: 0.0.0.x with x != 0 means "the host name follows the user id".
    const is4a = ip[0] === 0 && ip[1] === 0 && ip[2] === 0 && ip[3] !== 0;
    if (!is4a) {
      const rest = b.subarray(userEnd + 1);
      this.consume(b.length);
      return { kind: 'request', request: { version: 4, command: 'connect', addressType: 'ipv4', host: ipv4ToString(ip), port }, rest };
    }
    const hostEnd = b.indexOf(0, userEnd + 1);
    if (hostEnd < 0) return b.length - userEnd - 1 > MAX_SOCKS4_STRING ? refuse(socks4Reply(false), 'SOCKS4a host name too long') : undefined;
    const host = b.subarray(userEnd + 1, hostEnd).toString('utf8');
    if (!validDomain(host)) return refuse(socks4Reply(false), `invalid host name in SOCKS4a request: ${JSON.stringify(host)}`);
    const rest = b.subarray(hostEnd + 1);
    this.consume(b.length);
    // A 4a client may send an address literal as the "name"; say what it is.
    const addressType: SocksAddressType = isIPv4(host) ? 'ipv4' : host.includes(':') ? 'ipv6' : 'domain';
    return { kind: 'request', request: { version: 4, command: 'connect', addressType, host, port }, rest };
  }

  private consume(n: number): void {
    this.buffer = this.buffer.subarray(n);
  }
}

function refuse(data: Buffer | undefined, reason: string): HandshakeStep {
  return { kind: 'refuse', data, reason };
}

/** A name we pass on to sshd: printable, no spaces, not empty (RFC 1035 names are at most 255 bytes anyway). */
function validDomain(host: string): boolean {
  // eslint-disable-next-line no-control-regex -- control characters are exactly what is refused
  return host.length > 0 && !/[\x00-\x20\x7f]/.test(host);
}

export function ipv4ToString(b: Buffer): string {
  return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
}

/** RFC 5952 text: lower-case hex, no leading zeros, the longest run (>= 2) of zero groups as "::". */
export function ipv6ToString(b: Buffer): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(i));
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestLen < 2) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

/**
 * A SOCKS5 reply. BND.ADDR/BND.PORT are 0.0.0.0:0: the real source address lives on the
 * server, and clients (curl, browsers, ssh -o ProxyCommand) ignore it for CONNECT.
 */
export function socks5Reply(code: SocksReplyCode): Buffer {
  return Buffer.from([5, code, 0, ATYP_IPV4, 0, 0, 0, 0, 0, 0]);
}

/** A SOCKS4 reply: 0x5a granted or 0x5b rejected; port and address are ignored by clients. */
export function socks4Reply(granted: boolean): Buffer {
  return Buffer.from([0, granted ? SOCKS4_GRANTED : SOCKS4_REJECTED, 0, 0, 0, 0, 0, 0]);
}

/** The final reply in the client's protocol version. */
export function encodeReply(version: 4 | 5, code: SocksReplyCode): Buffer {
  return version === 5 ? socks5Reply(code) : socks4Reply(code === SocksReply.succeeded);
}

export interface SocksNegotiation {
  readonly request: SocksRequest;
  /**
   * Sends the final reply. After `succeeded` the socket carries the stream (any bytes the
   * client sent early were put back into it, still paused); after a failure code it is closed.
   */
  reply(code: SocksReplyCode): void;
}

/** The handshake failed or the client went away; the socket is already closed. */
export class SocksHandshakeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SocksHandshakeError';
  }
}

/**
 * Runs the handshake on an accepted socket, within `deadlineMs` (a client that connects
 * and sends nothing must not hold a socket forever). Resolves with the request; on a
 * refusal or timeout it closes the socket and rejects with SocksHandshakeError.
 */
export function negotiateSocks(socket: Socket, deadlineMs: number): Promise<SocksNegotiation> {
  return new Promise<SocksNegotiation>((resolve, reject) => {
    const handshake = new SocksHandshake();
    let settled = false;
    const cleanup = () => {
      settled = true;
      clearTimeout(timer);
      socket.removeListener('data', onData);
      socket.removeListener('close', onClose);
      socket.removeListener('end', onClose);
    };
    const fail = (reason: string, data?: Buffer) => {
      if (settled) return;
      cleanup();
      if (data) socket.end(data, () => socket.destroy());
      else socket.destroy();
      reject(new SocksHandshakeError(reason));
    };
    const onData = (chunk: Buffer) => {
      for (const step of handshake.feed(chunk)) {
        if (step.kind === 'send') {
          socket.write(step.data);
        } else if (step.kind === 'refuse') {
          fail(step.reason, step.data);
        } else {
          cleanup();
          // Hold the stream until the channel is open; early bytes go back in front of it.
          socket.pause();
          if (step.rest.length) socket.unshift(step.rest);
          const { request } = step;
          resolve({
            request,
            reply: (code) => {
              if (socket.destroyed) return;
              if (code === SocksReply.succeeded) socket.write(encodeReply(request.version, code));
              else socket.end(encodeReply(request.version, code), () => socket.destroy());
            },
          });
        }
      }
    };
    const onClose = () => fail('the client closed the connection during the SOCKS handshake');
    const timer = setTimeout(() => fail(`no complete SOCKS request within ${deadlineMs} ms`), deadlineMs);
    socket.on('data', onData);
    socket.once('close', onClose);
    // Forward sockets are half-open capable: a client's FIN alone does not close them.
    socket.once('end', onClose);
    socket.resume();
  });
}

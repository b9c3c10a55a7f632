import { createHash, randomBytes } from 'node:crypto';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';

/** Transfers through forwards, for tests that check what arrived and how it ended. */

/** What a client of a forward saw: the bytes, and how the connection ended. */
export interface Received {
  bytes: number;
  sha256: string;
  /** 'end': a clean FIN; otherwise the error code (ECONNRESET for an RST). */
  ending: string;
}

/**
 * A target that sends `size` random bytes at about `bytesPerSec`, then a FIN: no length
 * framing, so a client can only tell a cut transfer from a complete one by how it ended.
 */
export async function paced(size: number, bytesPerSec: number): Promise<{ port: number; sha256: string; server: Server }> {
  const data = randomBytes(size);
  const sha256 = createHash('sha256').update(data).digest('hex');
  const server = createServer((s) => {
    s.on('error', () => undefined);
    let at = 0;
    const tick = 20;
    const per = Math.max(1, Math.round((bytesPerSec * tick) / 1000));
    const timer = setInterval(() => {
      if (s.destroyed) return clearInterval(timer);
      if (s.writableLength > 4 * per) return; // the path is stalled: do not pile up
      const n = Math.min(per, size - at);
      s.write(data.subarray(at, at + n));
      at += n;
      if (at >= size) {
        clearInterval(timer);
        s.end();
      }
    }, tick);
    s.on('close', () => clearInterval(timer));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as AddressInfo).port, sha256, server };
}

/** Reads everything from `socket` until it ends or fails. */
export function receive(socket: Socket): Promise<Received> {
  const hash = createHash('sha256');
  let bytes = 0;
  return new Promise((resolve) => {
    socket.on('data', (d: Buffer) => {
      hash.update(d);
      bytes += d.length;
    });
    socket.once('end', () => resolve({ bytes, sha256: hash.digest('hex'), ending: 'end' }));
    socket.once('error', (err: NodeJS.ErrnoException) => resolve({ bytes, sha256: '', ending: err.code ?? err.message }));
  });
}

export function openLocal(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => resolve(s));
    s.once('error', reject);
  });
}

/** A SOCKS5 CONNECT to 127.0.0.1:`port` through the proxy on `socksPort`; resolves with the reply code and the socket. */
export async function socks5(socksPort: number, port: number): Promise<{ code: number; socket: Socket }> {
  const s = await openLocal(socksPort);
  const read = (n: number) =>
    new Promise<Buffer>((resolve, reject) => {
      const tryRead = () => {
        const b = s.read(n) as Buffer | null;
        if (b) return resolve(b);
        s.once('readable', tryRead);
      };
      s.once('close', () => reject(new Error('SOCKS proxy closed')));
      tryRead();
    });
  s.write(Buffer.from([5, 1, 0]));
  await read(2);
  const req = Buffer.alloc(10);
  req.set([5, 1, 0, 1, 127, 0, 0, 1]);
  req.writeUInt16BE(port, 8);
  s.write(req);
  const reply = await read(10);
  return { code: reply[1], socket: s };
}

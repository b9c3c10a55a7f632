/**
 * Both ends of the "carried through" bench's transfers, as a process of its own so that each
 * end runs in its natlab namespace. No length framing on the wire: the data ends with a FIN,
 * so a receiver can tell a cut transfer from a whole one only by its bytes and how it ended.
 *
 *   node transferPeer.js serve PORT BYTES_PER_SEC
 *     Listens on 127.0.0.1:PORT. Each connection sends a 16-byte request (size, seed: two
 *     big-endian u64) and gets `size` bytes of the seed's keystream at about BYTES_PER_SEC,
 *     then a FIN. Prints {"event":"ready"}.
 *   node transferPeer.js fetch PORT COUNT SIZE ARM_BYTES
 *     Retries a small transfer through 127.0.0.1:PORT until one completes (the client's forward
 *     works), then opens COUNT transfers of SIZE bytes at once. Prints {"event":"armed"} once
 *     every transfer has ARM_BYTES, and {"event":"done","results":[...]} when all have ended,
 *     or when stdin closes (the ones still open then end as "open").
 */
import { createCipheriv, createHash } from 'node:crypto';
import * as net from 'node:net';

export interface TransferResult {
  bytes: number;
  /** Every byte, the right ones, then a clean end. */
  intact: boolean;
  /** 'end' (a FIN), an errno such as ECONNRESET (an RST), or 'open' (still running when told to stop). */
  ending: string;
  /** When it ended (ms since the epoch; the namespaces share the host's clock). */
  endedAt: number;
}

const CHUNK = 64 * 1024;

/** The bytes a transfer carries: the AES-128-CTR keystream of a key derived from `seed`, cheap to make on both ends. */
function keystream(seed: bigint): (n: number) => Buffer {
  const key = createHash('sha256').update(seed.toString()).digest().subarray(0, 16);
  const cipher = createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
  return (n) => cipher.update(Buffer.alloc(n));
}

function expectedSha256(seed: bigint, size: number): string {
  const next = keystream(seed);
  const hash = createHash('sha256');
  for (let left = size; left > 0; left -= CHUNK) hash.update(next(Math.min(CHUNK, left)));
  return hash.digest('hex');
}

const print = (e: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(e)}\n`);

function serve(port: number, bytesPerSec: number): void {
  const tickMs = 50;
  const perTick = Math.max(1, Math.round((bytesPerSec * tickMs) / 1000));
  const server = net.createServer((s) => {
    s.on('error', () => undefined);
    let request = Buffer.alloc(0);
    s.on('data', (d: Buffer) => {
      if (request.length >= 16) return;
      request = Buffer.concat([request, d]);
      if (request.length >= 16) send(s, Number(request.readBigUInt64BE(0)), request.readBigUInt64BE(8));
    });
  });
  // A stalled path (an outage, the keeper's window full) stops the sender by backpressure;
  // what it missed is not sent in a burst afterwards beyond one tick's worth.
  const send = (s: net.Socket, size: number, seed: bigint) => {
    const next = keystream(seed);
    let left = size;
    const timer = setInterval(() => {
      if (s.writableLength > perTick) return;
      const n = Math.min(perTick, left);
      left -= n;
      s.write(next(n));
      if (left === 0) {
        clearInterval(timer);
        s.end();
      }
    }, tickMs);
    s.once('close', () => clearInterval(timer));
  };
  server.listen(port, '127.0.0.1', () => print({ event: 'ready' }));
}

/** One transfer through the forward: resolves when it ended, or via `stop()` as "open". */
function transfer(port: number, size: number, seed: bigint, onBytes: (total: number) => void): { result: Promise<TransferResult>; stop(): void } {
  const want = expectedSha256(seed, size);
  const hash = createHash('sha256');
  let bytes = 0;
  let finish: (ending: string) => void = () => undefined;
  const result = new Promise<TransferResult>((resolve) => {
    finish = (ending) => {
      s.destroy();
      resolve({ bytes, ending, endedAt: Date.now(), intact: ending === 'end' && bytes === size && hash.digest('hex') === want });
      finish = () => undefined;
    };
  });
  const s = net.connect({ host: '127.0.0.1', port });
  s.on('connect', () => {
    const request = Buffer.alloc(16);
    request.writeBigUInt64BE(BigInt(size), 0);
    request.writeBigUInt64BE(seed, 8);
    s.write(request);
  });
  s.on('data', (d: Buffer) => {
    hash.update(d);
    bytes += d.length;
    onBytes(bytes);
  });
  s.once('end', () => finish('end'));
  s.once('error', (e: NodeJS.ErrnoException) => finish(e.code ?? e.message));
  return { result, stop: () => finish('open') };
}

async function fetch(port: number, count: number, size: number, armBytes: number): Promise<void> {
  // The client's forward may be listening before its session is up (ssh-keepalive binds
  // early): only a whole small transfer proves it works.
  const deadline = Date.now() + 60_000;
  for (let seed = 1_000_000n; ; seed++) {
    const probe = transfer(port, 16 * 1024, seed, () => undefined);
    const timer = setTimeout(() => probe.stop(), 5000);
    const r = await probe.result;
    clearTimeout(timer);
    if (r.intact) break;
    if (Date.now() > deadline) throw new Error(`no working forward on port ${port} within 60 s (last: ${JSON.stringify(r)})`);
    await new Promise((res) => setTimeout(res, 200));
  }
  const seen = new Array<number>(count).fill(0);
  let armed = false;
  const transfers = seen.map((_, i) =>
    transfer(port, size, BigInt(i + 1), (total) => {
      seen[i] = total;
      if (!armed && seen.every((n) => n >= armBytes)) {
        armed = true;
        print({ event: 'armed' });
      }
    }),
  );
  process.stdin.on('end', () => transfers.forEach((t) => t.stop()));
  process.stdin.resume();
  const results = await Promise.all(transfers.map((t) => t.result));
  print({ event: 'done', results });
  process.exit(0);
}

if (require.main === module) {
  const [mode, ...rest] = process.argv.slice(2);
  const n = rest.map(Number);
  if (mode === 'serve') serve(n[0], n[1]);
  else if (mode === 'fetch')
    fetch(n[0], n[1], n[2], n[3]).catch((e: unknown) => {
      print({ event: 'error', message: (e as Error).message });
      process.exit(1);
    });
  else throw new Error(`usage: transferPeer.js serve PORT BYTES_PER_SEC | fetch PORT COUNT SIZE ARM_BYTES`);
}

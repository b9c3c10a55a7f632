import * as net from 'node:net';

/**
 * The servers a forwarded connection reaches on the far side, all on loopback in the bench
 * process: `source` sends as many bytes as an 8-byte request asks for, `sink` reads as many as
 * its 8-byte header announces and answers one byte, `echo` returns what it reads.
 */
export interface Targets {
  sourcePort: number;
  sinkPort: number;
  echoPort: number;
  close(): Promise<void>;
}

const BLOCK = Buffer.alloc(1024 * 1024, 0x5a);

export async function startTargets(): Promise<Targets> {
  const sockets = new Set<net.Socket>();
  const servers: net.Server[] = [];
  const listen = async (onConnection: (s: net.Socket) => void): Promise<number> => {
    const server = net.createServer({ noDelay: true }, (s) => {
      sockets.add(s);
      s.once('close', () => sockets.delete(s));
      s.on('error', () => undefined);
      onConnection(s);
    });
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return (server.address() as net.AddressInfo).port;
  };
  const sourcePort = await listen((s) => readHeader(s, (size) => writeBytes(s, size, () => s.end())));
  const sinkPort = await listen((s) =>
    readHeader(s, (size, rest) => {
      let got = rest;
      const check = () => {
        if (got >= size) s.end(Buffer.from([1]));
      };
      s.on('data', (d: Buffer) => {
        got += d.length;
        check();
      });
      check();
    }),
  );
  const echoPort = await listen((s) => s.pipe(s));
  return {
    sourcePort,
    sinkPort,
    echoPort,
    close: async () => {
      for (const s of sockets) s.destroy();
      await Promise.all(servers.map((srv) => new Promise((r) => srv.close(r))));
    },
  };
}

/** Calls `then` with the 8-byte big-endian number at the start of the stream and how many bytes followed it in that read. */
function readHeader(s: net.Socket, then: (size: number, rest: number) => void): void {
  let head = Buffer.alloc(0);
  const onData = (d: Buffer) => {
    head = Buffer.concat([head, d]);
    if (head.length < 8) return;
    s.removeListener('data', onData);
    then(Number(head.readBigUInt64BE(0)), head.length - 8);
  };
  s.on('data', onData);
}

/** Writes `size` filler bytes to `s` as fast as it takes them, then calls `then`. */
export function writeBytes(s: net.Socket, size: number, then: () => void = () => undefined): void {
  let left = size;
  const pump = () => {
    while (left > 0) {
      const n = Math.min(left, BLOCK.length);
      left -= n;
      if (!s.write(n === BLOCK.length ? BLOCK : BLOCK.subarray(0, n))) return void s.once('drain', pump);
    }
    then();
  };
  pump();
}

export function header(size: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(size));
  return b;
}

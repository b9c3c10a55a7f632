import * as net from 'node:net';

/**
 * A userland delay line (this kernel has no netem): a TCP relay on loopback that forwards every
 * chunk to `target` after `oneWayMs`, each way, so a client that connects to it sees a round
 * trip of 2 x oneWayMs on top of loopback's. Rate is not limited and nothing is dropped: what
 * limits a transfer through it is what limits it on a long fat path, the windows in flight
 * (SSH's channel window, TCP's). Chunks keep their order; a half-close is delayed like data.
 * Reading pauses when more than `maxQueuedBytes` wait in one direction, a bound on memory far
 * above any SSH window.
 */
export interface DelayLineOptions {
  targetHost: string;
  targetPort: number;
  oneWayMs: number;
  /** Each chunk's delay is oneWayMs plus a uniform random offset in [-jitterMs, +jitterMs]; order is kept. Default 0. */
  jitterMs?: number;
  /** Where to listen; default 127.0.0.1 on a free port. */
  listenHost?: string;
  listenPort?: number;
  maxQueuedBytes?: number;
}

export interface DelayLine {
  readonly host: string;
  readonly port: number;
  /** Stops listening and destroys every relayed connection. */
  close(): Promise<void>;
}

export async function startDelayLine(options: DelayLineOptions): Promise<DelayLine> {
  const sockets = new Set<net.Socket>();
  const track = (s: net.Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  };
  const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (client) => {
    track(client);
    const upstream = net.connect({ host: options.targetHost, port: options.targetPort, allowHalfOpen: true, noDelay: true });
    track(upstream);
    const fail = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', fail);
    upstream.on('error', fail);
    // A side that closes takes the other with it once what it sent before has gone through.
    const closeLater = (s: net.Socket) => setTimeout(() => s.destroy(), options.oneWayMs + (options.jitterMs ?? 0) + 50).unref();
    client.once('close', () => closeLater(upstream));
    upstream.once('close', () => closeLater(client));
    delayOneWay(client, upstream, options);
    delayOneWay(upstream, client, options);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.listenPort ?? 0, options.listenHost ?? '127.0.0.1', () => resolve());
  });
  const address = server.address() as net.AddressInfo;
  return {
    host: options.listenHost ?? '127.0.0.1',
    port: address.port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

function delayOneWay(from: net.Socket, to: net.Socket, options: DelayLineOptions): void {
  const maxQueued = options.maxQueuedBytes ?? 64 * 1024 * 1024;
  // Each entry is due at `at`; `chunk` undefined is the sender's end (FIN), delayed like data.
  const queue: { at: number; chunk: Buffer | undefined }[] = [];
  let queuedBytes = 0;
  let timer: NodeJS.Timeout | undefined;
  const flush = () => {
    timer = undefined;
    const now = performance.now();
    while (queue.length > 0 && queue[0].at <= now) {
      const { chunk } = queue.shift()!;
      if (chunk === undefined) {
        to.end();
        continue;
      }
      queuedBytes -= chunk.length;
      if (!to.destroyed) to.write(chunk);
    }
    if (from.isPaused() && queuedBytes < maxQueued / 2) from.resume();
    schedule();
  };
  const schedule = () => {
    if (timer || queue.length === 0) return;
    timer = setTimeout(flush, Math.max(0, queue[0].at - performance.now()));
  };
  const jitterMs = options.jitterMs ?? 0;
  // Jitter never reorders: a chunk is due no earlier than the one before it (as on one link).
  let lastAt = 0;
  const dueAt = () => (lastAt = Math.max(lastAt, performance.now() + options.oneWayMs + (Math.random() * 2 - 1) * jitterMs));
  from.on('data', (chunk: Buffer) => {
    queue.push({ at: dueAt(), chunk });
    queuedBytes += chunk.length;
    if (queuedBytes > maxQueued) from.pause();
    schedule();
  });
  from.on('end', () => {
    queue.push({ at: dueAt(), chunk: undefined });
    schedule();
  });
}

/** A plain-text HTTP server on loopback, for the far end of a forward. */
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface WebServer {
  readonly port: number;
  /** Ends open connections too (a forward may hold one). Idempotent. */
  close(): Promise<void>;
}

/** Answers every request with 200 and `body(request)`. */
export async function startWebServer(body: (req: IncomingMessage) => string): Promise<WebServer> {
  const server = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(body(req));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  let closed: Promise<void> | undefined;
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      (closed ??= new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      })),
  };
}

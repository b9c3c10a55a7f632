/**
 * The demo's control endpoint on loopback: the demo-only "Simulate NAT Drop" command POSTs to
 * it (its URL reaches the extension host as SSHKA_DEMO_CONTROL). A random token in the path
 * keeps other local programs from tripping it by accident.
 */
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ControlServer {
  /** POST here to drop every NAT flow. */
  readonly natDropUrl: string;
  close(): Promise<void>;
}

export async function startControlServer(onNatDrop: () => Promise<string>): Promise<ControlServer> {
  const token = randomBytes(12).toString('hex');
  const dropPath = `/${token}/nat/drop`;
  const server = createServer((req, res) => {
    if (req.method !== 'POST' || req.url !== dropPath) {
      res.writeHead(404).end('not found\n');
      return;
    }
    onNatDrop().then(
      (msg) => res.writeHead(200, { 'content-type': 'text/plain' }).end(`${msg}\n`),
      (err: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${err.message}\n`),
    );
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    natDropUrl: `http://127.0.0.1:${port}${dropPath}`,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { Client } from 'ssh2';
import type { KeeperStream } from '../../src/core/keeper/stream';
import type { SshdHandle } from '../../tools/peers/sshd';

/** keeper/keeper.py as the client would send it (tests are compiled by tsc, not bundled). */
export function keeperProgramText(): string {
  return readFileSync(path.join(__dirname, '..', '..', '..', 'keeper', 'keeper.py'), 'utf8');
}

export function keeperScriptPath(): string {
  return path.join(__dirname, '..', '..', '..', 'keeper', 'keeper.py');
}

/** A raw ssh2 Client logged in to the harness sshd; `kill()` destroys its socket (a dead path). */
export async function connectRaw(sshd: SshdHandle): Promise<{ client: Client; kill(): void }> {
  const client = new Client();
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('ssh connect to the harness sshd timed out after 10 s')), 10_000);
    client.once('ready', () => {
      clearTimeout(timer);
      resolve();
    });
    client.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    client.connect({ host: sshd.host, port: sshd.port, username: sshd.user, privateKey: readFileSync(sshd.clientKeyPath), hostVerifier: () => true });
  });
  client.on('error', () => undefined);
  return {
    client,
    kill: () => (client as unknown as { _sock: { destroy(): void } })._sock.destroy(),
  };
}

/** Everything a stream delivered, with waits that fail naming what they waited for. */
export class Collector {
  private chunks: Buffer[] = [];
  private waiters: Array<() => void> = [];
  ended: Record<string, unknown> | undefined;
  reset: { reason: string; message: string } | undefined;

  constructor(stream: KeeperStream) {
    stream.onDidData((d) => {
      this.chunks.push(Buffer.from(d));
      this.wake();
    });
    stream.onDidEnd((info) => {
      this.ended = info;
      this.wake();
    });
    stream.onDidReset((info) => {
      this.reset = info;
      this.wake();
    });
  }

  get bytes(): Buffer {
    return Buffer.concat(this.chunks);
  }

  get text(): string {
    return this.bytes.toString('utf8');
  }

  waitUntil(what: string, ok: () => boolean, timeoutMs = 10_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== check);
        reject(
          new Error(
            `timed out after ${timeoutMs} ms waiting for ${what}; got ${this.bytes.length} bytes, tail ${JSON.stringify(this.text.slice(-300))}, ended ${JSON.stringify(this.ended)}, reset ${JSON.stringify(this.reset)}`,
          ),
        );
      }, timeoutMs);
      const check = () => {
        if (ok()) {
          clearTimeout(timer);
          resolve();
        } else {
          this.waiters.push(check);
        }
      };
      check();
    });
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }
}

/** Polls until `ok` or fails naming `what`. */
export async function pollUntil(what: string, ok: () => boolean, timeoutMs: number, everyMs = 50): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/**
 * The natlab with a server behind it: a real OpenSSH sshd in the server namespace (port 22) and
 * an HTTP server beside it on its loopback, for the natlab tests, the e2e story and bench/restore.
 */
import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { createNatlab, type Natlab } from './natlab';
import { startSshd, type SshdHandle } from './sshd';

/** The HTTP server's port on the server namespace's loopback (a forward's target), unless told otherwise. */
export const httpPort = 8000;

export interface LabOptions {
  /** The sshd's alias in its ssh_config; default 'lab'. */
  alias?: string;
  /** What the HTTP server answers; default 'hello from the server side\n'. */
  httpBody?: string;
  /** Default `httpPort`. */
  httpPort?: number;
}

/** A small HTTP server for the far end of a forward; runs inside the server namespace. */
const httpServerSource = (port: number, body: string) => `
require('http').createServer((req, res) => res.end(${JSON.stringify(body)}))
  .listen(${port}, '127.0.0.1', () => console.log('http ready'));`;

export interface Lab {
  natlab: Natlab;
  sshd: SshdHandle;
  dispose(): Promise<void>;
}

/** natlab + a real OpenSSH sshd in the server namespace + an HTTP server beside it. */
export async function setupLab(natTimeoutSec: number, o: LabOptions = {}): Promise<Lab> {
  const natlab = await createNatlab({ natTimeoutSec });
  let sshd: SshdHandle | undefined;
  try {
    sshd = await startSshd({ netns: natlab.serverNs, listenAddress: natlab.serverAddr, port: 22, alias: o.alias ?? 'lab' });
    const http = natlab.spawn(natlab.serverNs, process.execPath, [
      '-e',
      httpServerSource(o.httpPort ?? httpPort, o.httpBody ?? 'hello from the server side\n'),
    ]);
    await waitForLine(http, /http ready/, 5000);
    const lab: Lab = {
      natlab,
      sshd,
      dispose: async () => {
        await sshd?.stop();
        await natlab.dispose();
      },
    };
    return lab;
  } catch (err) {
    await sshd?.stop();
    await natlab.dispose();
    throw err;
  }
}

function waitForLine(child: ChildProcess, re: RegExp, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${re}`)), timeoutMs);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (re.test(line)) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => reject(new Error(`process exited (${code}) before ${re}`)));
  });
}

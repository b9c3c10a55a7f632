import type { Duplex } from 'node:stream';
import type { Client, ClientChannel } from 'ssh2';
import { KeeperError } from './errors';
import type { KeeperLocation } from './installer';
import { shellQuote } from './shellQuote';

export type KeeperTransportMode = 'auto' | 'streamlocal' | 'relay';

export interface OpenedTransport {
  readonly stream: Duplex;
  readonly via: 'streamlocal' | 'relay';
}

/** A `direct-streamlocal@openssh.com` channel to the keeper's Unix socket. */
export function openStreamLocal(client: Client, socketPath: string, timeoutMs: number): Promise<ClientChannel> {
  return withDeadline(timeoutMs, 'stream-local channel', (done) => {
    client.openssh_forwardOutStreamLocal(socketPath, (err, channel) => {
      if (err) {
        // OpenSSH answers the same "open failed" (connect failed, 2) when AllowStreamLocalForwarding
        // forbids it and when the socket is missing, so the relay is what tells them apart.
        done(new KeeperError('streamlocal-refused', `stream-local channel to ${socketPath}: ${err.message}`));
      } else {
        done(undefined, channel);
      }
    });
  });
}

/** The keeper's own relay of stdio to its socket, for servers that forbid stream-local forwarding. */
export function openExecRelay(client: Client, location: KeeperLocation, timeoutMs: number): Promise<ClientChannel> {
  const command = `${location.pythonCommand} -I ${shellQuote(location.program)} relay ${shellQuote(location.socket)}`;
  return withDeadline(timeoutMs, 'exec relay', (done) => {
    client.exec(command, (err, channel) => {
      if (err) done(new KeeperError('transport-closed', `exec relay refused: ${err.message}`));
      else {
        // The relay's complaints (socket gone) are for the log; they must not pile up unread.
        channel.stderr.resume();
        done(undefined, channel);
      }
    });
  });
}

/** Stream-local first; the exec relay where sshd forbids it (or when asked for). */
export async function openKeeperTransport(
  client: Client,
  location: KeeperLocation,
  mode: KeeperTransportMode = 'auto',
  timeoutMs = 10_000,
): Promise<OpenedTransport> {
  if (mode !== 'relay') {
    try {
      return { stream: await openStreamLocal(client, location.socket, timeoutMs), via: 'streamlocal' };
    } catch (err) {
      if (mode === 'streamlocal' || !(err instanceof KeeperError) || err.reason !== 'streamlocal-refused') throw err;
      // Forbidden by sshd, or the socket is gone: the relay works in the first case and fails
      // fast (transport-closed at the handshake) in the second.
    }
  }
  return { stream: await openExecRelay(client, location, timeoutMs), via: 'relay' };
}

function withDeadline<T extends { destroy(): unknown }>(ms: number, what: string, run: (done: (err?: Error, value?: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const timer = setTimeout(() => {
      settled = true;
      reject(new KeeperError('timeout', `${what}: no answer within ${ms} ms`));
    }, ms);
    run((err, value) => {
      if (settled) {
        value?.destroy(); // opened after we gave up: nobody owns it
        return;
      }
      settled = true;
      clearTimeout(timer);
      if (err) reject(err);
      else resolve(value!);
    });
  });
}

import type { Duplex } from 'node:stream';
import type { Client, ClientChannel } from 'ssh2';
import { withDeadline, type Done } from '../base/deadline';
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
  return channelWithin(timeoutMs, 'stream-local channel', (done) => {
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
  return channelWithin(timeoutMs, 'exec relay', (done) => {
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

/** The base deadline, with the keeper's timeout error; a channel opened after it is destroyed. */
function channelWithin(ms: number, what: string, run: (done: Done<ClientChannel>) => void): Promise<ClientChannel> {
  return withDeadline<ClientChannel>(run, {
    timeoutMs: ms,
    onTimeout: () => new KeeperError('timeout', `${what}: no answer within ${ms} ms`),
    discardLate: (channel) => channel.destroy(),
  });
}

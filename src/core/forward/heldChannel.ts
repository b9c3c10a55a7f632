import type { Socket } from 'node:net';
import type { Client, ClientChannel } from 'ssh2';
import type { Session } from '../session/session';

export interface HoldOptions {
  /** How long a client that connects during an outage is held before giving up. */
  holdMs: number;
  /** Deadline for the direct-tcpip channel open once the session is up. */
  channelOpenMs: number;
}

export interface Target {
  host: string;
  port: number;
}

/** A failed open, with what the server said (ssh2 puts the RFC 4254 reason code on `reason`). */
export class ChannelOpenError extends Error {
  constructor(message: string, readonly reason?: unknown, readonly refusedByServer = false) {
    super(message);
  }
}

const show = (t: Target) => (t.host.includes(':') ? `[${t.host}]:${t.port}` : `${t.host}:${t.port}`);

/**
 * Opens a direct-tcpip channel for a local client, holding the client while the session
 * is down: it waits for a usable session (a user action, so a quiet path is probed and
 * a pending backoff is skipped), opens the channel, and if the session is lost meanwhile
 * tries again on the next connection until `holdMs` runs out. A refusal by a live server
 * ends at once (`refusedByServer`): nothing listens there, waiting will not help.
 */
export async function openHeldChannel(session: Session, socket: Socket, target: Target, options: HoldOptions, isClosed: () => boolean): Promise<ClientChannel> {
  const deadline = Date.now() + options.holdMs;
  let last: ChannelOpenError | undefined;
  while (!isClosed() && Date.now() < deadline) {
    let client: Client;
    try {
      client = await session.whenUsable({ userAction: true, timeoutMs: deadline - Date.now() });
    } catch (err) {
      last = new ChannelOpenError((err as Error).message);
      if ((err as { fatal?: boolean }).fatal) break;
      continue;
    }
    try {
      return await openChannel(session, client, socket, target, options.channelOpenMs);
    } catch (err) {
      last = err as ChannelOpenError;
      if (session.client === client) throw new ChannelOpenError(last.message, last.reason, true);
    }
  }
  throw last ?? new ChannelOpenError(isClosed() ? 'the client went away' : 'the session did not come back in time');
}

function openChannel(session: Session, client: Client, socket: Socket, target: Target, timeoutMs: number): Promise<ClientChannel> {
  return new Promise<ClientChannel>((resolve, reject) => {
    let settled = false;
    const giveUp = (why: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      retired.dispose();
      reject(new ChannelOpenError(why));
    };
    const timer = setTimeout(() => giveUp(`opening a channel to ${show(target)} timed out`), timeoutMs);
    // A demand probe may find the path dead while the open is pending: stop waiting for it.
    const retired = session.onDidRetire(client, () => giveUp('the session was lost while opening the channel'));
    try {
      client.forwardOut(socket.remoteAddress ?? '127.0.0.1', socket.remotePort ?? 0, target.host, target.port, (err, channel) => {
        clearTimeout(timer);
        retired.dispose();
        if (settled) {
          channel?.close();
          return;
        }
        settled = true;
        if (err) reject(new ChannelOpenError(`the server could not connect to ${show(target)}: ${err.message}`, (err as { reason?: unknown }).reason));
        else resolve(channel);
      });
    } catch (err) {
      // ssh2 throws synchronously when its socket is already gone.
      giveUp((err as Error).message);
    }
  });
}

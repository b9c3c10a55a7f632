import type { Socket } from 'node:net';
import type { ClientChannel } from 'ssh2';
import { closeQuietly } from '../base/closeQuietly';
import { withDeadline } from '../base/deadline';
import { formatHostPort } from '../base/hostPort';
import type { Connection } from '../session/connection';
import { SessionError } from '../session/errors';
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

/**
 * A failed open, with what the server said (ssh2 puts the RFC 4254 reason code on `reason`).
 * `refusedByServer`: a live server said no (nothing listens there): waiting will not help.
 * `fatal`: the session itself gave up (e.g. a changed host key) until a person acts.
 */
export class ChannelOpenError extends Error {
  override readonly name = 'ChannelOpenError';

  constructor(
    message: string,
    readonly reason?: unknown,
    readonly refusedByServer = false,
    readonly fatal = false,
  ) {
    super(message);
  }
}

/** An open channel and the connection it rides on (its end tells a cut from the far end's EOF). */
export interface HeldChannel {
  readonly channel: ClientChannel;
  readonly conn: Connection;
}

const show = (t: Target) => formatHostPort(t.host, t.port);

/**
 * Opens a direct-tcpip channel for a local client, holding the client while the session
 * is down: it waits for a usable connection (a user action, so a quiet path is probed and
 * a pending backoff is skipped), opens the channel, and if the connection ends meanwhile
 * tries again on the next one until `holdMs` runs out. A refusal by a live server ends at
 * once (`refusedByServer`), and so does a session that failed (`fatal`: it will not come
 * back by itself).
 */
export async function openHeldChannel(session: Session, socket: Socket, target: Target, options: HoldOptions, isClosed: () => boolean): Promise<HeldChannel> {
  const deadline = Date.now() + options.holdMs;
  let last: ChannelOpenError | undefined;
  while (!isClosed() && Date.now() < deadline) {
    let conn: Connection;
    try {
      // The channel open goes out beside the demand probe, not after its reply: no extra round
      // trip. If the probe fails the connection ends, the open is cancelled with it, and the
      // client is held for the next connection.
      conn = await session.whenUsable({ userAction: true, probeAlongside: true, timeoutMs: deadline - Date.now() });
    } catch (err) {
      const fatal = err instanceof SessionError && err.fatal;
      last = new ChannelOpenError((err as Error).message, undefined, false, fatal);
      if (fatal) break;
      continue;
    }
    try {
      return { channel: await openChannel(conn, socket, target, options.channelOpenMs), conn };
    } catch (err) {
      last = err instanceof ChannelOpenError ? err : new ChannelOpenError(String(err));
      if (!conn.isEnded) throw new ChannelOpenError(last.message, last.reason, true);
    }
  }
  throw last ?? new ChannelOpenError(isClosed() ? 'the client went away' : 'the session did not come back in time');
}

function openChannel(conn: Connection, socket: Socket, target: Target, timeoutMs: number): Promise<ClientChannel> {
  return withDeadline<ClientChannel>(
    (done) =>
      conn.client.forwardOut(socket.remoteAddress ?? '127.0.0.1', socket.remotePort ?? 0, target.host, target.port, (err, channel) => {
        if (err) done(new ChannelOpenError(`the server could not connect to ${show(target)}: ${err.message}`, (err as { reason?: unknown }).reason));
        else done(undefined, channel);
      }),
    {
      timeoutMs,
      onTimeout: () => new ChannelOpenError(`opening a channel to ${show(target)} timed out`),
      discardLate: (channel) => closeQuietly(channel),
      // A demand probe may find the path dead while the open is pending: stop waiting for it.
      cancelOn: { event: conn.onDidEnd, error: () => new ChannelOpenError('the session was lost while opening the channel') },
    },
  );
}

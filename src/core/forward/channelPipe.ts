import type { Socket } from 'node:net';
import type { ClientChannel } from 'ssh2';

export interface PipeCounters {
  /** Bytes read from the local socket (sent into the channel). */
  fromSocket(n: number): void;
  /** Bytes read from the channel (written to the local socket). */
  fromChannel(n: number): void;
}

/** What the pipe needs to know of the connection that carries the channel. */
export interface ChannelCarrier {
  /** True once the connection is over (lost or closed). */
  readonly isEnded: boolean;
}

/**
 * Joins a local socket (created with allowHalfOpen) and an SSH channel both ways. A
 * half-close goes through as with ssh: the socket's EOF becomes the channel's EOF and the
 * channel's EOF ends the socket's sending side, while the other direction carries on
 * (`printf req | nc -N` still gets its answer). Every chunk from the local side also counts
 * as user activity (a request on a kept-alive connection is a person waiting), reported
 * through `fromSocket`.
 *
 * A channel that dies with its connection ends the local socket with a reset (RST), never a
 * FIN: ssh2 ends every channel's readable side when the connection goes, which looks like the
 * far end's EOF, and a client without its own length framing would take a cut transfer for a
 * complete one. The session ends the connection's scope before ssh2 cleans up its channels,
 * so `carrier.isEnded` tells the two apart.
 */
export function pipeChannel(socket: Socket, channel: ClientChannel, counters: PipeCounters, carrier: ChannelCarrier): void {
  socket.on('error', () => undefined);
  socket.on('data', (d: Buffer) => counters.fromSocket(d.length));
  channel.on('data', (d: Buffer) => counters.fromChannel(d.length));
  socket.pipe(channel);
  channel.pipe(socket, { end: false });
  const cut = () => {
    if (!socket.destroyed) socket.resetAndDestroy();
    channel.close();
  };
  channel.once('end', () => {
    if (carrier.isEnded) return cut();
    // The far end's EOF: what it sent is in the socket's buffer; end our sending side after it.
    socket.end();
  });
  // ssh2 emits a direct-tcpip channel's close after its end, so all it received is in the
  // socket's buffer by then: close the socket once that is written out, as ssh drains it.
  channel.once('close', () => {
    if (socket.destroyed) return;
    if (carrier.isEnded) return cut();
    socket.unpipe(channel);
    if (socket.writableFinished) socket.destroy();
    else socket.end(() => socket.destroy());
  });
  socket.once('close', (hadError) => {
    socket.destroy();
    // The local side ended cleanly, but what it sent last may still wait in the channel for
    // the server's window: closing now would drop it, and the far end would see a clean end
    // after lost bytes. The channel sends its EOF once all of it is written ('finish').
    if (!hadError && socket.readableEnded && !channel.writableFinished && !carrier.isEnded) {
      channel.once('finish', () => channel.close());
      return;
    }
    channel.close();
  });
  channel.on('error', cut);
  socket.resume();
}

import type { Socket } from 'node:net';
import type { ClientChannel } from 'ssh2';

export interface PipeCounters {
  /** Bytes read from the local socket (sent into the channel). */
  fromSocket(n: number): void;
  /** Bytes read from the channel (written to the local socket). */
  fromChannel(n: number): void;
}

/**
 * Joins a local socket (created with allowHalfOpen) and an SSH channel both ways. A
 * half-close goes through as with ssh: the socket's EOF becomes the channel's EOF and the
 * channel's EOF ends the socket's sending side, while the other direction carries on
 * (`printf req | nc -N` still gets its answer). Every chunk from the local side also counts
 * as user activity (a request on a kept-alive connection is a person waiting), reported
 * through `fromSocket`.
 */
export function pipeChannel(socket: Socket, channel: ClientChannel, counters: PipeCounters): void {
  socket.on('error', () => undefined);
  socket.on('data', (d: Buffer) => counters.fromSocket(d.length));
  channel.on('data', (d: Buffer) => counters.fromChannel(d.length));
  socket.pipe(channel).pipe(socket);
  const closeBoth = () => {
    socket.destroy();
    channel.close();
  };
  // ssh2 emits a direct-tcpip channel's close after its end, so all it received is in the
  // socket's buffer by then: close the socket once that is written out, as ssh drains it.
  channel.once('close', () => {
    if (socket.destroyed) return;
    socket.unpipe(channel);
    if (socket.writableFinished) socket.destroy();
    else socket.end(() => socket.destroy());
  });
  socket.once('close', closeBoth);
  channel.on('error', closeBoth);
  socket.resume();
}

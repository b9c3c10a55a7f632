import type { Socket } from 'node:net';
import type { ClientChannel } from 'ssh2';

export interface PipeCounters {
  /** Bytes read from the local socket (sent into the channel). */
  fromSocket(n: number): void;
  /** Bytes read from the channel (written to the local socket). */
  fromChannel(n: number): void;
}

/**
 * Joins a local socket and an SSH channel both ways and tears both down when either
 * ends. Every chunk from the local side also counts as user activity (a request on a
 * kept-alive connection is a person waiting), reported through `fromSocket`.
 */
export function pipeChannel(socket: Socket, channel: ClientChannel, counters: PipeCounters): void {
  socket.on('error', () => undefined);
  socket.on('data', (d: Buffer) => counters.fromSocket(d.length));
  channel.on('data', (d: Buffer) => counters.fromChannel(d.length));
  socket.pipe(channel).pipe(socket);
  const end = () => {
    socket.destroy();
    channel.close();
  };
  channel.once('close', end);
  socket.once('close', end);
  channel.on('error', end);
  socket.resume();
}

import type { Socket } from 'node:net';
import { DisposableStore, toDisposable, type Disposable } from '../base/disposable';
import type { KeeperStream } from '../keeper/stream';
import type { PipeCounters } from './channelPipe';

/** How a kept connection ended, for the forward's counters and logs. */
export type KeptEnd = { readonly kind: 'closed' } | { readonly kind: 'reset'; readonly reason: string; readonly message: string };

/**
 * Joins a local socket (created with allowHalfOpen) and a keeper stream both ways. The far
 * end is a TCP connection the keeper holds on the server, so this pipe outlives the SSH
 * connection: while it is down, bytes wait in the stream's replay buffer and the local side
 * is paused once that passes its high-water mark; on re-attach both directions resume
 * byte-exact.
 *
 * Ends as the far end ended: its half-close is the socket's `end()`, a reset (refused
 * target, the far peer's RST, a buffer bound exceeded, a keeper that is gone) is an RST on
 * the socket, never a clean FIN after lost bytes. The local side's EOF is the stream's
 * `end()`; the local side going away without one resets the far end.
 */
export function pipeKeptStream(socket: Socket, stream: KeeperStream, counters: PipeCounters, onEnd?: (end: KeptEnd) => void): Disposable {
  const store = new DisposableStore();
  let ended = false;
  const finish = (end: KeptEnd) => {
    if (ended) return;
    ended = true;
    store.dispose();
    onEnd?.(end);
  };
  const usable = () => stream.state === 'opening' || stream.state === 'open';
  let localEof = false;

  const onSocketData = (d: Buffer) => {
    counters.fromSocket(d.length);
    if (!usable()) return;
    if (!stream.write(d)) socket.pause();
  };
  const onSocketEnd = () => {
    localEof = true;
    if (usable()) stream.end();
  };
  const onSocketClose = () => {
    // A socket that went away without its EOF (destroyed, reset) takes the far end with it;
    // after an EOF the stream still owes the far end the bytes in its buffer: let them go.
    if (!localEof && usable()) stream.reset('client-closed', 'the local client closed the connection');
    finish({ kind: 'closed' });
  };
  socket.on('error', () => undefined);
  socket.on('data', onSocketData);
  socket.once('end', onSocketEnd);
  socket.once('close', onSocketClose);
  store.add(
    toDisposable(() => {
      socket.removeListener('data', onSocketData);
      socket.removeListener('end', onSocketEnd);
      socket.removeListener('close', onSocketClose);
    }),
  );

  stream.onDidDrain(() => socket.resume(), store);
  stream.onDidData((d) => {
    counters.fromChannel(d.length);
    if (!socket.destroyed) socket.write(d);
  }, store);
  stream.onDidEnd(() => {
    if (!socket.destroyed) socket.end();
  }, store);
  stream.onDidReset((info) => {
    if (!socket.destroyed) socket.resetAndDestroy();
    finish({ kind: 'reset', reason: info.reason, message: info.message });
  }, store);
  // An accepted stream holds what came before this pipe subscribed: take it now, in order.
  stream.claim();
  socket.resume();
  return toDisposable(() => {
    if (usable()) stream.reset('client-closed', 'the forward was removed');
    if (!socket.destroyed) socket.resetAndDestroy();
    finish({ kind: 'closed' });
  });
}

import type { Client } from 'ssh2';
import { type Clock, systemClock } from '../base/clock';

interface ClientInternals {
  /** ssh2 calls these with false (success), true (failure reply) or an Error (socket closed). */
  _callbacks?: Array<(outcome: boolean | Error) => void>;
  _protocol?: { ping(): void };
  _sock?: { writable?: boolean };
}

/**
 * Sends one `keepalive@openssh.com` global request with want-reply and resolves with the
 * round trip in ms when the server answers (success or failure: both prove the path), or
 * with undefined when the connection closed first (ssh2 then calls every pending callback
 * with an Error, which is not a reply).
 * This is exactly what ssh2's own keepalive sends; we drive it ourselves to measure every
 * probe and to probe on demand. Global request replies are FIFO, so pushing our callback
 * in ssh2's queue keeps it in step with forwardIn/unforwardIn replies.
 */
export function sendProbe(client: Client, clock: Pick<Clock, 'monotonic'> = systemClock): Promise<number | undefined> | undefined {
  const internals = client as unknown as ClientInternals;
  if (!internals._protocol || !internals._callbacks || internals._sock?.writable === false) return undefined;
  const started = clock.monotonic();
  return new Promise<number | undefined>((resolve) => {
    internals._callbacks!.push((outcome) => resolve(outcome instanceof Error ? undefined : clock.monotonic() - started));
    internals._protocol!.ping();
  });
}

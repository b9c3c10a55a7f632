/**
 * Closes a channel (or anything with `close()`) that may belong to a connection that is
 * already gone; ssh2 throws then, and there is nothing left to do.
 */
export function closeQuietly(channel: { close(): unknown } | undefined): void {
  if (!channel) return;
  try {
    channel.close();
  } catch {
    // the connection is gone; so is the channel
  }
}

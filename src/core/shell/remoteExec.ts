import type { Client, ClientChannel } from 'ssh2';

export interface ExecResult {
  /** Exit status; null when the command ended on a signal or the server sent none. */
  code: number | null;
  signal?: string;
  stdout: string;
  stderr: string;
}

/** Short commands (probes) print little; more than this is not kept. */
const OUTPUT_CAP = 64 * 1024;

/**
 * Runs a short command without a pty and collects its output. Rejects when the channel
 * cannot be opened, the connection dies, or `timeoutMs` passes (the channel is closed then,
 * so a half-open path leaves nothing behind). A non-zero exit is a result, not an error.
 */
export function execCapture(client: Client, command: string, timeoutMs: number): Promise<ExecResult> {
  return new Promise<ExecResult>((resolve, reject) => {
    let settled = false;
    let channel: ClientChannel | undefined;
    const finish = (fn: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      fn();
    };
    const timer = setTimeout(() => {
      finish(() => reject(new Error(`remote command timed out after ${timeoutMs} ms`)));
      closeQuietly(channel);
    }, timeoutMs);
    const onChannel = (err: Error | undefined, ch: ClientChannel) => {
      if (err) return finish(() => reject(err));
      if (settled) return closeQuietly(ch);
      channel = ch;
      let stdout = '';
      let stderr = '';
      let code: number | null = null;
      let signal: string | undefined;
      ch.on('data', (d: Buffer) => {
        if (stdout.length < OUTPUT_CAP) stdout += d.toString('utf8');
      });
      // Read stderr too: an unread stream stops the channel's window.
      ch.stderr.on('data', (d: Buffer) => {
        if (stderr.length < OUTPUT_CAP) stderr += d.toString('utf8');
      });
      ch.on('error', () => undefined);
      ch.on('exit', (c: number | null, s?: string) => {
        code = c;
        signal = s ?? undefined;
      });
      ch.on('close', () => finish(() => resolve(signal ? { code, signal, stdout, stderr } : { code, stdout, stderr })));
    };
    try {
      client.exec(command, onChannel);
    } catch (err) {
      // ssh2 throws synchronously when the client is no longer connected.
      finish(() => reject(err instanceof Error ? err : new Error(String(err))));
    }
  });
}

/** Closing a channel of a connection that is already gone may throw; there is nothing left to do then. */
export function closeQuietly(channel: ClientChannel | undefined): void {
  if (!channel) return;
  try {
    channel.close();
  } catch {
    // the connection is gone; so is the channel
  }
}

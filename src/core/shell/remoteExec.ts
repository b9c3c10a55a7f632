import type { Client, ClientChannel } from 'ssh2';
import { closeQuietly } from '../base/closeQuietly';
import { withDeadline } from '../base/deadline';

export { closeQuietly };

export interface ExecResult {
  /** Exit status; null when the command ended on a signal or the server sent none. */
  code: number | null;
  signal?: string;
  stdout: string;
  stderr: string;
}

/** Short commands (probes) print little; more than this is not kept. */
const OUTPUT_CAP = 64 * 1024;

export interface ExecOptions {
  /** Written to the command's stdin, which is then closed. */
  stdin?: string;
}

/**
 * Runs a short command without a pty and collects its output. Rejects when the channel
 * cannot be opened, the connection dies, or `timeoutMs` passes (the channel is closed then,
 * so a half-open path leaves nothing behind). A non-zero exit is a result, not an error.
 */
export function execCapture(client: Client, command: string, timeoutMs: number, options: ExecOptions = {}): Promise<ExecResult> {
  let channel: ClientChannel | undefined;
  return withDeadline<ExecResult>(
    (done, isSettled) =>
      client.exec(command, (err, ch) => {
        if (err) return done(err);
        if (isSettled()) return closeQuietly(ch);
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
        ch.on('close', () => done(undefined, signal ? { code, signal, stdout, stderr } : { code, stdout, stderr }));
        if (options.stdin !== undefined) ch.end(options.stdin);
      }),
    {
      timeoutMs,
      onTimeout: () => {
        closeQuietly(channel);
        return new Error(`remote command timed out after ${timeoutMs} ms`);
      },
    },
  );
}

import type { Session } from '../core/session/session';
import { describeState } from '../core/session/state';
import { runRemote, type RemoteCommandOptions } from './remoteCommand';

const exitFatal = 255;

/**
 * A one-off command (`ssh-keepalive host cmd`) on the session's current connection. It is
 * not restartable: like ssh, a lost connection ends it with 255, and so does a connection
 * lost before it could start or a server that refuses the channel or the pty. Each of
 * those is one line on stderr, never a stack trace.
 */
export async function runOneOff(
  session: Session,
  opts: RemoteCommandOptions,
  stderr: (line: string) => void = (l) => process.stderr.write(`${l}\n`),
): Promise<number> {
  const alias = session.host.alias;
  const conn = session.connection;
  if (!conn) {
    stderr(`ssh-keepalive: connection to ${alias} lost before the command could start: ${describeState(session.state)}`);
    return exitFatal;
  }
  let onLost: (() => void) | undefined;
  const lost = new Promise<number>((resolve) => {
    onLost = () => resolve(exitFatal);
  });
  const sub = conn.onDidEnd((end) => {
    stderr(`ssh-keepalive: connection to ${alias} lost while running the command: ${end.reason}`);
    onLost?.();
  });
  try {
    return await Promise.race([
      runRemote(conn.client, opts).catch((err: Error) => {
        // MaxSessions, PermitTTY no, a forced command that failed...: one line, as ssh.
        stderr(`ssh-keepalive: ${alias} refused the ${opts.pty ? 'terminal' : 'command'}: ${err.message}`);
        return exitFatal;
      }),
      lost,
    ]);
  } finally {
    sub.dispose();
  }
}

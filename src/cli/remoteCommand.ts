import type { Client, ClientChannel } from 'ssh2';

export interface RemoteCommandOptions {
  command: string | undefined;
  pty: boolean;
}

/**
 * Runs a command (or a login shell when `command` is undefined) on `client`, wired to this
 * process's stdio. Resolves with the exit code as ssh reports it (signal -> 128+n not
 * available from ssh2, so 255 as ssh does for abnormal ends).
 */
export function runRemote(client: Client, opts: RemoteCommandOptions): Promise<number> {
  return new Promise((resolve, reject) => {
    const pty = opts.pty ? { term: process.env.TERM ?? 'xterm-256color', cols: process.stdout.columns || 80, rows: process.stdout.rows || 24 } : undefined;
    const onChannel = (err: Error | undefined, channel: ClientChannel) => {
      if (err) return reject(err);
      let code: number | undefined;
      channel.on('exit', (c: number | null) => {
        code = c ?? 255;
      });
      const stdin = process.stdin;
      const raw = opts.pty && stdin.isTTY;
      if (raw) stdin.setRawMode(true);
      const onResize = () => channel.setWindow(process.stdout.rows || 24, process.stdout.columns || 80, 0, 0);
      if (opts.pty) process.stdout.on('resize', onResize);
      stdin.pipe(channel);
      channel.pipe(process.stdout, { end: false });
      channel.stderr.pipe(process.stderr, { end: false });
      channel.once('close', () => {
        stdin.unpipe(channel);
        if (raw) stdin.setRawMode(false);
        stdin.pause();
        process.stdout.removeListener('resize', onResize);
        resolve(code ?? 255);
      });
    };
    if (opts.command === undefined) {
      client.shell(pty ?? false, onChannel);
    } else if (pty) {
      client.exec(opts.command, { pty }, onChannel);
    } else {
      client.exec(opts.command, onChannel);
    }
  });
}

import type { Readable, Writable } from 'node:stream';
import type { ClientChannel } from 'ssh2';
import { DisposableStore } from '../core/base/disposable';
import { formatHostPort } from '../core/base/hostPort';
import type { Logger } from '../core/base/logger';
import { keeperToUse, type KeeperSource } from '../core/forward/keptConnections';
import type { KeeperStream } from '../core/keeper/stream';
import type { Session } from '../core/session/session';
import { UsageError } from './args';

export interface StdioTarget {
  host: string;
  port: number;
}

/**
 * `-W host:port` as ssh parses it (parse_forward's dynamic form): `host:port`, `[v6]:port`
 * or `host/port`.
 */
export function parseStdioForward(text: string): StdioTarget {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(text) ?? /^([^:/[\]]+)[:/](\d+)$/.exec(text);
  const port = m ? Number(m[2]) : NaN;
  if (!m || !Number.isInteger(port) || port < 1 || port > 65535) throw new UsageError(`Bad stdio forwarding specification '${text}'`);
  return { host: m[1], port };
}

export interface StdioForwardOptions {
  keeper?: KeeperSource;
  logger: Logger;
  input?: Readable;
  output?: Writable;
  /** Deadline for the first usable connection and for the channel open (plain path). */
  timeoutMs?: number;
}

/**
 * ssh -W: stdin and stdout become a TCP connection the server makes to `target`. With the
 * session keeper the connection is a keeper stream: it outlives drops and outages, so an
 * OpenSSH client that uses this as its ProxyCommand keeps its session (and its inner SSH
 * connection never notices, given ServerAlive settings that outlast the outage). Without
 * the keeper it is a direct-tcpip channel, as `ssh -W`: a drop ends it.
 * Resolves with the exit status: 0 when the far end closed, 255 when it could not connect
 * or was cut.
 */
export async function runStdioForward(session: Session, target: StdioTarget, opts: StdioForwardOptions): Promise<number> {
  const input = opts.input ?? process.stdin;
  const output = opts.output ?? process.stdout;
  const shown = formatHostPort(target.host, target.port);
  const link = await keeperToUse(opts.keeper);
  if (link) {
    opts.logger.info(`-W ${shown}: carried by the session keeper (kept through outages)`);
    return pipeStdio(input, output, link.mux.open({ kind: 'tcp-connect', host: target.host, port: target.port }), shown, opts.logger, session);
  }
  const conn = await session.whenUsable({ userAction: true, timeoutMs: opts.timeoutMs ?? 30_000 });
  const channel = await new Promise<ClientChannel>((resolve, reject) =>
    conn.client.forwardOut('127.0.0.1', 0, target.host, target.port, (err, ch) => (err ? reject(new Error(`open failed: ${err.message}`)) : resolve(ch))),
  ).catch((err: Error) => {
    opts.logger.error(`-W ${shown}: ${err.message}`);
    return undefined;
  });
  if (!channel) return 255;
  return new Promise<number>((resolve) => {
    input.pipe(channel);
    channel.pipe(output, { end: false });
    channel.on('error', () => undefined);
    channel.once('close', () => {
      input.unpipe(channel);
      // ssh2 ends every channel when its connection goes: that is a cut, not the far end's close.
      if (conn.isEnded) {
        opts.logger.error(`-W ${shown}: the connection was lost`);
        resolve(255);
      } else {
        output.end(() => resolve(0));
      }
    });
  });
}

function pipeStdio(input: Readable, output: Writable, stream: KeeperStream, shown: string, logger: Logger, session: Session): Promise<number> {
  const store = new DisposableStore();
  return new Promise<number>((resolve) => {
    const done = (code: number) => {
      store.dispose();
      input.removeListener('data', onData);
      input.pause();
      resolve(code);
    };
    const onData = (d: Buffer) => {
      session.noteActivity();
      if (!stream.write(d)) input.pause();
    };
    input.on('data', onData);
    input.once('end', () => {
      if (stream.state === 'open' || stream.state === 'opening') stream.end();
    });
    stream.onDidDrain(() => input.resume(), store);
    stream.onDidData((d) => output.write(d), store);
    stream.onDidEnd(() => {
      // The far end closed: nothing more will come; as ssh, the forward is over.
      output.end(() => done(0));
      if (stream.state === 'open') stream.end();
    }, store);
    stream.onDidReset((info) => {
      logger.error(`-W ${shown}: ${info.reason === 'refused' ? 'connect failed: connection refused' : info.message || info.reason}`);
      done(255);
    }, store);
    // A session that failed for good (changed host key, revoked login) ends the forward, as ssh would.
    session.onDidChangeState((s) => {
      if (s.kind === 'failed') {
        stream.reset('session-failed', s.error.message);
        done(255);
      }
    }, store);
    void session.whenUsable({ userAction: true, probeAlongside: true, timeoutMs: 1 }).catch(() => undefined);
  });
}

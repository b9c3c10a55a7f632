import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { Logger } from '../../src/core/base/logger';
import { resolveHost } from '../../src/core/config/sshConfig';
import { ForwardRegistry } from '../../src/core/forward/registry';
import { KeeperLink } from '../../src/core/keeper/keeperLink';
import { noPrompter } from '../../src/core/session/prompter';
import { Session, sessionOptionsFor, type SessionOptions } from '../../src/core/session/session';
import { KeptShell } from '../../src/core/shell/keptShell';
import { RemoteShell } from '../../src/core/shell/remoteShell';
import type { SshdHandle } from '../../tools/peers/sshd';
import { until, within } from './bounded';
import { keeperProgramText } from './keeperPeer';
import { Screen } from './screen';

/**
 * What the server-fault tests run against a real sshd: a session with a terminal and a -L
 * forward to a local echo server, either on the plain path (a tmux-backed RemoteShell, -L on
 * SSH channels) or on the session keeper's (a KeptShell, -L on keeper streams).
 */

export type Cleanups = Array<() => unknown>;

export interface Rig {
  readonly session: Session;
  readonly screen: Screen<RemoteShell | KeptShell>;
  readonly shell: RemoteShell | KeptShell;
  readonly link: KeeperLink | undefined;
  /** The -L forward's local port (to the echo server). */
  readonly forwardPort: number;
}

let counter = 0;

export async function echoServer(cleanups: Cleanups): Promise<number> {
  const server: Server = createServer((c) => {
    c.on('error', () => undefined);
    c.pipe(c);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(() => server.close());
  return (server.address() as AddressInfo).port;
}

export async function startRig(
  sshd: SshdHandle,
  kind: 'plain' | 'keeper',
  o: { cleanups: Cleanups; echoPort: number; logger: Logger; session: Partial<SessionOptions>; configFile?: string; keeperDir?: string; python?: string },
): Promise<Rig> {
  const { cleanups, logger } = o;
  const host = resolveHost(sshd.alias, { configFile: o.configFile ?? sshd.sshConfigPath, env: { SSH_AUTH_SOCK: undefined } });
  const session = new Session(host, sessionOptionsFor(host, o.session), { prompter: noPrompter, logger });
  cleanups.push(() => session.dispose());
  const id = `fault${process.pid}-${++counter}`;
  const link =
    kind === 'keeper'
      ? new KeeperLink(session, { program: keeperProgramText(), name: id, idleSeconds: 120, logger, dir: o.keeperDir, python: o.python })
      : undefined;
  if (link) cleanups.push(() => link.dispose());
  const registry = new ForwardRegistry(session, logger, { keeper: link ? () => Promise.resolve(link) : undefined });
  cleanups.push(() => registry.dispose());
  const shell = link
    ? new KeptShell(session, link, { term: 'xterm-256color', cols: 100, rows: 30, reattach: true }, { logger })
    : new RemoteShell(session, { term: 'xterm-256color', cols: 100, rows: 30, reattach: true, id }, { logger });
  cleanups.push(() => (shell instanceof KeptShell ? shell.close() : shell.dispose()));
  const screen = new Screen<RemoteShell | KeptShell>(shell);
  await within(session.start(), 15_000, `the ${kind} session to connect`);
  await within(shell.start(), 20_000, `the ${kind} shell to open`);
  await screen.run('echo READY-$((6*7))', /READY-42/);
  const forward = await registry.add({ kind: 'local', spec: { bindAddress: '127.0.0.1', bindPort: 0, host: '127.0.0.1', hostPort: o.echoPort } });
  const forwardPort = Number(forward.address!.split(':').pop());
  return { session, screen, shell, link, forwardPort };
}

/** Sets a variable in the shell and returns the shell's pid: later lines prove "the same shell". */
export async function markShell(screen: Screen, name: string): Promise<string> {
  return (await screen.run(`export ${name}=41; echo "pid-$$"`, /pid-(\d+)/))[1];
}

/** One TCP connection through a forward, used like a chat: each line must come back. */
export async function echoConnection(port: number, cleanups: Cleanups): Promise<{ say(line: string, ms?: number): Promise<void>; socket: Socket }> {
  const socket = await new Promise<Socket>((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => resolve(s));
    s.once('error', reject);
  });
  socket.on('error', () => undefined);
  cleanups.push(() => socket.destroy());
  let heard = '';
  socket.on('data', (d: Buffer) => (heard += d.toString()));
  return {
    socket,
    say: async (line, ms = 10_000) => {
      socket.write(`${line}\n`);
      await until(() => heard.includes(line) || socket.destroyed, ms, `the echo of ${line} through the forward`);
      assert.ok(heard.includes(line), `the connection was cut before ${line} came back`);
    },
  };
}

/** A fresh connection through a forward, one line there and back. */
export async function roundTrip(port: number, line: string, cleanups: Cleanups): Promise<void> {
  const c = await echoConnection(port, cleanups);
  await c.say(line);
  c.socket.destroy();
}

/** TCP connections sshd accepted so far (its log has one line for each). */
export function connectionsIn(sshd: SshdHandle): number {
  return (sshd.logs().match(/Connection from /g) ?? []).length;
}

/** The session's own TCP port to sshd (its ssh2 client's socket). */
export function clientPort(session: Session): number {
  const port = (session.client as unknown as { _sock?: { localPort?: number } } | undefined)?._sock?.localPort;
  assert.ok(port, 'the session has a TCP socket to sshd');
  return port;
}

/** The sshd processes that hold this TCP connection (found by the client's port, as `ss -tnp` shows them). */
export function sshdPidsFor(sshd: SshdHandle, peerPort: number): number[] {
  const out = execFileSync('ss', ['-tnpH', 'state', 'established', `( sport = :${sshd.port} and dport = :${peerPort} )`], { encoding: 'utf8' });
  return [...new Set([...out.matchAll(/pid=(\d+)/g)].map((m) => Number(m[1])))];
}

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Server, utils, type Connection } from 'ssh2';
import type { ResolvedHost } from '../../src/core/config/types';
import { usableEd25519 } from './keys';

/**
 * An in-process ssh2 Server for fast unit tests of the state machine (the real OpenSSH
 * peer is in sshd.ts). Accepts one client key, or a fixed password; counts auth attempts.
 */
export interface MiniServer {
  port: number;
  dir: string;
  clientKeyPath: string;
  /** With `keyPassphrase`: a second accepted client key, encrypted with that passphrase. */
  encryptedClientKeyPath: string | undefined;
  knownHostsPath: string;
  authAttempts: number;
  connections: Set<Connection>;
  /**
   * While true, each new connection stops reading right after authentication: the client
   * logs in, then nothing it sends is ever answered (a server or path that stalled).
   */
  stallAfterAuth: boolean;
  /** Host for a Session, pointing at `port` (or another port, e.g. a fault proxy's). */
  resolvedHost(port?: number, overrides?: Partial<ResolvedHost>): ResolvedHost;
  close(): Promise<void>;
}

export async function startMiniServer(opts: { password?: string; kbdInteractive?: boolean; keyPassphrase?: string } = {}): Promise<MiniServer> {
  const dir = mkdtempSync(join(tmpdir(), 'ska-mini-'));
  const hostKey = usableEd25519();
  const clientKey = usableEd25519();
  const clientKeyPath = join(dir, 'id_ed25519');
  writeFileSync(clientKeyPath, clientKey.private, { mode: 0o600 });
  const allowedKeys = [clientKey.public];
  let encryptedClientKeyPath: string | undefined;
  if (opts.keyPassphrase !== undefined) {
    // Few bcrypt rounds: the test is about who sees the passphrase, not about its strength.
    const encrypted = usableEd25519({ passphrase: opts.keyPassphrase, cipher: 'aes256-ctr', rounds: 2 });
    encryptedClientKeyPath = join(dir, 'id_ed25519_encrypted');
    writeFileSync(encryptedClientKeyPath, encrypted.private, { mode: 0o600 });
    allowedKeys.push(encrypted.public);
  }
  const allowed = allowedKeys.map((text) => {
    const key = utils.parseKey(text);
    if (key instanceof Error) throw key;
    return key.getPublicSSH();
  });
  const connections = new Set<Connection>();
  const state = { authAttempts: 0, stallAfterAuth: false };
  const server = new Server({ hostKeys: [hostKey.private] }, (conn) => {
    connections.add(conn);
    conn.on('close', () => connections.delete(conn));
    conn.on('error', () => undefined);
    conn.on('ready', () => {
      if (state.stallAfterAuth) (conn as unknown as { _sock: { pause(): void } })._sock.pause();
    });
    conn.on('authentication', (ctx) => {
      state.authAttempts++;
      if (ctx.method === 'publickey' && allowed.some((k) => ctx.key.data.equals(k))) return ctx.accept();
      if (ctx.method === 'password' && opts.password !== undefined && ctx.password === opts.password) return ctx.accept();
      if (ctx.method === 'keyboard-interactive' && opts.kbdInteractive && opts.password !== undefined) {
        return ctx.prompt([{ prompt: 'Verification code: ', echo: false }], 'MFA', 'Enter the code', (answers) =>
          answers[0] === opts.password ? ctx.accept() : ctx.reject(['keyboard-interactive']),
        );
      }
      ctx.reject(opts.kbdInteractive ? ['publickey', 'keyboard-interactive'] : ['publickey', 'password']);
    });
    // keepalive@openssh.com needs no handler: ssh2's server replies FAILURE to unknown
    // global requests, as OpenSSH does, and any reply proves the path.
    // direct-tcpip (-L, -D): relayed to loopback only, so tests never reach beyond this machine.
    conn.on('tcpip', (accept, reject, info) => {
      if (info.destIP !== '127.0.0.1' && info.destIP !== 'localhost') return reject();
      const upstream = connect(info.destPort, '127.0.0.1');
      upstream.once('error', () => reject());
      upstream.once('connect', () => {
        const channel = accept();
        channel.on('error', () => upstream.destroy());
        upstream.removeAllListeners('error');
        upstream.on('error', () => channel.destroy());
        channel.pipe(upstream).pipe(channel);
      });
    });
    conn.on('session', (accept) => {
      const session = accept();
      session.on('exec', (acceptExec, _r, info) => {
        const stream = acceptExec();
        stream.write(`ran ${info.command}\n`);
        stream.exit(0);
        stream.end();
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const hostPub = utils.parseKey(hostKey.public);
  if (hostPub instanceof Error) throw hostPub;
  const knownHostsPath = join(dir, 'known_hosts');
  const line = (p: number) => `[127.0.0.1]:${p} ${hostPub.type} ${hostPub.getPublicSSH().toString('base64')}\n`;
  writeFileSync(knownHostsPath, line(port));
  return {
    port,
    dir,
    clientKeyPath,
    encryptedClientKeyPath,
    knownHostsPath,
    connections,
    get authAttempts() {
      return state.authAttempts;
    },
    set authAttempts(v: number) {
      state.authAttempts = v;
    },
    get stallAfterAuth() {
      return state.stallAfterAuth;
    },
    set stallAfterAuth(v: boolean) {
      state.stallAfterAuth = v;
    },
    resolvedHost(p = port, overrides = {}) {
      if (p !== port) writeFileSync(knownHostsPath, line(port) + line(p));
      return {
        alias: 'mini',
        hostName: '127.0.0.1',
        port: p,
        user: 'tester',
        identityFiles: [clientKeyPath],
        identitiesOnly: true,
        proxyJump: [],
        strictHostKeyChecking: 'yes',
        userKnownHostsFiles: [knownHostsPath],
        localForwards: [],
        remoteForwards: [],
        dynamicForwards: [],
        unsupported: [],
        ...overrides,
      };
    },
    close: async () => {
      for (const c of connections) c.end();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

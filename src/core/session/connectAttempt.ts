import { connect as netConnect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Client, ConnectConfig } from 'ssh2';
import { ssh2 } from './ssh2Lazy';
import { boundTimerMs } from '../base/clock';
import { withDeadline } from '../base/deadline';
import type { Logger } from '../base/logger';
import type { JumpHost, ResolvedHost } from '../config/types';
import { createAuthHandler } from './auth';
import { AuthReport } from './authReport';
import { classifyError, malformedHostName, SessionError } from './errors';
import { type HostKeyVerifier } from './hostKeyPolicy';
import type { IdentityLoader } from './identities';
import type { Prompter } from './prompter';
import { ProxyCommandProcess } from './proxyCommand';

export interface AttemptDeadlines {
  /** TCP connect (or, through a jump host, the direct-tcpip channel open). */
  tcpMs: number;
  /**
   * From TCP connected to the server's first bytes. sshd sends its version banner before
   * any crypto, so silence here means a broken path (a middlebox or jump host that
   * accepted the connection), not a slow server: it is treated like a TCP timeout.
   */
  bannerMs: number;
  /** From TCP connected to key exchange done. */
  handshakeMs: number;
  /** Network time for authentication; time spent in prompts does not count. */
  authMs: number;
}

export interface AttemptContext {
  prompter: Prompter;
  identities: IdentityLoader;
  /** One verifier per hop, kept across attempts so a reconnect must present the same key. */
  verifierFor(hop: Hop): HostKeyVerifier;
  logger: Logger;
  /** A warning that is printed once per session however many attempts hit it (a stale agent). */
  warnOnce?: (message: string) => void;
  deadlines: AttemptDeadlines;
  everConnected: boolean;
}

/** A connected chain: `client` is the final host; `hops` are jump hosts it rides on. */
export interface ConnectedClient {
  client: Client;
  /** The byte stream under `client`: a TCP socket, or a channel through the last jump host. */
  transport: Duplex;
  hops: Client[];
  dispose(): void;
}

export type Hop = Pick<
  JumpHost,
  | 'alias'
  | 'hostName'
  | 'port'
  | 'user'
  | 'identityFiles'
  | 'identitiesOnly'
  | 'identityAgent'
  | 'certificateFiles'
  | 'hostKeyAlias'
  | 'userKnownHostsFiles'
  | 'globalKnownHostsFiles'
  | 'hashKnownHosts'
  | 'strictHostKeyChecking'
  | 'proxyCommand'
>;

// aes-gcm first: without ssh2's native binding (a bundled extension lacks it) chacha20 costs
// ~2.3x the CPU per byte, aes-gcm ~1.5x.
const cipherPreference = ['aes128-gcm@openssh.com', 'aes256-gcm@openssh.com'];

/**
 * One full connection attempt: TCP (or jump chain), SSH handshake, authentication, each
 * step under its own deadline so a half-open path never hangs. On failure everything
 * opened so far is torn down and a classified SessionError is thrown.
 */
export async function connectAttempt(host: ResolvedHost, ctx: AttemptContext): Promise<ConnectedClient> {
  const chain: Hop[] = [...host.proxyJump, host];
  const opened: Client[] = [];
  let transport: Duplex | undefined;
  // Only the first hop is reached directly, so only it can have a ProxyCommand.
  let proxy: ProxyCommandProcess | undefined;
  const teardown = () => {
    transport?.destroy();
    for (const c of opened.reverse()) c.destroy();
    proxy?.kill();
  };
  try {
    for (let i = 0; i < chain.length; i++) {
      const hop = chain[i];
      const target = `${hop.alias === hop.hostName ? hop.hostName : `${hop.alias} (${hop.hostName})`}:${hop.port}`;
      if (i === 0 && hop.proxyCommand !== undefined) {
        proxy = new ProxyCommandProcess(hop.proxyCommand, { logger: ctx.logger, target });
        transport = proxy.stream;
      } else {
        transport = i === 0 ? await openTcp(hop, ctx, target) : await openChannel(opened[i - 1], hop, ctx, target);
      }
      const client = new (ssh2().Client)();
      // ssh2 may emit 'error' after we stopped listening (e.g. "Connection lost before
      // handshake" once a timed-out attempt is destroyed); unhandled, that kills the process.
      client.on('error', () => undefined);
      opened.push(client);
      // A ProxyCommand's banner comes after its own setup (ssh -W logs in to the jump host,
      // aws ssm opens a session): give it the handshake's deadline, not a TCP connect's.
      const hopCtx = proxy && i === 0 ? { ...ctx, deadlines: { ...ctx.deadlines, bannerMs: ctx.deadlines.handshakeMs } } : ctx;
      await handshake(client, transport, hop, hopCtx, target);
      ctx.logger.debug(`authenticated to ${target} as ${hop.user}`);
    }
    const client = opened[opened.length - 1];
    const hops = opened.slice(0, -1);
    const finalTransport = transport!;
    const finalProxy = proxy;
    return {
      client,
      transport: finalTransport,
      hops,
      dispose: () => {
        client.end();
        client.destroy();
        finalTransport.destroy();
        for (const h of [...hops].reverse()) h.destroy();
        finalProxy?.kill();
      },
    };
  } catch (err) {
    // A ProxyCommand that exited is the real reason the stream closed: say so. Its exit
    // is reported a moment after its stdout closes, hence the short wait.
    const proxyMayBeWhy = proxy !== undefined && !(err instanceof SessionError && err.fatal);
    const proxyFailure = proxyMayBeWhy && (await proxy!.waitForExit(1000)) ? proxy!.failure() : undefined;
    teardown();
    throw proxyFailure ?? err;
  }
}

function openTcp(hop: Hop, ctx: AttemptContext, target: string): Promise<Socket> {
  return new Promise<Socket>((resolve, reject) => {
    const malformed = malformedHostName(hop.hostName);
    if (malformed) return reject(new SessionError('unknown-host', `cannot connect to ${target}: ${malformed}`, { host: target, fatal: true }));
    const socket = netConnect({ host: hop.hostName, port: hop.port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new SessionError('timeout', `TCP connect to ${target} timed out after ${ctx.deadlines.tcpMs} ms`));
    }, boundTimerMs(ctx.deadlines.tcpMs));
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      socket.setNoDelay(true);
      resolve(socket);
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      socket.destroy();
      reject(classifyError(err, target, ctx.everConnected));
    });
  });
}

function openChannel(via: Client, hop: Hop, ctx: AttemptContext, target: string): Promise<Duplex> {
  return withDeadline<Duplex>(
    (done) =>
      via.forwardOut('127.0.0.1', 0, hop.hostName, hop.port, (err, stream) => {
        if (err) done(new SessionError('refused', `the jump host could not reach ${target}: ${err.message}`, { host: target, hop: hop.alias }));
        else done(undefined, stream);
      }),
    {
      timeoutMs: ctx.deadlines.tcpMs,
      onTimeout: () =>
        new SessionError('timeout', `opening a channel to ${target} through the jump host timed out after ${ctx.deadlines.tcpMs} ms`, {
          host: target,
          hop: hop.alias,
        }),
      discardLate: (stream) => stream.destroy(),
    },
  );
}

/** Handshake and authentication with separate deadlines; prompt time is excluded from the auth deadline. */
function handshake(client: Client, transport: Duplex, hop: Hop, ctx: AttemptContext, target: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const verifier = ctx.verifierFor(hop);
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    let phase: 'handshake' | 'auth' = 'handshake';
    let authRemaining = ctx.deadlines.authMs;
    let authStarted = 0;
    const arm = (ms: number, what: string) => {
      clearTimeout(timer);
      timer = setTimeout(() => fail(new SessionError('stalled', `${what} with ${target} timed out after ${ms} ms`)), boundTimerMs(ms));
    };
    const finish = () => {
      clearTimeout(timer);
      onFirstBytes();
      transport.removeListener('data', onFirstBytes);
      client.removeListener('error', onError);
      client.removeListener('close', onClose);
    };
    const fail = (err: SessionError) => {
      if (settled) return;
      settled = true;
      finish();
      client.destroy();
      reject(err);
    };
    const authReport = new AuthReport();
    const onError = (err: Error & { level?: string }) => {
      // ssh2 reports an agent it cannot reach (a socket left behind by a dead agent) as an
      // error but goes on with the next method itself, as ssh does: not a failed attempt.
      if (err.level === 'agent') {
        const warn = ctx.warnOnce ?? ((m: string) => ctx.logger.warn(m));
        return warn(`the ssh agent cannot be used (${err.message}); trying the other authentication methods`);
      }
      // ssh2's text says only that every method failed: name the methods and keys instead.
      if (!verifier.rejection && err.level === 'client-authentication') {
        return fail(new SessionError('auth-failed', authReport.describeFailure(target, hop.user), { host: target }));
      }
      // A refusal by our own verifier surfaces as a generic ssh2 error; report the real reason.
      fail(verifier.rejection ?? classifyError(err, target, ctx.everConnected));
    };
    const onClose = () => fail(verifier.rejection ?? new SessionError('reset', `${target} closed the connection during ${phase}`));
    const onPrompt = (active: boolean) => {
      if (phase !== 'auth' || settled) return;
      if (active) {
        clearTimeout(timer);
        authRemaining -= Date.now() - authStarted;
      } else {
        authStarted = Date.now();
        arm(Math.max(authRemaining, 2000), 'authentication');
      }
    };
    client.on('error', onError);
    client.on('close', onClose);
    client.once('handshake', () => {
      phase = 'auth';
      authStarted = Date.now();
      arm(authRemaining, 'authentication');
    });
    client.once('ready', () => {
      if (settled) return;
      settled = true;
      finish();
      resolve();
    });
    arm(ctx.deadlines.handshakeMs, 'SSH handshake');
    const bannerTimer = setTimeout(
      () => fail(new SessionError('timeout', `${target} accepted the connection but sent no SSH banner within ${ctx.deadlines.bannerMs} ms`)),
      boundTimerMs(ctx.deadlines.bannerMs),
    );
    const onFirstBytes = () => clearTimeout(bannerTimer);
    const config: ConnectConfig = {
      sock: transport,
      username: hop.user,
      // Our own deadlines and keepalive replace ssh2's (readyTimeout would count prompt time).
      readyTimeout: 0,
      keepaliveInterval: 0,
      hostVerifier: verifier.verify,
      authHandler: createAuthHandler(
        {
          user: hop.user,
          host: hop.alias,
          identityFiles: hop.identityFiles,
          identitiesOnly: hop.identitiesOnly,
          identityAgent: hop.identityAgent,
          certificateFiles: hop.certificateFiles,
        },
        ctx.identities,
        ctx.prompter,
        ctx.logger,
        onPrompt,
        authReport,
        ctx.warnOnce,
      ),
      algorithms: {
        cipher: { prepend: cipherPreference },
        serverHostKey: verifier.hostKeyAlgorithms(),
      } as unknown as ConnectConfig['algorithms'],
    };
    try {
      client.connect(config);
      // After connect(): ssh2 has attached its own reader, so this listener only observes.
      transport.once('data', onFirstBytes);
    } catch (err) {
      fail(classifyError(err, target, ctx.everConnected));
    }
  });
}

import { isIP } from 'node:net';
/**
 * Errors are classified once, here. Transient ones are retried with backoff; fatal ones
 * stop the session and are shown to the user once: retrying a wrong password or a
 * changed host key in the background locks accounts (fail2ban, 2FA) and hides attacks.
 */
export type SessionErrorCode =
  | 'auth-failed'
  | 'host-key-changed'
  | 'host-key-unknown'
  | 'host-key-revoked'
  | 'config'
  | 'unknown-host'
  | 'timeout'
  | 'stalled'
  | 'refused'
  | 'reset'
  | 'unreachable'
  | 'dns-temporary'
  | 'proxy-exited'
  | 'keepalive'
  | 'closed-by-remote'
  | 'protocol'
  | 'cancelled';

const fatalCodes: ReadonlySet<SessionErrorCode> = new Set<SessionErrorCode>([
  'auth-failed',
  'host-key-changed',
  'host-key-unknown',
  'host-key-revoked',
  'config',
  'unknown-host',
  'cancelled',
]);

/** What an error is about, as data: the UI acts on these fields, never on the message text. */
export interface SessionErrorDetails {
  /** The file and line to fix (a known_hosts entry, an ssh_config line). */
  readonly location?: { readonly file: string; readonly line?: number };
  /** The host as the message names it (alias, `[host]:port`, known_hosts name). */
  readonly host?: string;
  /** For a ProxyJump chain: the jump host (alias) the error happened at, if not the target. */
  readonly hop?: string;
  /** Overrides the code's default classification. */
  readonly fatal?: boolean;
}

export class SessionError extends Error {
  override readonly name = 'SessionError';
  readonly fatal: boolean;
  readonly location: SessionErrorDetails['location'];
  readonly host: string | undefined;
  readonly hop: string | undefined;

  constructor(
    readonly code: SessionErrorCode,
    message: string,
    details: SessionErrorDetails = {},
  ) {
    super(message);
    this.fatal = details.fatal ?? fatalCodes.has(code);
    this.location = details.location;
    this.host = details.host;
    this.hop = details.hop;
  }

  /**
   * True when the attempt never reached sshd's login: a retry costs a SYN (or a DNS
   * query), not an authentication attempt, so it may be repeated about every second.
   * A refused connection counts too: the host is up but sshd is not (yet) listening, and so
   * does a ProxyCommand that exited before the SSH banner (its own path is down).
   */
  get pathDown(): boolean {
    return this.code === 'timeout' || this.code === 'unreachable' || this.code === 'dns-temporary' || this.code === 'refused' || this.code === 'proxy-exited';
  }
}

interface NodeLikeError {
  code?: string;
  level?: string;
  message?: string;
}

/**
 * Maps what ssh2 and node's net emit to a SessionError. `everConnected` turns a name that
 * does not resolve from fatal (a typo) into transient (it resolved before: DNS or VPN is down).
 */
export function classifyError(err: unknown, target: string, everConnected = false): SessionError {
  if (err instanceof SessionError) return err;
  const error = classifyMessage(err, target, everConnected);
  // EINVAL from getaddrinfo: the name itself is unusable, and waiting cannot change that.
  const fatal = (err as NodeLikeError | undefined)?.code === 'EINVAL' ? true : undefined;
  return new SessionError(error.code, error.message, { host: target, fatal });
}

/**
 * Why a host name can never resolve (RFC 1035 limits: 253 characters, labels of 1 to 63),
 * or undefined. Such a name is a fatal error, not one to retry: no DNS will ever answer it.
 */
export function malformedHostName(name: string): string | undefined {
  if (isIP(name) !== 0) return undefined;
  const bare = name.endsWith('.') ? name.slice(0, -1) : name;
  if (bare.length > 253) return `the host name is ${bare.length} characters long (at most 253)`;
  const labels = bare.split('.');
  if (labels.some((l) => l === '')) return 'the host name has an empty label (two dots in a row, or a leading dot)';
  const long = labels.find((l) => l.length > 63);
  if (long) return `a label of the host name is ${long.length} characters long (at most 63)`;
  return undefined;
}

function classifyMessage(err: unknown, target: string, everConnected: boolean): { code: SessionErrorCode; message: string } {
  const e = (err ?? {}) as NodeLikeError;
  const message = e.message ?? String(err);
  switch (e.code) {
    case 'ECONNREFUSED':
      return classified('refused', `${target} refused the connection (is sshd running on that port?)`);
    case 'ECONNRESET':
    case 'EPIPE':
      return classified('reset', `connection to ${target} was reset`);
    case 'ETIMEDOUT':
      return classified('timeout', `connection to ${target} timed out (ETIMEDOUT)`);
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'ENETDOWN':
    case 'EHOSTDOWN':
    case 'EADDRNOTAVAIL':
      return classified('unreachable', `no route to ${target}: it is unreachable (${e.code})`);
    case 'EINVAL':
      return classified('unknown-host', `cannot resolve ${target}: the host name is not valid (${message})`);
    case 'EAI_AGAIN':
      // Not an unknown name: no DNS server answered (offline, VPN down, resolver unreachable).
      return classified('dns-temporary', `cannot resolve ${target}: DNS is unreachable or not answering (EAI_AGAIN)`);
    case 'ENOTFOUND':
      return everConnected
        ? classified('dns-temporary', `no such host ${target} (ENOTFOUND), though it resolved before: is the network or VPN down?`)
        : classified('unknown-host', `could not resolve hostname ${target}: no such host (ENOTFOUND); check HostName in your ssh_config`);
  }
  switch (e.level) {
    case 'client-authentication':
      return classified('auth-failed', `authentication to ${target} failed (all methods tried: ${message}). Check User, IdentityFile and your agent.`);
    case 'client-timeout':
      return classified('timeout', `${target}: ${message}`);
    case 'client-socket':
      return classified('reset', `${target}: ${message}`);
    case 'protocol':
    case 'handshake':
      return classified('protocol', `${target}: SSH protocol error: ${message}`);
  }
  return classified('reset', `${target}: ${message}`);
}

function classified(code: SessionErrorCode, message: string): { code: SessionErrorCode; message: string } {
  return { code, message };
}

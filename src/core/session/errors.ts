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

export class SessionError extends Error {
  readonly fatal: boolean;

  constructor(readonly code: SessionErrorCode, message: string, fatal?: boolean) {
    super(message);
    this.name = 'SessionError';
    this.fatal = fatal ?? fatalCodes.has(code);
  }

  /**
   * True when the attempt never reached sshd's login: a retry costs a SYN (or a DNS
   * query), not an authentication attempt, so it may be repeated about every second.
   * A refused connection counts too: the host is up but sshd is not (yet) listening.
   */
  get pathDown(): boolean {
    return this.code === 'timeout' || this.code === 'unreachable' || this.code === 'dns-temporary' || this.code === 'refused';
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
  const e = (err ?? {}) as NodeLikeError;
  const message = e.message ?? String(err);
  switch (e.code) {
    case 'ECONNREFUSED':
      return new SessionError('refused', `${target} refused the connection (is sshd running on that port?)`);
    case 'ECONNRESET':
    case 'EPIPE':
      return new SessionError('reset', `connection to ${target} was reset`);
    case 'ETIMEDOUT':
      return new SessionError('timeout', `connection to ${target} timed out`);
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'ENETDOWN':
    case 'EHOSTDOWN':
    case 'EADDRNOTAVAIL':
      return new SessionError('unreachable', `${target} is unreachable (${e.code})`);
    case 'EAI_AGAIN':
      return new SessionError('dns-temporary', `name lookup for ${target} failed temporarily`);
    case 'ENOTFOUND':
      return everConnected
        ? new SessionError('dns-temporary', `name lookup for ${target} failed (it worked before; is the network or VPN down?)`)
        : new SessionError('unknown-host', `could not resolve hostname ${target}: check HostName in your ssh_config`);
  }
  switch (e.level) {
    case 'client-authentication':
      return new SessionError('auth-failed', `authentication to ${target} failed (all methods tried: ${message}). Check User, IdentityFile and your agent.`);
    case 'client-timeout':
      return new SessionError('timeout', `${target}: ${message}`);
    case 'client-socket':
      return new SessionError('reset', `${target}: ${message}`);
    case 'protocol':
    case 'handshake':
      return new SessionError('protocol', `${target}: SSH protocol error: ${message}`);
  }
  return new SessionError('reset', `${target}: ${message}`);
}

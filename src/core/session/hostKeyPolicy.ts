import { appendKnownHost, checkHostKey, fingerprintSha256, keyTypeOf, knownHostKeyAlgorithms } from '../config/knownHosts';
import type { StrictHostKeyChecking } from '../config/types';
import type { Logger } from '../base/logger';
import { SessionError } from './errors';
import type { Prompter } from './prompter';
import { knownHostsName } from '../base/hostPort';

export interface HostKeyTarget {
  /** Name looked up in known_hosts: HostKeyAlias, else HostName. */
  host: string;
  port: number;
  /** The user's files: looked up first; the first is where new keys are added. */
  knownHostsFiles: string[];
  /** GlobalKnownHostsFile: looked up after the user's (an administrator's pins), never written. */
  globalKnownHostsFiles?: string[];
  /** HashKnownHosts: add new keys under a hashed name. */
  hashKnownHosts?: boolean;
  strict: StrictHostKeyChecking;
}

/** ssh2 1.17's default host key algorithms, in its order (its prepend cannot reorder them). */
const SSH2_HOST_KEY_ALGORITHMS = [
  'ssh-ed25519',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'rsa-sha2-512',
  'rsa-sha2-256',
  'ssh-rsa',
];

/**
 * Builds ssh2's `hostVerifier` in its callback form: ssh2 only rejects on a literal
 * `false`, and an async verifier resolving to false is ACCEPTED (ssh2 #1268), so we never
 * return a promise. A refusal is remembered in `rejection` for the caller to report.
 * The key approved once is cached: ssh2 calls the verifier again on every re-key, and a
 * reconnect must present the very same key.
 */
export class HostKeyVerifier {
  rejection: SessionError | undefined;
  private approved: Buffer | undefined;

  constructor(
    private readonly target: HostKeyTarget,
    private readonly prompter: Prompter,
    private readonly logger: Logger,
  ) {}

  /**
   * ssh2's host key algorithm list with those of the keys known for this host first, as
   * OpenSSH's order_hostkeyalgs(), so that a server with several keys shows the one on
   * record; undefined (ssh2's defaults) when none is known. Only names ssh2 1.17
   * implements: it refuses to start with an unknown one.
   */
  hostKeyAlgorithms(): string[] | undefined {
    const { host, port } = this.target;
    const known = knownHostKeyAlgorithms(this.lookupFiles, host, port).filter((a) => SSH2_HOST_KEY_ALGORITHMS.includes(a));
    if (known.length === 0) return undefined;
    return [...known, ...SSH2_HOST_KEY_ALGORITHMS.filter((a) => !known.includes(a))];
  }

  /** Every file a key is looked up in, as ssh: the user's, then the global ones. */
  private get lookupFiles(): string[] {
    return [...this.target.knownHostsFiles, ...(this.target.globalKnownHostsFiles ?? [])];
  }

  readonly verify = (key: Buffer, done: (ok: boolean) => void): void => {
    this.rejection = undefined;
    this.decide(key).then(
      (ok) => done(ok),
      (err) => {
        this.rejection = err instanceof SessionError ? err : new SessionError('host-key-unknown', String(err));
        done(false);
      },
    );
  };

  private async decide(blob: Buffer): Promise<boolean> {
    const { host, port, knownHostsFiles, strict } = this.target;
    const type = keyTypeOf(blob);
    const fingerprint = fingerprintSha256(blob);
    // known_hosts is read again on every reconnect, as a new ssh would: a key revoked or
    // replaced there since it was approved is refused, not carried over from the cache.
    const verdict = checkHostKey(this.lookupFiles, host, port, { type, blob });
    // Mid-session re-key or reconnect with a different key: never accepted. The entry it
    // contradicts is named when there is one: that line is what the user has to fix.
    if (this.approved && !this.approved.equals(blob)) {
      if (verdict.kind === 'changed') {
        throw this.changedError(type, fingerprint, `${verdict.file}:${verdict.line}`, { file: verdict.file, line: verdict.line });
      }
      throw this.changedError(type, fingerprint, 'the key approved earlier in this session');
    }
    const display = knownHostsName(host, port);
    // Unknown to known_hosts but approved earlier in this session (a prompt answered, or
    // UserKnownHostsFile none): the same key is still the same host.
    if (verdict.kind === 'unknown' && this.approved) return true;
    switch (verdict.kind) {
      case 'match':
        this.logger.debug(`host key ${type} ${fingerprint} matches ${verdict.file}:${verdict.line}`);
        this.approved = blob;
        return true;
      case 'revoked':
        throw new SessionError(
          'host-key-revoked',
          `the host key of ${display} (${type} ${fingerprint}) is marked @revoked in ${verdict.file}:${verdict.line}; refusing to connect.`,
          {
            host: display,
            location: { file: verdict.file, line: verdict.line },
          },
        );
      case 'changed':
        throw this.changedError(type, fingerprint, `${verdict.file}:${verdict.line}`, { file: verdict.file, line: verdict.line });
      case 'unknown':
        break;
    }
    const file = knownHostsFiles[0];
    if (strict === 'no' || strict === 'off' || strict === 'accept-new') {
      if (file) appendKnownHost(file, host, port, { type, blob }, { hashed: this.target.hashKnownHosts });
      this.logger.warn(`permanently added ${display} (${type} ${fingerprint}) to ${file ?? 'nowhere (UserKnownHostsFile none)'}`);
      this.approved = blob;
      return true;
    }
    if (strict === 'ask' && file) {
      const ok = await this.prompter.confirmHostKey({ host, port, keyType: type, fingerprint, knownHostsFile: file, otherTypesKnown: verdict.otherTypesKnown });
      if (ok) {
        appendKnownHost(file, host, port, { type, blob }, { hashed: this.target.hashKnownHosts });
        this.logger.info(`added ${display} (${type} ${fingerprint}) to ${file}`);
        this.approved = blob;
        return true;
      }
      throw new SessionError('host-key-unknown', `the host key of ${display} (${type} ${fingerprint}) was not accepted.`, { host: display });
    }
    throw new SessionError(
      'host-key-unknown',
      `no host key is known for ${display} and StrictHostKeyChecking is ${strict}. Verify the fingerprint ${type} ${fingerprint} and add it, e.g. by connecting once with ssh.`,
      { host: display },
    );
  }

  private changedError(type: string, fingerprint: string, where: string, location?: { file: string; line: number }): SessionError {
    const { host, port } = this.target;
    const display = knownHostsName(host, port);
    return new SessionError(
      'host-key-changed',
      `REMOTE HOST IDENTIFICATION HAS CHANGED for ${display}: it offered ${type} ${fingerprint}, which does not match ${where}. Someone could be intercepting the connection; if the host was really reinstalled, remove the old key (ssh-keygen -R '${display}') and connect again.`,
      { host: display, location },
    );
  }
}

import { createHash } from 'node:crypto';
import type { ParsedKey } from 'ssh2';

/**
 * What one authentication tried, for the message shown when it fails: which methods and keys
 * the server refused, which were not tried and why, and what the server said it accepts.
 * ssh2's own error ("All configured authentication methods failed") says none of that.
 */
export class AuthReport {
  /** Offered to the server and refused (all but the last offer, or all of them on failure). */
  readonly offered: string[] = [];
  /** Not offered, with the reason. */
  readonly skipped: string[] = [];
  /** Keys ssh would offer that cannot be used here (security keys, certificates), each with what to do. */
  readonly unusable: string[] = [];
  /** The methods the server last said it accepts (null: it never said). */
  serverMethods: string[] | null = null;

  describeFailure(target: string, user: string): string {
    const parts = [`authentication to ${target} as ${user} failed`];
    parts.push(this.offered.length ? `refused by the server: ${this.offered.join(', ')}` : 'nothing was offered to the server');
    if (this.skipped.length) parts.push(`not tried: ${this.skipped.join(', ')}`);
    if (this.unusable.length) parts.push(`keys that cannot be used: ${this.unusable.join('; ')}`);
    if (this.serverMethods) parts.push(`the server accepts: ${this.serverMethods.join(', ') || 'nothing more'}`);
    return `${parts.join('; ')}. Check User, IdentityFile and your agent.`;
  }
}

/** "ssh-ed25519 SHA256:..." as ssh-keygen -l shows a key. */
export function keyFingerprint(key: ParsedKey): string {
  const digest = createHash('sha256').update(key.getPublicSSH()).digest('base64').replace(/=+$/, '');
  return `${key.type} SHA256:${digest}`;
}

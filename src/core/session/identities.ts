import { readFileSync } from 'node:fs';
import type { ParsedKey } from 'ssh2';
import { ssh2 } from './ssh2Lazy';
import type { Logger } from '../base/logger';
import type { Prompter } from './prompter';

const maxPassphraseTries = 3;

function isEncryptedKeyError(err: Error): boolean {
  return /encrypted|passphrase/i.test(err.message);
}

/**
 * Loads private keys from IdentityFile paths, asking for passphrases through the
 * prompter. A decrypted key lives in memory for the life of the session only (like an
 * agent holds it), so that a background reconnect does not ask again; passphrases are
 * never kept, logged or written anywhere.
 */
export class IdentityLoader {
  /** Decrypted keys, so a reconnect neither asks again nor re-runs the slow bcrypt KDF. */
  private readonly unlocked = new Map<string, ParsedKey>();

  constructor(
    private readonly prompter: Prompter,
    private readonly logger: Logger,
  ) {}

  /** Returns the parsed key, or undefined when the file is missing, unusable or the user declined. */
  async load(path: string): Promise<ParsedKey | undefined> {
    let data: Buffer;
    try {
      data = readFileSync(path);
    } catch (err) {
      this.logger.warn(`identity file ${path} cannot be read: ${(err as Error).message}`);
      return undefined;
    }
    const unlocked = this.unlocked.get(path);
    if (unlocked) return unlocked;
    let parsed = ssh2().utils.parseKey(data);
    let encrypted = false;
    for (let tries = 0; parsed instanceof Error && isEncryptedKeyError(parsed) && tries < maxPassphraseTries; tries++) {
      const passphrase = await this.prompter.passphrase(path);
      if (passphrase === undefined) {
        this.logger.info(`no passphrase given for ${path}; skipping it`);
        return undefined;
      }
      encrypted = true;
      parsed = ssh2().utils.parseKey(data, passphrase);
      if (parsed instanceof Error) this.logger.warn(`wrong passphrase for ${path}`);
    }
    if (parsed instanceof Error) {
      this.logger.warn(`identity file ${path} is not usable: ${parsed.message}`);
      return undefined;
    }
    const key: ParsedKey = Array.isArray(parsed) ? (parsed[0] as ParsedKey) : parsed;
    if (encrypted) this.unlocked.set(path, key);
    return key;
  }

  /** The public key blob of an identity, from `path.pub` if present (no passphrase needed). */
  publicBlob(path: string): Buffer | undefined {
    for (const candidate of [`${path}.pub`, path]) {
      try {
        const parsed = ssh2().utils.parseKey(readFileSync(candidate));
        if (parsed instanceof Error) continue;
        const key: ParsedKey = Array.isArray(parsed) ? (parsed[0] as ParsedKey) : parsed;
        return key.getPublicSSH();
      } catch {
        // try the next candidate
      }
    }
    return undefined;
  }
}

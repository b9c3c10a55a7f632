/**
 * Whether a passphrase opens a key file, checked locally before a passphrase is offered
 * for remembering or a remembered one is used: a wrong remembered passphrase would
 * otherwise be tried (and counted as a failed attempt) on every connect. No 'vscode' here.
 */
import { readFileSync } from 'node:fs';
import { ssh2 } from '../core/session/ssh2Lazy';

export function passphraseOpens(keyPath: string, passphrase: string): boolean {
  try {
    const parsed = ssh2().utils.parseKey(readFileSync(keyPath), passphrase);
    return !(parsed instanceof Error);
  } catch {
    return false;
  }
}

import { utils } from 'ssh2';

type KeyPair = { private: string; public: string };

/**
 * An ed25519 key pair that ssh2 itself can read. ssh2's generator makes a pair that its own
 * parser rejects ("Malformed OpenSSH private key") about once in 270 tries (11 of 3000
 * measured), which turned random tests red; generate again until both halves parse.
 */
export function usableEd25519(options?: { passphrase: string; cipher: string; rounds: number }): KeyPair {
  for (let attempt = 0; attempt < 20; attempt++) {
    const pair = options ? utils.generateKeyPairSync('ed25519', options) : utils.generateKeyPairSync('ed25519');
    const pub = utils.parseKey(pair.public);
    const priv = utils.parseKey(pair.private, options?.passphrase);
    if (!(pub instanceof Error) && !(priv instanceof Error)) return pair;
  }
  throw new Error('ssh2 generated 20 ed25519 key pairs in a row that it cannot parse');
}

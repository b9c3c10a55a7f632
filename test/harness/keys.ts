import { randomBytes } from 'node:crypto';
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

/**
 * An `sk-ssh-ed25519@openssh.com` private key file in OpenSSH's format, made without a
 * security key (random key handle): ssh-keygen -y and ssh-add accept it; signing with it
 * would need the token, which no test does.
 */
export function fakeSkEd25519(comment: string): string {
  const str = (b: Buffer | string) => {
    const buf = typeof b === 'string' ? Buffer.from(b) : b;
    const len = Buffer.alloc(4);
    len.writeUInt32BE(buf.length);
    return Buffer.concat([len, buf]);
  };
  const type = 'sk-ssh-ed25519@openssh.com';
  const pub = randomBytes(32);
  const publicBlob = Buffer.concat([str(type), str(pub), str('ssh:')]);
  const check = randomBytes(4);
  let priv = Buffer.concat([check, check, str(type), str(pub), str('ssh:'), Buffer.from([1]), str(randomBytes(64)), str(Buffer.alloc(0)), str(comment)]);
  for (let pad = 1; priv.length % 8 !== 0; pad++) priv = Buffer.concat([priv, Buffer.from([pad])]);
  const count = Buffer.alloc(4);
  count.writeUInt32BE(1);
  const data = Buffer.concat([Buffer.from('openssh-key-v1\0', 'latin1'), str('none'), str('none'), str(Buffer.alloc(0)), count, str(publicBlob), str(priv)]);
  const b64 = data.toString('base64').replace(/.{70}/g, '$&\n');
  return `-----BEGIN OPENSSH PRIVATE KEY-----\n${b64.trimEnd()}\n-----END OPENSSH PRIVATE KEY-----\n`;
}

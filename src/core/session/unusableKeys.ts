/**
 * Keys ssh would use but ssh2 1.17 cannot: FIDO security keys (`sk-...@openssh.com`) and
 * OpenSSH certificates (`*-cert-v01@openssh.com`, CertificateFile, `<key>-cert.pub`). ssh2
 * skips them without a word (an agent's sk key and certificate are dropped in its
 * getIdentities, an sk key file fails to parse as "unsupported"), and the login then fails
 * with nothing pointing at the key. Here each is named with what to do instead.
 */
import { existsSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';

/** What to say about a key of this type, or undefined when ssh2 can use it. */
export function unusableKeyReason(type: string): string | undefined {
  if (type.startsWith('sk-')) {
    return `is a FIDO security-key key (${type}), which ssh-keepalive cannot use (its SSH library has no FIDO support); add a plain key for this host (ssh-keygen -t ed25519) to the server's authorized_keys`;
  }
  if (/-cert-v0[01]@openssh\.com$/.test(type)) {
    return `is an OpenSSH certificate (${type}), which ssh-keepalive cannot use (its SSH library has no certificate support); only the plain key is offered, so the server must list that key in authorized_keys`;
  }
  if (type.startsWith('ssh-xmss')) return `is an XMSS key (${type}), which ssh-keepalive cannot use; add an ed25519 key`;
  return undefined;
}

/** The key type a key file declares: from `<path>.pub`, the file itself if public, or an openssh-key-v1 file's public part. */
export function keyFileType(path: string): string | undefined {
  for (const candidate of [`${path}.pub`, path]) {
    let text: string;
    try {
      text = readFileSync(candidate, 'utf8');
    } catch {
      continue;
    }
    const publicLine = /^\s*([a-z0-9@.-]+)\s+[A-Za-z0-9+/=]+/.exec(text);
    if (publicLine) return publicLine[1];
    const privateType = opensshPrivateKeyType(text);
    if (privateType) return privateType;
  }
  return undefined;
}

/** The type in an openssh-key-v1 private key's public section (not encrypted, so no passphrase is needed). */
function opensshPrivateKeyType(text: string): string | undefined {
  const m = /-----BEGIN OPENSSH PRIVATE KEY-----([\s\S]*?)-----END OPENSSH PRIVATE KEY-----/.exec(text);
  if (!m) return undefined;
  const data = Buffer.from(m[1].replace(/\s+/g, ''), 'base64');
  const magic = 'openssh-key-v1\0';
  if (data.subarray(0, magic.length).toString('latin1') !== magic) return undefined;
  const reader = new SshReader(data, magic.length);
  reader.string(); // cipher
  reader.string(); // kdf
  reader.string(); // kdf options
  if (reader.uint32() < 1) return undefined;
  const publicBlob = reader.string();
  return publicBlob ? new SshReader(publicBlob, 0).string()?.toString('latin1') : undefined;
}

/** `<identity file>-cert.pub`, which ssh offers before the key itself, when it exists. */
export function certificateBeside(identityFile: string): string | undefined {
  const cert = `${identityFile}-cert.pub`;
  return existsSync(cert) ? cert : undefined;
}

export interface AgentKeyInfo {
  type: string;
  comment: string;
  /** The public key blob (to name the key by fingerprint, or match it to an IdentityFile). */
  blob: Buffer;
}

const SSH_AGENTC_REQUEST_IDENTITIES = 11;
const SSH_AGENT_IDENTITIES_ANSWER = 12;

/**
 * The agent's key list straight from its protocol (ssh2 drops the keys it cannot parse
 * before we could see them). Undefined when the agent cannot be asked: that is reported
 * where the agent is used, not here.
 */
export function listAgentKeys(socketPath: string, timeoutMs = 1000): Promise<AgentKeyInfo[] | undefined> {
  return new Promise((resolve) => {
    const socket = connect(socketPath);
    let buffered = Buffer.alloc(0);
    const done = (keys: AgentKeyInfo[] | undefined) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(keys);
    };
    const timer = setTimeout(() => done(undefined), timeoutMs);
    socket.on('error', () => done(undefined));
    socket.on('close', () => done(undefined));
    socket.on('connect', () => socket.write(Buffer.from([0, 0, 0, 1, SSH_AGENTC_REQUEST_IDENTITIES])));
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      if (buffered.length < 4) return;
      const length = buffered.readUInt32BE(0);
      if (buffered.length < 4 + length) return;
      done(parseIdentitiesAnswer(buffered.subarray(4, 4 + length)));
    });
  });
}

export function parseIdentitiesAnswer(body: Buffer): AgentKeyInfo[] | undefined {
  if (body[0] !== SSH_AGENT_IDENTITIES_ANSWER) return undefined;
  const reader = new SshReader(body, 1);
  const count = reader.uint32();
  const keys: AgentKeyInfo[] = [];
  for (let i = 0; i < count; i++) {
    const blob = reader.string();
    const comment = reader.string();
    if (!blob || comment === undefined) return undefined;
    const type = new SshReader(blob, 0).string()?.toString('latin1');
    if (type === undefined) return undefined;
    keys.push({ type, comment: comment.toString('utf8'), blob });
  }
  return keys;
}

/** RFC 4251 uint32 and string, stopping (undefined) at the end of the data. */
class SshReader {
  constructor(
    private readonly data: Buffer,
    private offset: number,
  ) {}

  uint32(): number {
    if (this.offset + 4 > this.data.length) return -1;
    const v = this.data.readUInt32BE(this.offset);
    this.offset += 4;
    return v;
  }

  string(): Buffer | undefined {
    const length = this.uint32();
    if (length < 0 || this.offset + length > this.data.length) return undefined;
    const s = this.data.subarray(this.offset, this.offset + length);
    this.offset += length;
    return s;
  }
}

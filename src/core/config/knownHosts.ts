/**
 * known_hosts lookup and update (sshd(8) "SSH_KNOWN_HOSTS FILE FORMAT"), with plain
 * node crypto. ssh2 verifies nothing itself, so this is what stands between the user
 * and a man in the middle: a key that differs from the known one must never come out
 * as a match, whatever else the files contain.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { knownHostsName as knownHostsForm } from '../base/hostPort';
import { matchPatternList } from './patterns';

export type HostKeyVerdict =
  | { kind: 'match'; file: string; line: number }
  | { kind: 'unknown'; otherTypesKnown: boolean }
  | { kind: 'changed'; file: string; line: number; knownType: string }
  | { kind: 'revoked'; file: string; line: number };

export interface HostKey {
  type: string;
  /** The key in SSH wire format (what ssh2's hostVerifier receives). */
  blob: Buffer;
}

interface Entry {
  marker?: 'revoked' | 'cert-authority';
  hosts: string;
  type: string;
  blob: Buffer;
  line: number;
}

/** Key type name from an SSH wire-format public key (its first string field). */
export function keyTypeOf(blob: Buffer): string {
  if (blob.length < 4) throw new Error('malformed SSH public key: shorter than its length field');
  const len = blob.readUInt32BE(0);
  if (len === 0 || len > 64 || 4 + len > blob.length) throw new Error('malformed SSH public key: bad key type length');
  return blob.toString('latin1', 4, 4 + len);
}

/** `SHA256:<base64 without padding>`, as `ssh-keygen -l` and ssh's prompts show it. */
export function fingerprintSha256(blob: Buffer): string {
  return 'SHA256:' + createHash('sha256').update(blob).digest('base64').replace(/=+$/, '');
}

/** The name a host is stored under: `host` on port 22, `[host]:port` otherwise (ssh lowercases it). */
export function knownHostsName(host: string, port: number): string {
  return knownHostsForm(host.toLowerCase(), port);
}

/** `|1|salt|hash` with hash = HMAC-SHA1(key = salt, name), as HashKnownHosts / ssh-keygen -H write it. */
export function hashHostName(name: string, salt: Buffer = randomBytes(20)): string {
  const hash = createHmac('sha1', salt).update(name).digest();
  return `|1|${salt.toString('base64')}|${hash.toString('base64')}`;
}

function hostsFieldMatches(hosts: string, name: string): boolean {
  if (hosts.startsWith('|')) {
    const parts = hosts.split('|');
    // Only the "|1|" scheme exists; anything else cannot be matched.
    if (parts.length !== 4 || parts[1] !== '1') return false;
    const salt = Buffer.from(parts[2], 'base64');
    const want = Buffer.from(parts[3], 'base64');
    const got = createHmac('sha1', salt).update(name).digest();
    return want.length === got.length && timingSafeEqual(want, got);
  }
  return matchPatternList(name, hosts.split(',')) === 'match';
}

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

function parseLine(text: string, line: number): Entry | undefined {
  const fields = text.trim().split(/[ \t]+/);
  if (fields[0] === '' || fields[0].startsWith('#')) return undefined;
  let marker: Entry['marker'];
  if (fields[0].startsWith('@')) {
    const m = fields.shift();
    if (m === '@revoked') marker = 'revoked';
    else if (m === '@cert-authority') marker = 'cert-authority';
    else return undefined; // unknown marker: ssh skips the line too
  }
  const [hosts, type, b64] = fields;
  // Also skips SSH-1 lines ("host bits e n"): their second field is a number.
  if (!hosts || !type || !b64 || /^\d+$/.test(type) || !BASE64.test(b64)) return undefined;
  const blob = Buffer.from(b64, 'base64');
  try {
    // A line whose blob says another type is corrupt; never let it decide anything.
    if (keyTypeOf(blob) !== type) return undefined;
  } catch {
    return undefined;
  }
  return { marker, hosts, type, blob, line };
}

function readEntries(file: string): Entry[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return []; // missing or unreadable: ssh treats it as holding no keys
  }
  const entries: Entry[] = [];
  text.split('\n').forEach((lineText, i) => {
    const entry = parseLine(lineText, i + 1);
    if (entry) entries.push(entry);
  });
  return entries;
}

/**
 * Look `key` up for host:port in `files` (in order). Outcome precedence: revoked (the
 * exact key is @revoked for this host) > match (any entry of the host has this key) >
 * changed (the host has other keys, of any type: OpenSSH's hostfile.c reports
 * HOST_CHANGED for them too, so a server that suddenly offers a new key type is refused
 * under every StrictHostKeyChecking mode) > unknown.
 * `@cert-authority` lines are ignored: host certificates are not supported, and a CA key
 * is never the host's own key.
 */
export function checkHostKey(files: string[], host: string, port: number, key: HostKey): HostKeyVerdict {
  const name = knownHostsName(host, port);
  let type = key.type;
  try {
    type = keyTypeOf(key.blob); // the blob is what will be verified; trust it over the label
  } catch {
    // keep the caller's type; such a blob cannot equal any valid entry anyway
  }
  let match: { file: string; line: number } | undefined;
  let changed: { file: string; line: number; knownType: string } | undefined;
  for (const file of files) {
    for (const entry of readEntries(file)) {
      if (entry.marker === 'cert-authority' || !hostsFieldMatches(entry.hosts, name)) continue;
      const same = entry.blob.equals(key.blob);
      if (entry.marker === 'revoked') {
        if (same) return { kind: 'revoked', file, line: entry.line };
        continue;
      }
      if (same) match ??= { file, line: entry.line };
      // A same-type entry names the offending key best; otherwise the first one, as ssh.
      else if (!changed || (entry.type === type && changed.knownType !== type)) changed = { file, line: entry.line, knownType: entry.type };
    }
  }
  if (match) return { kind: 'match', ...match };
  if (changed) return { kind: 'changed', ...changed };
  return { kind: 'unknown', otherTypesKnown: false };
}

/** SSH host key algorithms able to verify a key of each known_hosts type (OpenSSH's order). */
const ALGORITHMS_FOR_TYPE: Record<string, string[]> = {
  'ssh-rsa': ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'],
};

/**
 * The host key algorithms for the key types known for host:port, to be offered first:
 * OpenSSH's order_hostkeyalgs(). Without it a server holding an RSA key (the one in
 * known_hosts) and a newer ed25519 key would be asked for ed25519, which then looks
 * changed.
 */
export function knownHostKeyAlgorithms(files: string[], host: string, port: number): string[] {
  const name = knownHostsName(host, port);
  const out: string[] = [];
  for (const file of files) {
    for (const entry of readEntries(file)) {
      if (entry.marker || !hostsFieldMatches(entry.hosts, name)) continue;
      for (const algorithm of ALGORITHMS_FOR_TYPE[entry.type] ?? [entry.type]) if (!out.includes(algorithm)) out.push(algorithm);
    }
  }
  return out;
}

/**
 * Add a host key, creating the file (0600) and its directory (0700) when missing. Writes
 * `[host]:port` for ports other than 22, and `|1|salt|hash` when `hashed`.
 */
export function appendKnownHost(file: string, host: string, port: number, key: HostKey, options: { hashed?: boolean } = {}): void {
  // A comma or blank in the name would silently turn into a second pattern or field.
  if (host === '' || /[\s,#|]/.test(host) || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new Error(`refusing to write a known_hosts entry for "${host}" port ${port}`);
  }
  let type = key.type;
  try {
    type = keyTypeOf(key.blob);
  } catch {
    throw new Error(`refusing to write a malformed ${key.type} key for ${host}`);
  }
  const name = knownHostsName(host, port);
  const hostField = options.hashed ? hashHostName(name) : name;
  const line = `${hostField} ${type} ${key.blob.toString('base64')}\n`;

  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  let prefix = '';
  try {
    const size = fs.statSync(file).size;
    if (size > 0) {
      // Append to a file that lacks a final newline without gluing two entries together.
      const fd = fs.openSync(file, 'r');
      try {
        const last = Buffer.alloc(1);
        fs.readSync(fd, last, 0, 1, size - 1);
        if (last[0] !== 0x0a) prefix = '\n';
      } finally {
        fs.closeSync(fd);
      }
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  fs.appendFileSync(file, prefix + line, { mode: 0o600 });
}

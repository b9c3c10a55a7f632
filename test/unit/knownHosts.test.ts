import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { appendKnownHost, checkHostKey, fingerprintSha256, hashHostName, keyTypeOf, knownHostsName } from '../../src/core/config/knownHosts';

interface TestKey {
  type: string;
  blob: Buffer;
  /** The "type base64" part of a known_hosts line. */
  text: string;
  pubFile: string;
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'knownhosts-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
let counter = 0;

/** A real key from ssh-keygen, so the wire format is OpenSSH's, not ours. */
function makeKey(kind: 'ed25519' | 'rsa' | 'ecdsa'): TestKey {
  const file = path.join(tmp, `key${counter++}`);
  const args = ['-q', '-t', kind, '-N', '', '-C', 'test', '-f', file];
  if (kind === 'rsa') args.push('-b', '2048');
  execFileSync('ssh-keygen', args);
  const [type, b64] = fs.readFileSync(`${file}.pub`, 'utf8').trim().split(' ');
  return { type, blob: Buffer.from(b64, 'base64'), text: `${type} ${b64}`, pubFile: `${file}.pub` };
}

const ed = makeKey('ed25519');
const ed2 = makeKey('ed25519');
const rsa = makeKey('rsa');
const ecdsa = makeKey('ecdsa');

function khFile(lines: string[]): string {
  const file = path.join(tmp, `known_hosts${counter++}`);
  fs.writeFileSync(file, lines.join('\n') + '\n');
  return file;
}

test('keyTypeOf reads the type from the wire blob', () => {
  assert.equal(keyTypeOf(ed.blob), 'ssh-ed25519');
  assert.equal(keyTypeOf(rsa.blob), 'ssh-rsa');
  assert.equal(keyTypeOf(ecdsa.blob), 'ecdsa-sha2-nistp256');
  assert.throws(() => keyTypeOf(Buffer.from([0, 0])), /malformed/);
  assert.throws(() => keyTypeOf(Buffer.from([0, 0, 0, 9, 65])), /malformed/);
});

test('fingerprintSha256 equals ssh-keygen -l', () => {
  for (const key of [ed, rsa, ecdsa]) {
    const out = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', key.pubFile], { encoding: 'utf8' });
    assert.equal(fingerprintSha256(key.blob), out.split(' ')[1]);
  }
});

test('plain entry: match, with file and line', () => {
  const file = khFile(['# comment', '', 'other.example.com ' + ed2.text, 'server.example.com ' + ed.text]);
  assert.deepEqual(checkHostKey([file], 'server.example.com', 22, ed), { kind: 'match', file, line: 4 });
  assert.deepEqual(checkHostKey([file], 'SERVER.example.com', 22, ed), { kind: 'match', file, line: 4 });
});

test('ports: [host]:port for non-22, plain host only for 22', () => {
  const file = khFile(['[server]:2222 ' + ed.text, 'plain ' + ed.text]);
  assert.equal(checkHostKey([file], 'server', 2222, ed).kind, 'match');
  assert.equal(checkHostKey([file], 'server', 22, ed).kind, 'unknown');
  assert.equal(checkHostKey([file], 'plain', 22, ed).kind, 'match');
  assert.equal(checkHostKey([file], 'plain', 2222, ed).kind, 'unknown');
  assert.equal(knownHostsName('Host', 22), 'host');
  assert.equal(knownHostsName('::1', 2222), '[::1]:2222');
});

test('host lists and patterns: commas, * and ?, negation', () => {
  const file = khFile(['alpha,beta,192.0.2.1 ' + ed.text, '*.example.com,!evil.example.com ' + rsa.text, 'web?.lan ' + ecdsa.text, '[*.dev]:2200 ' + ed2.text]);
  assert.equal(checkHostKey([file], 'beta', 22, ed).kind, 'match');
  assert.equal(checkHostKey([file], '192.0.2.1', 22, ed).kind, 'match');
  assert.equal(checkHostKey([file], 'a.example.com', 22, rsa).kind, 'match');
  assert.deepEqual(checkHostKey([file], 'evil.example.com', 22, rsa), { kind: 'unknown', otherTypesKnown: false });
  assert.equal(checkHostKey([file], 'web1.lan', 22, ecdsa).kind, 'match');
  assert.equal(checkHostKey([file], 'web12.lan', 22, ecdsa).kind, 'unknown');
  assert.equal(checkHostKey([file], 'x.dev', 2200, ed2).kind, 'match');
});

test('hashed entries written by ssh-keygen -H are matched, for port 22 and [host]:port', () => {
  const file = khFile(['hashed.example.com ' + ed.text, '[hashed.example.com]:2222 ' + rsa.text]);
  execFileSync('ssh-keygen', ['-q', '-H', '-f', file], { stdio: 'ignore' });
  const text = fs.readFileSync(file, 'utf8');
  assert.ok(!text.includes('hashed.example.com'), 'ssh-keygen -H must have hashed the names');
  assert.match(text, /^\|1\|/);
  assert.deepEqual(checkHostKey([file], 'hashed.example.com', 22, ed), { kind: 'match', file, line: 1 });
  assert.deepEqual(checkHostKey([file], 'hashed.example.com', 2222, rsa), { kind: 'match', file, line: 2 });
  assert.equal(checkHostKey([file], 'other.example.com', 22, ed).kind, 'unknown');
  assert.equal(checkHostKey([file], 'hashed.example.com', 2223, rsa).kind, 'unknown');
  // A changed key behind a hashed name is still "changed".
  assert.deepEqual(checkHostKey([file], 'hashed.example.com', 22, ed2), {
    kind: 'changed',
    file,
    line: 1,
    knownType: 'ssh-ed25519',
  });
});

test('changed: same type known, different key; never a match', () => {
  const file = khFile(['host ' + ed2.text]);
  assert.deepEqual(checkHostKey([file], 'host', 22, ed), { kind: 'changed', file, line: 1, knownType: 'ssh-ed25519' });
  // The caller's type label cannot talk a changed key into a match.
  assert.equal(checkHostKey([file], 'host', 22, { type: 'ssh-rsa', blob: ed.blob }).kind, 'changed');
});

test('changed: only another key type known (OpenSSH: HOST_CHANGED, refused under every mode); unknown: nothing known', () => {
  const file = khFile(['host ' + rsa.text]);
  assert.deepEqual(checkHostKey([file], 'host', 22, ed), { kind: 'changed', file, line: 1, knownType: 'ssh-rsa' });
  assert.deepEqual(checkHostKey([file], 'elsewhere', 22, ed), { kind: 'unknown', otherTypesKnown: false });
  assert.deepEqual(checkHostKey([], 'host', 22, ed), { kind: 'unknown', otherTypesKnown: false });
});

test('several keys per host: any match wins over a same-type mismatch, across files', () => {
  const a = khFile(['host ' + ed2.text, 'host ' + rsa.text]);
  const b = khFile(['host ' + ed.text]);
  assert.deepEqual(checkHostKey([a, b], 'host', 22, ed), { kind: 'match', file: b, line: 1 });
  const c = khFile(['host ' + ed2.text, 'host ' + ed.text]);
  assert.deepEqual(checkHostKey([c], 'host', 22, ed), { kind: 'match', file: c, line: 2 });
});

test('@revoked beats a match; a revoked other key does not matter', () => {
  const file = khFile(['host ' + ed.text, '@revoked * ' + ed.text]);
  assert.deepEqual(checkHostKey([file], 'host', 22, ed), { kind: 'revoked', file, line: 2 });
  const other = khFile(['@revoked host ' + ed2.text, 'host ' + ed.text]);
  assert.equal(checkHostKey([other], 'host', 22, ed).kind, 'match');
  const scoped = khFile(['@revoked otherhost ' + ed.text, 'host ' + ed.text]);
  assert.equal(checkHostKey([scoped], 'host', 22, ed).kind, 'match');
});

test('@cert-authority lines are ignored (host certificates are not supported)', () => {
  const file = khFile(['@cert-authority host ' + ed.text]);
  assert.deepEqual(checkHostKey([file], 'host', 22, ed), { kind: 'unknown', otherTypesKnown: false });
});

test('comments, blank lines, junk lines and missing files are harmless', () => {
  const file = khFile([
    '   # indented comment',
    '',
    '\t',
    'host ssh-ed25519 not-base64!!',
    'host ssh-rsa ' + ed.text.split(' ')[1], // type field disagrees with the blob: corrupt
    'host 2048 35 1234567', // SSH-1
    '@bogus host ' + ed.text,
    'host ' + ed.text + ' trailing comment here',
  ]);
  assert.deepEqual(checkHostKey([path.join(tmp, 'missing'), file], 'host', 22, ed), { kind: 'match', file, line: 8 });
});

test('appendKnownHost creates dir 0700 and file 0600, writes [host]:port, and ssh-keygen -F finds it', () => {
  const dir = path.join(tmp, `newdir${counter++}`, '.ssh');
  const file = path.join(dir, 'known_hosts');
  appendKnownHost(file, 'New.Example.com', 2222, ed);
  appendKnownHost(file, 'plain.example.com', 22, rsa);
  assert.equal(fs.statSync(dir).mode & 0o777, 0o700);
  assert.equal(fs.statSync(file).mode & 0o777, 0o600);
  assert.equal(fs.readFileSync(file, 'utf8'), `[new.example.com]:2222 ${ed.text}\nplain.example.com ${rsa.text}\n`);
  assert.deepEqual(checkHostKey([file], 'new.example.com', 2222, ed), { kind: 'match', file, line: 1 });
  const found = spawnSync('ssh-keygen', ['-F', '[new.example.com]:2222', '-f', file], { encoding: 'utf8' });
  assert.equal(found.status, 0);
  assert.match(found.stdout, /Host \[new\.example\.com\]:2222 found: line 1/);
});

test('appendKnownHost hashed: OpenSSH can look the entry up', () => {
  const file = path.join(tmp, `hashed${counter++}`);
  appendKnownHost(file, 'secret.example.com', 22, ed, { hashed: true });
  appendKnownHost(file, 'secret.example.com', 2200, rsa, { hashed: true });
  const text = fs.readFileSync(file, 'utf8');
  assert.ok(!text.includes('secret'), 'host names must not appear in a hashed file');
  assert.equal(checkHostKey([file], 'secret.example.com', 22, ed).kind, 'match');
  assert.equal(checkHostKey([file], 'secret.example.com', 2200, rsa).kind, 'match');
  for (const [name, line] of [
    ['secret.example.com', 1],
    ['[secret.example.com]:2200', 2],
  ] as const) {
    const found = spawnSync('ssh-keygen', ['-F', name, '-f', file], { encoding: 'utf8' });
    assert.equal(found.status, 0, `ssh-keygen -F ${name}`);
    assert.match(found.stdout, new RegExp(`found: line ${line}`));
  }
});

test('hashHostName matches the HMAC-SHA1 scheme ssh-keygen uses', () => {
  const file = khFile(['h.example.com ' + ed.text]);
  execFileSync('ssh-keygen', ['-q', '-H', '-f', file], { stdio: 'ignore' });
  const [hostField] = fs.readFileSync(file, 'utf8').split(' ');
  const salt = Buffer.from(hostField.split('|')[2], 'base64');
  assert.equal(hashHostName('h.example.com', salt), hostField);
});

test('appendKnownHost keeps entries apart when the file lacks a final newline', () => {
  const file = path.join(tmp, `nonl${counter++}`);
  fs.writeFileSync(file, `old ${ed2.text}`);
  appendKnownHost(file, 'new', 22, ed);
  assert.equal(fs.readFileSync(file, 'utf8'), `old ${ed2.text}\nnew ${ed.text}\n`);
  assert.equal(checkHostKey([file], 'old', 22, ed2).kind, 'match');
  assert.equal(checkHostKey([file], 'new', 22, ed).kind, 'match');
});

test('appendKnownHost refuses names that would corrupt the file', () => {
  const file = path.join(tmp, `refuse${counter++}`);
  for (const host of ['', 'a b', 'a,b', 'a\nb', '|1|x']) assert.throws(() => appendKnownHost(file, host, 22, ed));
  assert.throws(() => appendKnownHost(file, 'h', 0, ed));
  assert.throws(() => appendKnownHost(file, 'h', 22, { type: 'ssh-ed25519', blob: Buffer.from([1]) }));
  assert.equal(fs.existsSync(file), false);
});

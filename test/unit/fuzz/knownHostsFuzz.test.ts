/**
 * Fuzz: known_hosts lookups (core/config/knownHosts.ts) on files of plain, hashed
 * (`|1|salt|hash`), `[host]:port`, `@cert-authority` / `@revoked`, comment and garbage lines.
 * known_hosts has no errors to report (ssh skips a line it cannot read, and so do we), so the
 * properties are: nothing throws, a verdict always points at a line that says what the
 * verdict says (a match only where that exact key is written, never from a CA or revoked
 * line), what is appended is found again, and the time is linear in the file.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, test } from 'node:test';
import fc from 'fast-check';
import { appendKnownHost, checkHostKey, hashHostName, knownHostKeyAlgorithms, knownHostsName, type HostKey } from '../../../src/core/config/knownHosts';
import { assertLinear, fuzz, nastyText } from '../../harness/arbitraries';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ska-fuzz-kh-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

function blobOf(type: string, body: Uint8Array): Buffer {
  const head = Buffer.alloc(4);
  head.writeUInt32BE(Buffer.byteLength(type, 'latin1'), 0);
  return Buffer.concat([head, Buffer.from(type, 'latin1'), Buffer.from(body)]);
}

const keyType = fc.constantFrom('ssh-ed25519', 'ssh-rsa', 'ecdsa-sha2-nistp256');
/** Few distinct keys, so files and lookups share them often. */
const hostKey: fc.Arbitrary<HostKey> = fc.tuple(keyType, fc.constantFrom(1, 2, 3)).map(([type, n]) => ({ type, blob: blobOf(type, Buffer.alloc(8, n)) }));
const hostName = fc.constantFrom('target', 'other', 'TARGET', '10.0.0.1', '::1', 'db.example.com');
const port = fc.constantFrom(22, 2222, 1);

const hostsField = fc.oneof(
  { weight: 3, arbitrary: fc.tuple(hostName, port).map(([h, p]) => knownHostsName(h, p)) },
  { weight: 2, arbitrary: fc.tuple(hostName, port).map(([h, p]) => hashHostName(knownHostsName(h, p), Buffer.alloc(20, 7))) },
  {
    weight: 2,
    arbitrary: fc
      .array(fc.constantFrom('target', '*', '!target', 'tar?et', '[target]:2222', '*.example.com', '!*', ''), { minLength: 1, maxLength: 3 })
      .map((a) => a.join(',')),
  },
  { weight: 1, arbitrary: fc.constantFrom('|1|', '|2|a|b', '|1|!!|??', '|1|AAAA|', '[target]', '[target]:', 'target:2222') },
  { weight: 1, arbitrary: nastyText },
);

const keyField = fc.oneof(
  { weight: 4, arbitrary: hostKey.map((k) => `${k.type} ${k.blob.toString('base64')}`) },
  { weight: 1, arbitrary: fc.tuple(keyType, hostKey).map(([t, k]) => `${t} ${k.blob.toString('base64')}`) }, // label and blob disagree
  { weight: 1, arbitrary: fc.constantFrom('1024 35 12345', 'ssh-ed25519', 'ssh-ed25519 !!!!', 'ssh-ed25519 AAAA', 'ssh-rsa AAAAB3NzaC1yc2E=', '') },
  { weight: 1, arbitrary: fc.tuple(keyType, fc.uint8Array({ maxLength: 40 })).map(([t, b]) => `${t} ${Buffer.from(b).toString('base64')}`) },
);

const line = fc.oneof(
  {
    weight: 6,
    arbitrary: fc
      .tuple(
        fc.constantFrom('', '', '', '@revoked ', '@cert-authority ', '@bogus ', ' ', '\t'),
        hostsField,
        keyField,
        fc.constantFrom('', ' comment', ' a b c', '\r'),
      )
      .map(([m, h, k, c]) => `${m}${h} ${k}${c}`),
  },
  { weight: 1, arbitrary: fc.constantFrom('', '# comment', '   ', '#target ssh-ed25519 AAAA', '\0') },
  { weight: 1, arbitrary: nastyText },
);

const fileText = fc.tuple(fc.array(line, { maxLength: 12 }), fc.boolean()).map(([lines, nl]) => lines.join('\n') + (nl ? '\n' : ''));

let fileNo = 0;
function writeFile(text: string): string {
  const file = path.join(dir, `kh${fileNo++ % 4}`);
  fs.writeFileSync(file, text);
  return file;
}

test('property: lookups never throw, and every verdict points at a line that says so', () => {
  fuzz(
    fc.property(fc.array(fileText, { minLength: 1, maxLength: 2 }), hostName, port, hostKey, (texts, host, p, key) => {
      const files = texts.map(writeFile);
      const verdict = checkHostKey(files, host, p, key);
      knownHostKeyAlgorithms(files, host, p);
      if (verdict.kind === 'unknown') return;
      const text = texts[files.indexOf(verdict.file)];
      assert.ok(text !== undefined, `verdict names a file not given: ${verdict.file}`);
      const at = text.split('\n')[verdict.line - 1];
      assert.ok(at !== undefined, `line ${verdict.line} does not exist`);
      const b64 = key.blob.toString('base64');
      const words = at.trim().split(/[ \t]+/);
      if (verdict.kind === 'match') {
        assert.ok(words.includes(b64) && !words[0].startsWith('@'), `"match" from a line without that key or with a marker: ${JSON.stringify(at)}`);
      } else if (verdict.kind === 'revoked') {
        assert.ok(words[0] === '@revoked' && words.includes(b64), `"revoked" from ${JSON.stringify(at)}`);
      } else {
        assert.ok(!words[0].startsWith('@') && !words.includes(b64), `"changed" from ${JSON.stringify(at)}`);
      }
      // The key is never accepted while some file revokes it under this very name.
      const revokedHere = `@revoked ${knownHostsName(host, p)} `;
      if (texts.some((t) => t.split('\n').some((l) => l.startsWith(revokedHere) && l.includes(` ${b64}`)))) {
        assert.notEqual(verdict.kind, 'match');
      }
    }),
    300,
  );
});

test('property: an appended key (plain or hashed, any port) is found again, and nothing else matches it', () => {
  fuzz(
    fc.property(
      fileText,
      fc.oneof(fc.domain(), fc.ipV4(), fc.ipV6()),
      fc.integer({ min: 1, max: 65535 }),
      hostKey,
      fc.boolean(),
      (text, host, p, key, hashed) => {
        const file = writeFile(text);
        const before = checkHostKey([file], host, p, key);
        appendKnownHost(file, host, p, key, { hashed });
        const verdict = checkHostKey([file], host, p, key);
        // A key the file already revoked stays revoked; otherwise the new line matches.
        if (before.kind === 'revoked') assert.equal(verdict.kind, 'revoked');
        else assert.equal(verdict.kind, 'match', `${JSON.stringify(text)} + ${host}:${p}`);
      },
    ),
    200,
  );
});

test('property: appendKnownHost refuses names that would corrupt the file, naming the host', () => {
  fuzz(
    fc.property(nastyText, fc.integer({ min: -1, max: 70000 }), hostKey, (host, p, key) => {
      const file = writeFile('');
      try {
        appendKnownHost(file, host, p, key);
      } catch (err) {
        assert.ok((err as Error).message.includes(`"${host}"`), (err as Error).message);
        return;
      }
      assert.equal(checkHostKey([file], host, p, key).kind, 'match', `written for ${JSON.stringify(host)} but not found`);
    }),
    300,
  );
});

test('lookup time grows linearly with the file', () => {
  const key: HostKey = { type: 'ssh-ed25519', blob: blobOf('ssh-ed25519', Buffer.alloc(32, 9)) };
  const build = (n: number): string => {
    const lines: string[] = [];
    for (let i = 0; i < n; i++) {
      lines.push(
        i % 3 === 0
          ? hashHostName(`h${i}`, Buffer.alloc(20, i % 256)) + ' ssh-ed25519 ' + key.blob.toString('base64')
          : `h${i},*.d${i},!x${i} ssh-ed25519 ${key.blob.toString('base64')}`,
      );
    }
    return writeFile(lines.join('\n'));
  };
  assertLinear('known_hosts lines', build, (file) => checkHostKey([file], 'target', 22, key), 200);
  assertLinear(
    'one long hosts field',
    (n) => writeFile(`${'*a'.repeat(n)}b,${'t,'.repeat(n)} ssh-ed25519 AAAA`),
    (file) => checkHostKey([file], 'a'.repeat(50), 22, key),
    500,
  );
});

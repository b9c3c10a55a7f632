import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { utils } from 'ssh2';
import { nullLogger } from '../../src/core/base/logger';
import { HostKeyVerifier } from '../../src/core/session/hostKeyPolicy';
import { noPrompter } from '../../src/core/session/prompter';
import { usableEd25519 } from '../harness/keys';

const blobOf = (pub: string) => {
  const key = utils.parseKey(pub);
  if (key instanceof Error) throw key;
  return key.getPublicSSH();
};
const verify = (v: HostKeyVerifier, blob: Buffer) => new Promise<boolean>((resolve) => v.verify(blob, resolve));

test('a key approved earlier is checked against known_hosts again on reconnect: revoked or replaced since, it is refused', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ska-recheck-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'known_hosts');
  const key = blobOf(usableEd25519().public);
  writeFileSync(file, `[h]:2222 ssh-ed25519 ${key.toString('base64')}\n`);
  const verifier = new HostKeyVerifier({ host: 'h', port: 2222, knownHostsFiles: [file], strict: 'yes' }, noPrompter, nullLogger);
  assert.equal(await verify(verifier, key), true, 'known key accepted');
  assert.equal(await verify(verifier, key), true, 'a re-key with the same key is accepted');

  // The administrator revokes the key while we are connected; the next handshake must fail (ssh would).
  appendFileSync(file, `@revoked [h]:2222 ssh-ed25519 ${key.toString('base64')}\n`);
  assert.equal(await verify(verifier, key), false, 'a key revoked since it was approved is refused');
  assert.equal(verifier.rejection?.code, 'host-key-revoked');
  assert.deepEqual(verifier.rejection?.location, { file, line: 2 });

  // Replaced by another key for the host: refused as changed.
  const other = blobOf(usableEd25519().public);
  writeFileSync(file, `[h]:2222 ssh-ed25519 ${other.toString('base64')}\n`);
  assert.equal(await verify(verifier, key), false, 'a key replaced in known_hosts since it was approved is refused');
  assert.equal(verifier.rejection?.code, 'host-key-changed');
});

test('a key approved without a known_hosts entry (accept-new with UserKnownHostsFile none) stays accepted for the session', async () => {
  const verifier = new HostKeyVerifier({ host: 'h', port: 22, knownHostsFiles: [], strict: 'accept-new' }, noPrompter, nullLogger);
  const key = blobOf(usableEd25519().public);
  assert.equal(await verify(verifier, key), true);
  assert.equal(await verify(verifier, key), true);
  const other = blobOf(usableEd25519().public);
  assert.equal(await verify(verifier, other), false, 'another key in the same session is a changed key');
  assert.equal(verifier.rejection?.code, 'host-key-changed');
  assert.equal(verifier.rejection?.location, undefined, 'no known_hosts line to point at');
});

test('a server that comes back with another key is refused naming the known_hosts file and line, not only the session cache', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ska-recheck-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'known_hosts');
  const key = blobOf(usableEd25519().public);
  writeFileSync(file, `other ssh-ed25519 ${blobOf(usableEd25519().public).toString('base64')}\n[h]:2222 ssh-ed25519 ${key.toString('base64')}\n`);
  const verifier = new HostKeyVerifier({ host: 'h', port: 2222, knownHostsFiles: [file], strict: 'yes' }, noPrompter, nullLogger);
  assert.equal(await verify(verifier, key), true);
  // The host is reinstalled while we are away; known_hosts still holds the old key on line 2.
  assert.equal(await verify(verifier, blobOf(usableEd25519().public)), false);
  assert.equal(verifier.rejection?.code, 'host-key-changed');
  assert.deepEqual(verifier.rejection?.location, { file, line: 2 }, 'the line to fix, as data');
  assert.ok(verifier.rejection?.message.includes(`${file}:2`), verifier.rejection?.message);
  assert.ok(verifier.rejection?.message.includes(`ssh-keygen -R '[h]:2222'`), verifier.rejection?.message);
});

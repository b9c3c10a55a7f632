import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { Socket } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { Client } from 'ssh2';
import { sendProbe } from '../../src/core/liveness/probe';
import { repoRoot } from '../../tools/peers/repo';
import { within } from '../harness/bounded';
import { startMiniServer } from '../harness/miniServer';

/**
 * scripts/ssh2-patch.mjs changes a few lines of ssh2 (channel window size and top-up, one socket
 * write per packet, one AES-GCM decrypt per packet). The compiled tests run node_modules/ssh2 (patched in place at install
 * time), the bundles carry it from the build: each check here fails when an ssh2 upgrade or an
 * install without scripts left ssh2 as it was.
 */

const MiB = 1024 * 1024;
const patchScript = join(repoRoot, 'scripts', 'ssh2-patch.mjs');

test('the installed ssh2 offers a 4 MiB channel window and tops it up once a quarter of it is consumed', () => {
  const channel = require('ssh2/lib/Channel.js') as { MAX_WINDOW: number; PACKET_SIZE: number; WINDOW_THRESHOLD: number };
  const hint = 'node_modules/ssh2 is not patched: run node scripts/ssh2-patch.mjs (npm ci runs it as postinstall)';
  assert.equal(channel.MAX_WINDOW, 4 * MiB, hint);
  assert.equal(channel.WINDOW_THRESHOLD, channel.MAX_WINDOW - channel.MAX_WINDOW / 4, hint);
  assert.equal(spawnSync(process.execPath, [patchScript, '--check']).status, 0, hint);
});

test('the bundles carry the same patches (esbuild plugin in scripts/build.mjs)', (t) => {
  for (const bundle of ['cli.js', 'extension.js']) {
    const file = join(repoRoot, 'dist', bundle);
    if (!existsSync(file)) return t.skip(`${file} not built (npm run build)`);
    const text = readFileSync(file, 'utf8');
    assert.ok(text.includes('var MAX_WINDOW = 4 * 1024 * 1024;'), `${bundle}: window size patch missing`);
    assert.ok(text.includes('var WINDOW_THRESHOLD = MAX_WINDOW - MAX_WINDOW / 4;'), `${bundle}: window top-up patch missing`);
    assert.ok(text.includes('if (!sock.writableCorked) {'), `${bundle}: one-write-per-packet patch missing`);
    assert.ok(text.includes('this._ciphertext = Buffer.allocUnsafe(MAX_PACKET_SIZE);'), `${bundle}: one-decrypt-per-packet patch missing`);
  }
});

test('a patch whose line moved fails the build loudly instead of shipping ssh2 unpatched', () => {
  const script = `import { patchSsh2Source } from ${JSON.stringify(patchScript)};
    try { patchSsh2Source('/x/node_modules/ssh2/lib/Channel.js', 'const MAX_WINDOW = 8 * 1024 * 1024;\\n'); }
    catch (e) { console.log(e.message); process.exit(3); }`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.equal(r.status, 3, `expected a thrown error, got status ${r.status}: ${r.stderr}`);
  assert.match(r.stdout, /ssh2 patch for lib\/Channel\.js no longer applies/);
});

test('a node_modules patched by an earlier version of a patch is brought up to date, not failed', () => {
  const old = 'const WINDOW_THRESHOLD = MAX_WINDOW - 3 * PACKET_SIZE; /* ssh-keepalive patch: window */';
  const script = `import { patchSsh2Source } from ${JSON.stringify(patchScript)};
    console.log(patchSsh2Source('/x/node_modules/ssh2/lib/Channel.js', 'const MAX_WINDOW = 2 * 1024 * 1024;\\n' + ${JSON.stringify(old)} + '\\n'));`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.ok(r.stdout.includes('const WINDOW_THRESHOLD = MAX_WINDOW - MAX_WINDOW / 4;'), r.stdout);
  assert.ok(!r.stdout.includes(old), r.stdout);
});

test('without the native binding, an AES-GCM packet split across reads is decrypted once, whole, and every packet arrives intact', () => {
  // The bundles run ssh2 without its native binding (AESGCMDecipherNative); node_modules may
  // have it built, so a child process refuses to load .node files before requiring ssh2.
  const script = `
    const Module = require('module');
    Module._extensions['.node'] = () => { throw new Error('no native binding here'); };
    const C = require('ssh2/lib/protocol/crypto.js');
    const { randomBytes, createDecipheriv } = require('crypto');
    if (C.bindingAvailable) throw new Error('the binding loaded');
    const info = C.CIPHER_INFO['aes128-gcm@openssh.com'];
    const key = randomBytes(16), iv = randomBytes(12);
    const wire = [];
    const enc = C.createCipher({ outbound: { seqno: 0, onWrite: (b) => wire.push(Buffer.from(b)), cipherInfo: info, cipherKey: key, cipherIV: Buffer.from(iv) } });
    const sent = [];
    for (const size of [1, 100, 32768, 5, 32768 + 9, 16, 30000, 2]) {
      const payload = randomBytes(size);
      sent.push(payload);
      const packet = enc.allocPacket(size);
      payload.copy(packet, 5);
      enc.encrypt(packet);
    }
    const stream = Buffer.concat(wire);
    let updates = 0;
    const proto = Object.getPrototypeOf(createDecipheriv('aes-128-gcm', key, iv));
    const update = proto.update;
    proto.update = function (...a) { updates++; return update.apply(this, a); };
    for (const step of [1, 7, 4096, 65536, stream.length]) {
      const got = [];
      const dec = C.createDecipher({ inbound: { seqno: 0, onPayload: (p) => { got.push(Buffer.from(p)); }, decipherInfo: info, decipherKey: key, decipherIV: Buffer.from(iv) } });
      updates = 0;
      for (let o = 0; o < stream.length; o += step) { const c = stream.subarray(o, o + step); dec.decrypt(c, 0, c.length); }
      if (got.length !== sent.length || got.some((p, i) => !p.equals(sent[i]))) throw new Error('payloads differ with reads of ' + step);
      console.log(step + ':' + updates);
    }
  `;
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', cwd: repoRoot });
  assert.equal(r.status, 0, r.stderr);
  // One update() per packet whatever the read size (unpatched: one per piece, e.g. 9 reads of 7 bytes).
  for (const line of r.stdout.trim().split('\n')) assert.equal(line.split(':')[1], '8', `update() calls per 8 packets, reads of ${line}`);
});

test('packets written in one tick reach the socket as one write (a keepalive is one segment)', async (t) => {
  const server = await startMiniServer();
  t.after(() => server.close());
  const sock = new Socket();
  const writes: number[] = [];
  // What net.Socket hands to the kernel: one _write or _writev call each.
  const spy = sock as unknown as { _write: (...a: unknown[]) => void; _writev: (...a: unknown[]) => void };
  const write = spy._write.bind(sock);
  const writev = spy._writev.bind(sock);
  spy._write = (...a) => (writes.push(1), write(...a));
  spy._writev = (chunks, ...rest) => (writes.push((chunks as unknown[]).length), writev(chunks, ...rest));
  const client = new Client();
  t.after(() => client.end());
  const ready = new Promise<void>((resolve, reject) => {
    client.once('ready', resolve);
    client.once('error', reject);
  });
  sock.connect(server.port, '127.0.0.1');
  client.connect({
    sock,
    username: 'tester',
    privateKey: readFileSync(server.clientKeyPath),
    hostVerifier: () => true,
    algorithms: { cipher: ['aes128-gcm@openssh.com'] },
  });
  await within(ready, 5000, 'the ssh2 client to log in to the mini server');
  writes.length = 0;
  const probe = () => sendProbe(client) ?? Promise.resolve(undefined);
  const replies = [probe(), probe()];
  await new Promise((r) => setImmediate(r));
  const inThatTick = [...writes];
  assert.ok((await within(Promise.all(replies), 5000, 'the replies to two keepalives')).every((rtt) => rtt !== undefined));
  assert.equal(inThatTick.length, 1, `two keepalive packets in one tick: ${inThatTick.length} socket writes (${inThatTick.join(', ')} pieces)`);
});

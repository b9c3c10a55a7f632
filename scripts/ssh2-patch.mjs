// Small fixes to ssh2 1.17, applied to its exact source lines (upstream-shaped: each is a
// small change that could be sent to mscdex/ssh2 as is). Applied twice, from this one list:
//  - at build time, by an esbuild onLoad plugin (scripts/build.mjs), so dist/cli.js and
//    dist/extension.js always carry them;
//  - at install time (`postinstall`, and again before `compile-tests`), in place in
//    node_modules/ssh2, so the compiled out/ tree (tests, bench) runs the same code.
// A pattern that is neither found nor already replaced fails loudly: an ssh2 upgrade that
// changed these lines must be looked at, not silently shipped without the fix.
// test/unit/ssh2Patch.test.ts checks both the installed sources and their behaviour.
//
// Usage: node scripts/ssh2-patch.mjs [--check]   (patch node_modules/ssh2 in place, or only check)
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ssh2Patches = [
  {
    // ssh2 tops a channel's receive window up only once it falls to half (1 MiB of 2 MiB), so
    // about 0.85 MiB is in flight per round trip against OpenSSH's ~1.9 MiB: half the download
    // rate at 50 ms RTT. OpenSSH (channels.c, channel_check_window) sends the adjustment once
    // three maximum-size packets have been consumed, but each adjustment costs this pure-JS
    // path a cipher object, a packet and a socket write (about 9% of a loopback download's CPU
    // at one per 3 packets): top up once a quarter of the (4 MiB, below) window is consumed,
    // which still keeps at least 3 MiB in flight, more than OpenSSH's 2 MiB window allows.
    file: 'lib/Channel.js',
    find: 'const WINDOW_THRESHOLD = MAX_WINDOW / 2;',
    replace: 'const WINDOW_THRESHOLD = MAX_WINDOW - MAX_WINDOW / 4; /* ssh-keepalive patch: window */',
    // What an earlier version of this patch wrote: a node_modules patched in place by it is
    // updated, not failed.
    previously: ['const WINDOW_THRESHOLD = MAX_WINDOW - 3 * PACKET_SIZE; /* ssh-keepalive patch: window */'],
  },
  {
    // The receiving side's window bounds what is in flight: 2 MiB caps a download at
    // 2 MiB per round trip (13 MiB/s at 150 ms), OpenSSH's own limit too. Twice that lets a
    // -L download outrun ssh on long paths against a stock sshd (as HPN-SSH's larger windows
    // do), at the cost of up to 4 MiB buffered per channel whose reader stalls.
    file: 'lib/Channel.js',
    find: 'const MAX_WINDOW = 2 * 1024 * 1024;',
    replace: 'const MAX_WINDOW = 4 * 1024 * 1024; /* ssh-keepalive patch: window size */',
  },
  {
    // Without the native binding ssh2 writes each packet as 2-4 socket writes (length,
    // ciphertext, tag): with TCP_NODELAY each is its own segment, so a keepalive costs three
    // segments and an extra ACK each way, and bulk data one syscall per piece. Corking the
    // socket until the end of the current tick turns everything written in it into one writev.
    file: 'lib/client.js',
    find: '        if (isWritable(sock))\n          sock.write(data);',
    replace:
      '        if (isWritable(sock)) {\n' +
      '          /* ssh-keepalive patch: one write per packet */\n' +
      '          if (!sock.writableCorked) {\n' +
      '            sock.cork();\n' +
      '            process.nextTick(() => sock.uncork());\n' +
      '          }\n' +
      '          sock.write(data);\n' +
      '        }',
  },
  {
    // Without the native binding, ssh2's AES-GCM decipher (AESGCMDecipherNative) calls update()
    // on each piece of a packet as it arrives. sshd sends 32 KiB packets and node reads 64 KiB
    // at a time, so most packets span two reads: two output buffers, then a third the packet's
    // size and two copies to join them (GC and malloc are a tenth of a loopback download's
    // CPU). Gather a split packet's ciphertext in one buffer, reused for every packet, and
    // decrypt it with one update() once whole: one output buffer per packet, one copy only for
    // split packets. The plaintext is still handed on only after final() checked the tag, as
    // before. The decipher alone (node out/bench/decipher.js): a few percent to a fifth less CPU.
    file: 'lib/protocol/crypto.js',
    find:
      '        const nb = Math.min(this._len - this._pktLen, dataLen - p);\n' +
      '        let decrypted;\n' +
      '        if (p !== 0 || nb !== dataLen) {\n' +
      '          decrypted = this._decipherInstance.update(\n' +
      '            new Uint8Array(data.buffer, data.byteOffset + p, nb)\n' +
      '          );\n' +
      '        } else {\n' +
      '          decrypted = this._decipherInstance.update(data);\n' +
      '        }\n' +
      '        if (decrypted.length) {\n' +
      '          if (nb === this._len) {\n' +
      '            this._packet = decrypted;\n' +
      '          } else {\n' +
      '            if (!this._packet)\n' +
      '              this._packet = Buffer.allocUnsafe(this._len);\n' +
      '            this._packet.set(decrypted, this._packetPos);\n' +
      '          }\n' +
      '          this._packetPos += decrypted.length;\n' +
      '        }\n',
    replace:
      '        const nb = Math.min(this._len - this._pktLen, dataLen - p);\n' +
      '        /* ssh-keepalive patch: one decrypt per packet */\n' +
      '        if (nb === this._len) {\n' +
      '          this._packet = this._decipherInstance.update(\n' +
      '            new Uint8Array(data.buffer, data.byteOffset + p, nb)\n' +
      '          );\n' +
      '          this._packetPos = this._packet.length;\n' +
      '        } else {\n' +
      '          if (!this._ciphertext)\n' +
      '            this._ciphertext = Buffer.allocUnsafe(MAX_PACKET_SIZE);\n' +
      '          this._ciphertext.set(\n' +
      '            new Uint8Array(data.buffer, data.byteOffset + p, nb),\n' +
      '            this._pktLen\n' +
      '          );\n' +
      '          if (this._pktLen + nb === this._len) {\n' +
      '            this._packet = this._decipherInstance.update(\n' +
      '              new Uint8Array(this._ciphertext.buffer,\n' +
      '                             this._ciphertext.byteOffset,\n' +
      '                             this._len)\n' +
      '            );\n' +
      '            this._packetPos = this._packet.length;\n' +
      '          }\n' +
      '        }\n',
  },
];

/** The patched text of `file` (a path ending in ssh2/<patch.file>), or the text unchanged when no patch is for it. */
export function patchSsh2Source(path, text) {
  const normalized = path.split(sep).join('/');
  let out = text;
  for (const p of ssh2Patches) {
    if (!normalized.endsWith(`/ssh2/${p.file}`)) continue;
    if (out.includes(p.replace)) continue; // already patched in place
    const earlier = (p.previously ?? []).find((r) => out.includes(r));
    const find = earlier ?? p.find;
    const at = out.indexOf(find);
    if (at < 0 || out.indexOf(find, at + 1) >= 0) {
      throw new Error(
        `ssh2 patch for ${p.file} no longer applies (expected exactly one ${JSON.stringify(p.find)}): ` +
          'ssh2 changed; check whether it still needs the fix (scripts/ssh2-patch.mjs) and update the patch',
      );
    }
    out = out.slice(0, at) + p.replace + out.slice(at + find.length);
  }
  return out;
}

/** Patches the installed node_modules/ssh2 in place (idempotent); with check, only verifies. */
export function patchInstalledSsh2({ check = false } = {}) {
  const require = createRequire(join(dirname(fileURLToPath(import.meta.url)), '..', 'package.json'));
  const root = dirname(require.resolve('ssh2/package.json'));
  const changed = [];
  for (const file of new Set(ssh2Patches.map((p) => p.file))) {
    const path = join(root, file);
    const text = readFileSync(path, 'utf8');
    const patched = patchSsh2Source(path, text);
    if (patched === text) continue;
    if (check) throw new Error(`${path} is not patched: run node scripts/ssh2-patch.mjs`);
    writeFileSync(path, patched);
    changed.push(file);
  }
  return changed;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const changed = patchInstalledSsh2({ check: process.argv.includes('--check') });
  if (changed.length) console.log(`ssh2 patched: ${changed.join(', ')}`);
}

/**
 * node out/bench/decipher.js: CPU per GiB of ssh2's pure-JS decipher for each cipher ssh2 can
 * use without its native binding (the bundles' path), 32 KiB packets (what sshd sends) fed in
 * 64 KiB reads (what node reads). Only the decipher: no sockets, no streams. ssh2 is loaded with
 * .node files refused, so it is the code dist/cli.js runs (node_modules/ssh2, patched in place).
 */
import { randomBytes } from 'node:crypto';
import Module from 'node:module';

interface CipherConfig {
  seqno: number;
  onWrite?: (b: Buffer) => void;
  onPayload?: (p: Buffer) => void;
  [key: string]: unknown;
}
interface Ssh2Crypto {
  bindingAvailable: boolean;
  init: Promise<void>;
  CIPHER_INFO: Record<string, { keyLen: number; ivLen: number }>;
  MAC_INFO: Record<string, { len: number }>;
  createCipher(c: { outbound: CipherConfig }): { allocPacket(n: number): Buffer; encrypt(p: Buffer): void };
  createDecipher(c: { inbound: CipherConfig }): { decrypt(d: Buffer, p: number, len: number): void };
}

const PACKETS = 2000;
const PAYLOAD = 32 * 1024;
const READ = 64 * 1024;

(Module as unknown as { _extensions: Record<string, () => never> })._extensions['.node'] = () => {
  throw new Error('no native binding: measuring the pure-JS path');
};
const ssh2 = require('ssh2/lib/protocol/crypto.js') as Ssh2Crypto;

function sPerGiB(cipher: string, mac: string | undefined): number {
  const info = ssh2.CIPHER_INFO[cipher];
  const macInfo = mac ? ssh2.MAC_INFO[mac] : undefined;
  const key = randomBytes(info.keyLen);
  const iv = randomBytes(info.ivLen || 16);
  const macKey = macInfo ? randomBytes(macInfo.len) : undefined;
  const wire: Buffer[] = [];
  const enc = ssh2.createCipher({
    outbound: {
      seqno: 0,
      onWrite: (b) => wire.push(Buffer.from(b)),
      cipherInfo: info,
      cipherKey: Buffer.from(key),
      cipherIV: Buffer.from(iv),
      macInfo,
      macKey,
    },
  });
  for (let i = 0; i < PACKETS; i++) enc.encrypt(enc.allocPacket(PAYLOAD).fill(7, 5, 5 + PAYLOAD));
  const stream = Buffer.concat(wire);
  const reads: Buffer[] = [];
  for (let o = 0; o < stream.length; o += READ) reads.push(stream.subarray(o, o + READ));
  const once = (): number => {
    let got = 0;
    const dec = ssh2.createDecipher({
      inbound: {
        seqno: 0,
        onPayload: (p) => void (got += p.length),
        decipherInfo: info,
        decipherKey: Buffer.from(key),
        decipherIV: Buffer.from(iv),
        macInfo,
        macKey,
      },
    });
    const before = process.cpuUsage();
    for (const r of reads) dec.decrypt(r, 0, r.length);
    const used = process.cpuUsage(before);
    if (got < PACKETS * PAYLOAD) throw new Error(`${cipher}: ${got} payload bytes out of ${PACKETS * PAYLOAD}`);
    return (used.user + used.system) / 1e6 / ((PACKETS * PAYLOAD) / 2 ** 30);
  };
  for (let i = 0; i < 3; i++) once(); // optimised before it counts
  const runs = Array.from({ length: 7 }, once).sort((a, b) => a - b);
  return runs[3];
}

async function main(): Promise<void> {
  await ssh2.init;
  if (ssh2.bindingAvailable) throw new Error('ssh2 loaded its native binding');
  console.log(`ssh2 pure-JS decipher, ${PAYLOAD / 1024} KiB packets in ${READ / 1024} KiB reads, median of 7 (CPU s per GiB):`);
  const suites: [string, string?][] = [
    ['aes128-gcm@openssh.com'],
    ['aes256-gcm@openssh.com'],
    ['chacha20-poly1305@openssh.com'],
    ['aes128-ctr', 'hmac-sha2-256-etm@openssh.com'],
    ['aes128-ctr', 'hmac-sha2-256'],
  ];
  for (const [cipher, mac] of suites) console.log(`  ${(cipher + (mac ? ` + ${mac}` : '')).padEnd(45)} ${sPerGiB(cipher, mac).toFixed(2)} s/GiB`);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});

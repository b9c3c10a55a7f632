import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { newKeeperSecret } from '../../src/core/keeper/installer';
import { KeeperMux } from '../../src/core/keeper/mux';
import { Collector, keeperScriptPath, pollUntil } from '../harness/keeperPeer';
import { pidAlive } from '../../tools/peers/pidAlive';

// The keeper run locally (no sshd): started from its stored-copy entry point, reached on its
// Unix socket directly. Fast checks of the keeper's stream logic; the sshd paths are in
// test/integration/keeper.test.ts.

const dir = mkdtempSync(path.join(os.tmpdir(), 'sshk-keeper-local-'));
const pids: number[] = [];
after(() => {
  for (const pid of pids) if (pidAlive(pid)) process.kill(pid, 'SIGTERM');
  rmSync(dir, { recursive: true, force: true });
});

async function startLocal(name: string): Promise<{ socket: string; pid: number; secret: string }> {
  const secret = newKeeperSecret();
  const child = spawn('python3', [keeperScriptPath(), 'start'], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stdin.end(`${JSON.stringify({ name, dir: path.join(dir, 'k'), idle: 60 })}\n${secret}\n`);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('local keeper start: no reply within 10 s')), 10_000);
    child.on('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
  const reply = JSON.parse(out) as { ok: boolean; socket: string; pid: number };
  assert.equal(reply.ok, true, out);
  pids.push(reply.pid);
  return { socket: reply.socket, pid: reply.pid, secret };
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<T>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms)));
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

function connect(socket: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(socket, () => resolve(s));
    s.once('error', reject);
  });
}

test('tcp-listen on a local keeper: live connection answered, one made while detached held and carried after re-attach', async (t) => {
  const k = await startLocal('listen');
  const mux = new KeeperMux({ secret: k.secret });
  t.after(() => mux.dispose());
  let transport = await connect(k.socket);
  await withTimeout(mux.attach(transport), 3000, 'WELCOME');
  mux.onDidAccept(({ stream, listener }) => {
    assert.ok(listener, 'the accepted stream names its listener');
    const chunks: Buffer[] = [];
    stream.onDidData((d) => chunks.push(d));
    stream.onDidEnd(() => {
      stream.write(`echo:${Buffer.concat(chunks).toString()}`);
      stream.end();
    });
    // An accepted stream holds what arrives until its consumer is ready for it.
    stream.claim();
  });
  const listener = mux.open({ kind: 'tcp-listen', bind: '127.0.0.1', port: 0 });
  const port = await withTimeout(new Promise<number>((r) => listener.onDidOpen((m) => r(Number(m.port)))), 3000, 'the listener to open');
  const ask = (text: string) =>
    new Promise<string>((resolve, reject) => {
      const c = net.connect(port, '127.0.0.1', () => c.end(text));
      let got = '';
      c.on('data', (d) => (got += d.toString()));
      c.on('close', () => resolve(got));
      c.on('error', reject);
    });
  assert.equal(await withTimeout(ask('live'), 3000, 'an answer to a live connection'), 'echo:live');
  transport.destroy();
  await pollUntil('the mux to detach', () => mux.state === 'detached', 2000);
  const held = ask('held');
  await new Promise((r) => setTimeout(r, 300));
  transport = await connect(k.socket);
  await withTimeout(mux.attach(transport), 3000, 'WELCOME on re-attach');
  assert.equal(await withTimeout(held, 3000, 'the held connection to be answered after re-attach'), 'echo:held');
  const wide = mux.open({ kind: 'tcp-listen', bind: '0.0.0.0', port: 0 });
  const out = new Collector(wide);
  await out.waitUntil('a non-loopback bind to be refused', () => out.reset !== undefined, 3000);
  assert.match(out.reset!.message, /refusing to listen on '0.0.0.0'/);
  await mux.shutdown();
  await pollUntil('the keeper to exit', () => !pidAlive(k.pid), 3000);
});

test('a shell on a local keeper gets the starting umask back, not the keeper 077', async (t) => {
  const k = await startLocal('umask');
  const mux = new KeeperMux({ secret: k.secret });
  t.after(() => mux.dispose());
  await withTimeout(mux.attach(await connect(k.socket)), 3000, 'WELCOME');
  const s = mux.open({ kind: 'pty', cols: 80, rows: 24, argv: ['/bin/sh', '-c', 'umask'] });
  const out = new Collector(s);
  await out.waitUntil('the shell to exit', () => out.ended !== undefined, 5000);
  const expected = process.umask().toString(8).padStart(4, '0');
  assert.equal(out.text.trim(), expected);
  await mux.shutdown();
});

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, rmSync, statSync } from 'node:fs';
import * as net from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { Client } from 'ssh2';
import { KeeperError } from '../../src/core/keeper/errors';
import { newKeeperSecret, startKeeper, type KeeperLocation } from '../../src/core/keeper/installer';
import { KeeperMux } from '../../src/core/keeper/mux';
import { openKeeperTransport } from '../../src/core/keeper/transport';
import { Collector, connectRaw, keeperProgramText, pollUntil } from '../harness/keeperPeer';
import { pidAlive } from '../../tools/peers/pidAlive';
import { requireOrSkip } from '../harness/skip';
import { freePort, sshdAvailability, startSshd, type SshdHandle } from '../../tools/peers/sshd';

const program = keeperProgramText();
let counter = 0;

describe('session keeper against a real sshd', { timeout: 120_000 }, () => {
  let sshd: SshdHandle | undefined;
  let noStreamLocal: SshdHandle | undefined;
  const cleanups: Array<() => void> = [];

  before(async () => {
    if (!sshdAvailability().ok) return;
    sshd = await startSshd();
    noStreamLocal = await startSshd({ extraConfig: ['AllowStreamLocalForwarding no'] });
  });
  after(async () => {
    for (const c of cleanups.reverse()) c();
    await sshd?.stop();
    await noStreamLocal?.stop();
  });

  /** Starts a keeper of its own (own name, own dir) and returns where it is and its secret. */
  async function startOwn(client: Client, o: { idleSeconds?: number; dir?: string; server?: SshdHandle } = {}) {
    const name = `t${process.pid}-${++counter}`;
    const secret = newKeeperSecret();
    const dir = o.dir ?? `${(o.server ?? sshd)!.dir}/keeper-${counter}`;
    const location = await startKeeper(client, { program, name, secret, dir, idleSeconds: o.idleSeconds ?? 120 });
    cleanups.push(() => {
      try {
        process.kill(location.pid, 'SIGTERM');
      } catch {
        // already gone
      }
    });
    return { location, secret, dir, name };
  }

  async function attach(client: Client, location: KeeperLocation, mux: KeeperMux, mode: 'auto' | 'streamlocal' | 'relay' = 'auto') {
    const t = await openKeeperTransport(client, location, mode);
    const welcome = await mux.attach(t.stream);
    return { via: t.via, welcome };
  }

  test('starts detached, attaches through stream-local, runs a pty and reports its exit status', async (t) => {
    if (!requireOrSkip(t, sshdAvailability)) return;
    const { client } = await connectRaw(sshd!);
    t.after(() => client.end());
    const { location, secret, dir } = await startOwn(client);
    assert.equal(location.started, true);
    assert.ok(pidAlive(location.pid), 'the keeper runs after the starting exec ended');
    assert.equal(statSync(dir).mode & 0o777, 0o700, 'socket dir is 0700');
    assert.equal(statSync(location.socket).mode & 0o777, 0o600, 'socket is 0600');
    assert.match(location.program, /keeper-[0-9a-f]{32}\.py$/);
    const mux = new KeeperMux({ secret });
    t.after(() => mux.dispose());
    const { via } = await attach(client, location, mux);
    assert.equal(via, 'streamlocal');
    const s = mux.open({ kind: 'pty', cols: 100, rows: 30, argv: ['/bin/sh', '-c', 'echo "hello $((6*7)) $(stty size) umask $(umask)"; exit 3'] });
    const out = new Collector(s);
    await out.waitUntil('the shell to exit', () => out.ended !== undefined);
    assert.match(out.text, /hello 42 30 100 umask (\d+)/);
    // The keeper's own files are private (umask 077) but the user's shell gets the session's umask back.
    assert.equal(/umask (\d+)/.exec(out.text)![1], (await execText(client, 'umask')).trim());
    assert.deepEqual(out.ended, { exit: 3 });
    await pollUntil('the stream to close on both sides', () => s.state === 'closed', 5000);
    // Starting again with the same name finds the running keeper instead of a second one.
    const again = await startKeeper(client, {
      program,
      name: location.socket
        .split('/')
        .pop()!
        .replace(/\.sock$/, ''),
      secret,
      dir,
    });
    assert.equal(again.started, false);
    assert.equal(again.pid, location.pid);
    // An upgraded program is stored under its own hash.
    const upgraded = await startKeeper(client, { program: program + '\n# v2\n', name: `up${counter}`, secret, dir, idleSeconds: 5 });
    cleanups.push(() => pidAlive(upgraded.pid) && process.kill(upgraded.pid));
    assert.notEqual(upgraded.program, location.program);
  });

  test('where sshd forbids stream-local forwarding, the exec relay carries the stream', async (t) => {
    if (!requireOrSkip(t, sshdAvailability)) return;
    const { client } = await connectRaw(noStreamLocal!);
    t.after(() => client.end());
    const { location, secret } = await startOwn(client, { server: noStreamLocal });
    await assert.rejects(openKeeperTransport(client, location, 'streamlocal'), (e: unknown) => e instanceof KeeperError && e.reason === 'streamlocal-refused');
    const mux = new KeeperMux({ secret });
    t.after(() => mux.dispose());
    const { via } = await attach(client, location, mux);
    assert.equal(via, 'relay');
    const s = mux.open({ kind: 'pty', cols: 80, rows: 24, argv: ['/bin/sh', '-c', 'echo relayed-$((1+1))'] });
    const out = new Collector(s);
    await out.waitUntil('echo through the relay', () => /relayed-2/.test(out.text) && out.ended !== undefined);
  });

  test('a pty outlives a killed SSH connection and resumes byte-exact; keys typed in the gap arrive once', async (t) => {
    if (!requireOrSkip(t, sshdAvailability)) return;
    const first = await connectRaw(sshd!);
    const { location, secret } = await startOwn(first.client);
    const mux = new KeeperMux({ secret });
    t.after(() => mux.dispose());
    await attach(first.client, location, mux);
    const count = 120;
    const script = `stty -echo; (i=0; while [ $i -lt ${count} ]; do echo n$i; i=$((i+1)); sleep 0.05; done; echo counted) & while read -r l; do echo "got:$l"; done`;
    const s = mux.open({ kind: 'pty', cols: 80, rows: 24, argv: ['/bin/bash', '-c', script] });
    const out = new Collector(s);
    await out.waitUntil('the counter to reach n10', () => /n10\r?\n/.test(out.text));
    const detached = new Promise<void>((r) => mux.onDidDetach(() => r()));
    first.kill();
    await withTimeout(detached, 5000, 'the mux to detach after the SSH connection died');
    const seenAtDrop = out.text.length;
    s.write('k1\n');
    await new Promise((r) => setTimeout(r, 1500));
    s.write('k2\n');
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(out.text.length, seenAtDrop, 'nothing arrives while detached');
    const second = await connectRaw(sshd!);
    t.after(() => second.client.end());
    await attach(second.client, location, mux);
    await out.waitUntil('the counter to finish and both keys to be echoed', () => /counted/.test(out.text) && /got:k2/.test(out.text), 15_000);
    const lines = out.text.split(/\r?\n/).filter((l) => l.length > 0);
    const numbers = lines.filter((l) => /^n\d+$/.test(l)).map((l) => Number(l.slice(1)));
    assert.deepEqual(
      numbers,
      Array.from({ length: count }, (_, i) => i),
      'every number once, in order',
    );
    assert.deepEqual(
      lines.filter((l) => l.startsWith('got:')),
      ['got:k1', 'got:k2'],
      'keys from the gap, once each, in order',
    );
    s.reset();
  });

  test('tcp-connect resumes byte-exact across a drop, and half-close ends it cleanly', async (t) => {
    if (!requireOrSkip(t, sshdAvailability)) return;
    const echo = net.createServer((c) => c.on('error', () => undefined).pipe(c));
    await new Promise<void>((r) => echo.listen(0, '127.0.0.1', () => r()));
    t.after(() => echo.close());
    const port = (echo.address() as net.AddressInfo).port;
    const first = await connectRaw(sshd!);
    const { location, secret } = await startOwn(first.client);
    const mux = new KeeperMux({ secret });
    t.after(() => mux.dispose());
    await attach(first.client, location, mux);
    const s = mux.open({ kind: 'tcp-connect', host: '127.0.0.1', port });
    const out = new Collector(s);
    const sent: Buffer[] = [];
    const send = (n: number) => {
      const b = randomBytes(n);
      sent.push(b);
      s.write(b);
    };
    for (let i = 0; i < 16; i++) send(64 * 1024);
    await out.waitUntil('half of the first megabyte echoed', () => out.bytes.length >= 512 * 1024);
    const detached = new Promise<void>((r) => mux.onDidDetach(() => r()));
    first.kill();
    await withTimeout(detached, 5000, 'the mux to detach after the SSH connection died');
    for (let i = 0; i < 16; i++) send(64 * 1024);
    await new Promise((r) => setTimeout(r, 500));
    const second = await connectRaw(sshd!);
    t.after(() => second.client.end());
    await attach(second.client, location, mux);
    s.end();
    await out.waitUntil('the echo of all 2 MiB and the far end closing', () => out.ended !== undefined, 20_000);
    const expected = Buffer.concat(sent);
    assert.equal(out.bytes.length, expected.length);
    assert.equal(createHash('sha256').update(out.bytes).digest('hex'), createHash('sha256').update(expected).digest('hex'));
    assert.equal(out.reset, undefined);
    await pollUntil('the stream to close on both sides', () => s.state === 'closed', 5000);
  });

  test('tcp-listen: the keeper owns the port; a connection made while detached is held and carried after re-attach', async (t) => {
    if (!requireOrSkip(t, sshdAvailability)) return;
    const first = await connectRaw(sshd!);
    const { location, secret } = await startOwn(first.client);
    const mux = new KeeperMux({ secret });
    t.after(() => mux.dispose());
    await attach(first.client, location, mux);
    // Each accepted connection is answered with "echo:" + what it sent, then closed.
    mux.onDidAccept(({ stream }) => {
      const chunks: Buffer[] = [];
      stream.onDidData((d) => chunks.push(d));
      stream.onDidEnd(() => {
        stream.write(`echo:${Buffer.concat(chunks).toString()}`);
        stream.end();
      });
      stream.claim();
    });
    const listener = mux.open({ kind: 'tcp-listen', bind: '127.0.0.1', port: 0 });
    const opened = new Promise<number>((r) => listener.onDidOpen((m) => r(Number(m.port))));
    const port = await withTimeout(opened, 5000, 'the listener to open');
    assert.ok(port > 0);
    const ask = (text: string) =>
      new Promise<string>((resolve, reject) => {
        const c = net.connect(port, '127.0.0.1', () => c.end(text));
        let got = '';
        c.on('data', (d) => (got += d.toString()));
        c.on('close', () => resolve(got));
        c.on('error', reject);
      });
    assert.equal(await withTimeout(ask('live'), 5000, 'an answer through the listener'), 'echo:live');
    const detached = new Promise<void>((r) => mux.onDidDetach(() => r()));
    first.kill();
    await withTimeout(detached, 5000, 'the mux to detach after the SSH connection died');
    const held = ask('held while detached');
    await new Promise((r) => setTimeout(r, 1000));
    const second = await connectRaw(sshd!);
    t.after(() => second.client.end());
    await attach(second.client, location, mux);
    assert.equal(await withTimeout(held, 10_000, 'the held connection to be answered after re-attach'), 'echo:held while detached');
    const wide = mux.open({ kind: 'tcp-listen', bind: '0.0.0.0', port: 0 });
    const refused = new Promise<string>((r) => wide.onDidReset((i) => r(`${i.reason}: ${i.message}`)));
    assert.match(await withTimeout(refused, 5000, 'a non-loopback bind to be refused'), /open-failed: refusing to listen on '0.0.0.0'/);
  });

  test('tcp-connect to a port nobody listens on is reset as refused', async (t) => {
    if (!requireOrSkip(t, sshdAvailability)) return;
    const { client } = await connectRaw(sshd!);
    t.after(() => client.end());
    const { location, secret } = await startOwn(client);
    const mux = new KeeperMux({ secret });
    t.after(() => mux.dispose());
    await attach(client, location, mux);
    const s = mux.open({ kind: 'tcp-connect', host: '127.0.0.1', port: await freePort() });
    const out = new Collector(s);
    await out.waitUntil('a reset', () => out.reset !== undefined, 5000);
    assert.equal(out.reset!.reason, 'refused');
    assert.equal(s.state, 'reset');
  });

  test('a wrong secret is refused; a second attach with the same session takes over', async (t) => {
    if (!requireOrSkip(t, sshdAvailability)) return;
    const { client } = await connectRaw(sshd!);
    t.after(() => client.end());
    const { location, secret } = await startOwn(client);
    const intruder = new KeeperMux({ secret: newKeeperSecret() });
    t.after(() => intruder.dispose());
    await assert.rejects(attach(client, location, intruder), (e: unknown) => e instanceof KeeperError && e.reason === 'secret');
    const a = new KeeperMux({ secret });
    t.after(() => a.dispose());
    await attach(client, location, a);
    const aDetached = new Promise<string>((r) => a.onDidDetach((e) => r(e.error.reason)));
    const b = new KeeperMux({ secret, sessionId: a.sessionId });
    t.after(() => b.dispose());
    await attach(client, location, b);
    assert.equal(await withTimeout(aDetached, 5000, 'the first attach to be dropped'), 'transport-closed');
  });

  test('removing its socket ends the keeper and hangs up its shells (the way to end it that Disconnect during an outage names)', async (t) => {
    if (!requireOrSkip(t, sshdAvailability)) return;
    const { client } = await connectRaw(sshd!);
    t.after(() => client.end());
    const { location, secret } = await startOwn(client);
    const mux = new KeeperMux({ secret });
    t.after(() => mux.dispose());
    await attach(client, location, mux);
    const pty = mux.open({ kind: 'pty', cols: 80, rows: 24 });
    const opened = await withTimeout(new Promise<number>((r) => pty.onDidOpen((m) => r(Number(m.pid)))), 5000, 'the shell to start');
    mux.detach(new KeeperError('transport-closed', 'test: the path is down'));
    rmSync(location.socket);
    await pollUntil('the keeper to exit', () => !pidAlive(location.pid), 5000);
    await pollUntil('its shell to be hung up', () => !pidAlive(opened), 5000);
  });

  test('a user of another uid cannot reach the keeper (directory, then SO_PEERCRED)', async (t) => {
    if (!requireOrSkip(t, sshdAvailability)) return;
    if (process.getuid?.() !== 0) {
      t.skip('needs root to run the attacker as nobody (setpriv)');
      return;
    }
    const { client } = await connectRaw(sshd!);
    t.after(() => client.end());
    // A dir directly under /tmp, so that only the keeper's own dir stands in nobody's way.
    const dir = `/tmp/sshk-keeper-uid-${process.pid}`;
    rmSync(dir, { recursive: true, force: true });
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const { location } = await startOwn(client, { dir });
    const attackAs = () =>
      spawnSync(
        'setpriv',
        [
          '--reuid=nobody',
          '--regid=nogroup',
          '--clear-groups',
          '/usr/bin/python3',
          '-I',
          '-c',
          'import socket,sys\ns=socket.socket(socket.AF_UNIX)\ntry:\n  s.connect(sys.argv[1])\nexcept OSError as e:\n  print("connect:", e.strerror); sys.exit(0)\ns.settimeout(3)\nprint("read:", s.recv(200))',
          location.socket,
        ],
        { encoding: 'utf8', timeout: 10_000 },
      );
    const blocked = attackAs();
    assert.match(blocked.stdout, /connect: Permission denied/, `stdout ${blocked.stdout} stderr ${blocked.stderr}`);
    // Open the door on purpose: the keeper itself must still refuse the other uid.
    chmodSync(dir, 0o711);
    chmodSync(location.socket, 0o666);
    const refused = attackAs();
    assert.match(refused.stdout, /read: b'.*peer-uid/, `stdout ${refused.stdout} stderr ${refused.stderr}`);
  });

  test('a directory others can enter is refused at start', async (t) => {
    if (!requireOrSkip(t, sshdAvailability)) return;
    const { client } = await connectRaw(sshd!);
    t.after(() => client.end());
    const dir = `${sshd!.dir}/open-dir`;
    mkdirSync(dir, { mode: 0o755 });
    chmodSync(dir, 0o755);
    await assert.rejects(
      startKeeper(client, { program, name: 'opendir', secret: newKeeperSecret(), dir }),
      (e: unknown) => e instanceof KeeperError && e.reason === 'start-failed' && /unsafe-dir/.test(e.message),
    );
  });

  test('idle exit with no client attached; none while attached', async (t) => {
    if (!requireOrSkip(t, sshdAvailability)) return;
    const { client } = await connectRaw(sshd!);
    t.after(() => client.end());
    const { location, secret } = await startOwn(client, { idleSeconds: 1.5 });
    const mux = new KeeperMux({ secret });
    t.after(() => mux.dispose());
    await attach(client, location, mux);
    await new Promise((r) => setTimeout(r, 3000));
    assert.ok(pidAlive(location.pid), 'an attached keeper does not idle out');
    mux.dispose();
    await pollUntil('the keeper to exit after 1.5 s idle', () => !pidAlive(location.pid), 6000);
    assert.equal(existsSync(location.socket), false, 'the socket is removed');
  });

  test('shutdown ends the keeper and its shells at once', async (t) => {
    if (!requireOrSkip(t, sshdAvailability)) return;
    const { client } = await connectRaw(sshd!);
    t.after(() => client.end());
    const { location, secret } = await startOwn(client);
    const mux = new KeeperMux({ secret });
    t.after(() => mux.dispose());
    await attach(client, location, mux);
    const s = mux.open({ kind: 'pty', cols: 80, rows: 24, argv: ['/bin/sh', '-c', 'echo started; sleep 600'] });
    const out = new Collector(s);
    await out.waitUntil('the shell to start', () => /started/.test(out.text));
    const shellPid = Number(s.meta.pid);
    assert.ok(shellPid > 0 && pidAlive(shellPid));
    await mux.shutdown();
    await pollUntil('the keeper to exit', () => !pidAlive(location.pid), 3000);
    await pollUntil('its shell to end', () => !pidAlive(shellPid), 3000);
  });

  test('the oldest python the keeper supports (3.6) runs it: start, pty, tcp reset, relay', async (t) => {
    if (!requireOrSkip(t, sshdAvailability)) return;
    const python36 = process.env.SSHK_PYTHON36 ?? '/root/.pyenv/versions/3.6.15/bin/python3.6';
    if (!existsSync(python36)) {
      t.skip(`no python 3.6 at ${python36} (set SSHK_PYTHON36)`);
      return;
    }
    const { client } = await connectRaw(sshd!);
    t.after(() => client.end());
    const secret = newKeeperSecret();
    const location = await startKeeper(client, {
      program,
      name: `py36-${process.pid}`,
      secret,
      dir: `${sshd!.dir}/keeper-py36`,
      python: python36,
      idleSeconds: 60,
    });
    cleanups.push(() => pidAlive(location.pid) && process.kill(location.pid));
    assert.match(location.python, /^3\.6\./);
    const mux = new KeeperMux({ secret });
    t.after(() => mux.dispose());
    const { via } = await attach(client, location, mux, 'relay');
    assert.equal(via, 'relay');
    const s = mux.open({ kind: 'pty', cols: 80, rows: 24, argv: ['/bin/sh', '-c', 'echo py36-$((2+2))'] });
    const out = new Collector(s);
    await out.waitUntil('echo from a 3.6 keeper', () => /py36-4/.test(out.text) && out.ended !== undefined);
    const r = mux.open({ kind: 'tcp-connect', host: '127.0.0.1', port: await freePort() });
    const rout = new Collector(r);
    await rout.waitUntil('a refused reset', () => rout.reset !== undefined, 5000);
    assert.equal(rout.reset!.reason, 'refused');
  });

  test('no python3 on the server is a typed error', async (t) => {
    if (!requireOrSkip(t, sshdAvailability)) return;
    const { client } = await connectRaw(sshd!);
    t.after(() => client.end());
    await assert.rejects(
      startKeeper(client, { program, name: 'nopy', secret: newKeeperSecret(), dir: `${sshd!.dir}/nopy`, python: 'python3-not-installed-here' }),
      (e: unknown) => e instanceof KeeperError && e.reason === 'no-python',
    );
  });
});

function execText(client: Client, command: string): Promise<string> {
  return new Promise((resolve, reject) =>
    client.exec(command, (err, ch) => {
      if (err) return reject(err);
      let out = '';
      ch.on('data', (d: Buffer) => (out += d.toString()));
      ch.on('close', () => resolve(out));
    }),
  );
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([p, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms).unref())]);
}

import { strict as assert } from 'node:assert';
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Client } from 'ssh2';
import { after, before, describe, it, type TestContext } from 'node:test';
import { createNatlab, natlabAvailable, type Natlab } from '../../tools/peers/natlab';
import { sshdAvailability, startSshd, type SshdHandle } from '../../tools/peers/sshd';
import { requireOrSkip, type Availability } from '../harness/skip';

/**
 * The control case: the problem this project exists for, reproduced with plain OpenSSH through
 * a real NAT. An idle ssh without keepalives hangs once the NAT forgot its flow; the same with
 * ServerAliveInterval survives. If this stops reproducing, the natlab no longer models a NAT.
 */

function available(): Availability {
  const nat = natlabAvailable();
  if (!nat.ok) return nat;
  return sshdAvailability();
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** A remote `read` kept open over ssh from the client namespace. */
class RemoteRead {
  out = '';
  err = '';
  exit: number | null | undefined; // undefined while running
  private readonly child: ChildProcess;

  constructor(lab: Natlab, sshd: SshdHandle, sshOptions: string[]) {
    this.child = lab.spawn(
      lab.clientNs,
      'ssh',
      ['-F', sshd.sshConfigPath, '-o', 'BatchMode=yes', ...sshOptions, sshd.alias, 'echo ready; read x; echo got $x'],
      { stdio: ['pipe', 'pipe', 'pipe'] },
    );
    this.child.stdout!.on('data', (b: Buffer) => (this.out += b.toString()));
    this.child.stderr!.on('data', (b: Buffer) => (this.err += b.toString()));
    this.child.stdin!.on('error', () => undefined);
    this.child.on('close', (code) => (this.exit = code));
  }

  /** True once `text` was printed; false after `ms` without it. */
  async waitFor(text: string, ms: number): Promise<boolean> {
    const end = Date.now() + ms;
    while (Date.now() < end && !this.out.includes(text) && this.exit === undefined) await sleep(20);
    return this.out.includes(text);
  }

  send(line: string): void {
    this.child.stdin!.write(`${line}\n`);
  }

  kill(): void {
    if (this.exit === undefined) this.child.kill('SIGKILL');
  }

  describe(): string {
    return `exit=${this.exit} stdout=${JSON.stringify(this.out)} stderr=${JSON.stringify(this.err)}`;
  }
}

/** A natlab with sshd in its server namespace, set up in before() and torn down in after(). */
function labFixture() {
  const f = {
    lab: undefined as Natlab | undefined,
    sshd: undefined as SshdHandle | undefined,
    async openRead(t: TestContext, sshOptions: string[]): Promise<RemoteRead> {
      const r = new RemoteRead(f.lab!, f.sshd!, sshOptions);
      t.after(() => r.kill());
      assert.ok(await r.waitFor('ready', 15_000), `session did not start: ${r.describe()}\n${f.sshd!.logs().slice(-2000)}`);
      return r;
    },
  };
  before(async () => {
    if (!available().ok) return; // each test skips (or fails under CI) with the reason
    f.lab = await createNatlab({ natTimeoutSec: 4 });
    f.sshd = await startSshd({ netns: f.lab.serverNs, listenAddress: f.lab.serverAddr });
  });
  after(async () => {
    await f.sshd?.stop();
    await f.lab?.dispose();
  });
  return f;
}

// The two groups run side by side, each with its own lab, to keep the wall time near one idle period.
describe('natlab', { concurrency: true }, () => {
  describe('control: plain OpenSSH through a NAT that forgets idle flows', { concurrency: true }, () => {
    const f = labFixture();
    const started = Date.now();
    const idleSec = () => f.lab!.natTimeoutSec * 2 + 1;

    it('without keepalive, an idle session hangs after the NAT timeout', async (t) => {
      if (!requireOrSkip(t, available)) return;
      const r = await f.openRead(t, ['-o', 'ServerAliveInterval=0']);
      await sleep(idleSec() * 1000);
      t.diagnostic(`router conntrack after ${idleSec()} s idle (the idle flow is gone):`);
      for (const line of (await f.lab!.conntrack()).trim().split('\n')) t.diagnostic(`  ${line}`);
      r.send('hello');
      assert.equal(await r.waitFor('got hello', 5_000), false, `reply came through a forgotten flow: ${r.describe()}`);
      assert.equal(r.exit, undefined, `ssh should hang silently, not end: ${r.describe()}`);
      // The lab itself is fine: a new flow (SYN) gets a fresh NAT entry.
      const freshArgs = ['-F', f.sshd!.sshConfigPath, '-o', 'BatchMode=yes', f.sshd!.alias, 'echo ok'];
      const fresh = await f.lab!.exec(f.lab!.clientNs, 'ssh', freshArgs, { timeoutMs: 15_000 });
      assert.equal(fresh.stdout.trim(), 'ok', fresh.stderr);
      t.diagnostic(`natlab control took ${((Date.now() - started) / 1000).toFixed(1)} s so far`);
    });

    it('with ServerAliveInterval=1, the same idle session still answers', async (t) => {
      if (!requireOrSkip(t, available)) return;
      const r = await f.openRead(t, ['-o', 'ServerAliveInterval=1', '-o', 'ServerAliveCountMax=3']);
      await sleep(idleSec() * 1000);
      r.send('hello');
      assert.ok(await r.waitFor('got hello', 5_000), `no reply: ${r.describe()}`);
    });
  });

  // Own lab: flushing conntrack or cutting the path would kill the control sessions above.
  // Sequential (a nested suite inherits the parent's concurrency): reboot() would also kill the
  // flows of the other cases in this lab.
  describe('lab faults', { concurrency: false }, () => {
    const f = labFixture();

    it('reboot() (conntrack -F) kills a live flow: ssh with keepalive notices and exits', async (t) => {
      if (!requireOrSkip(t, available)) return;
      const r = await f.openRead(t, ['-o', 'ServerAliveInterval=1', '-o', 'ServerAliveCountMax=2']);
      await f.lab!.reboot();
      const end = Date.now() + 10_000;
      while (r.exit === undefined && Date.now() < end) await sleep(50);
      assert.equal(r.exit, 255, `ssh should give up: ${r.describe()}`);
      assert.match(r.err, /Timeout, server .* not responding/);
    });

    it('unixBridge() lets in-process ssh2 reach the server through the NAT', async (t) => {
      if (!requireOrSkip(t, available)) return;
      const bridge = await f.lab!.unixBridge(f.sshd!.host, f.sshd!.port);
      const client = new Client();
      t.after(async () => {
        client.end();
        await bridge.close();
      });
      const hostKey = f.sshd!.hostKeyPublicLine.split(' ')[1];
      const out = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('ssh2 over the bridge timed out')), 15_000);
        client
          .on('ready', () => {
            client.exec('echo $SSH_CLIENT', (err, stream) => {
              if (err) return reject(err);
              let text = '';
              stream.on('data', (b: Buffer) => (text += b.toString()));
              stream.on('close', () => {
                clearTimeout(timer);
                resolve(text);
              });
            });
          })
          .on('error', (err) => {
            clearTimeout(timer);
            reject(err);
          })
          .connect({
            sock: bridge.connect(),
            username: f.sshd!.user,
            privateKey: readFileSync(f.sshd!.clientKeyPath),
            hostVerifier: (key: Buffer) => key.toString('base64') === hostKey,
            readyTimeout: 10_000,
          });
      });
      // The server sees the router's address: the flow went through the masquerading NAT.
      assert.equal(out.trim().split(' ')[0], f.lab!.routerServerAddr);
    });

    it('outage() blocks new connections until heal()', async (t) => {
      if (!requireOrSkip(t, available)) return;
      const args = ['-F', f.sshd!.sshConfigPath, '-o', 'BatchMode=yes', '-o', 'ConnectTimeout=2', f.sshd!.alias, 'echo ok'];
      await f.lab!.outage();
      await f.lab!.outage(); // idempotent
      try {
        const down = await f.lab!.exec(f.lab!.clientNs, 'ssh', args, { timeoutMs: 15_000 });
        assert.notEqual(down.code, 0);
        assert.match(down.stderr, /timed out/i);
      } finally {
        await f.lab!.heal();
      }
      await f.lab!.heal(); // idempotent
      const up = await f.lab!.exec(f.lab!.clientNs, 'ssh', args, { timeoutMs: 15_000 });
      assert.equal(up.stdout.trim(), 'ok', up.stderr);
    });
  });
});

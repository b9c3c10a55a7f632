import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, it, type TestContext } from 'node:test';
import type { ShellState } from '../../src/core/shell/shellState';
import { createNatlab, natlabAvailable, type Natlab } from '../../tools/peers/natlab';
import { sshdAvailability, startSshd, type SshdHandle } from '../../tools/peers/sshd';
import { requireOrSkip, type Availability } from '../harness/skip';
import type { DriverCommand, DriverConfig } from './shellDriver';

/**
 * A terminal through a real NAT that reboots (forgets every flow): the path dies silently,
 * a key typed afterwards finds it dead within about a second, the session reconnects, and
 * the shell comes back. With tmux it is the same shell (variables, the foreground job);
 * without, a fresh one that says so.
 */

const driverPath = join(__dirname, 'shellDriver.js');

function available(): Availability {
  const nat = natlabAvailable();
  if (!nat.ok) return nat;
  const sshd = sshdAvailability();
  if (!sshd.ok) return sshd;
  const tmux = (process.env.PATH ?? '').split(delimiter).some((d) => d && existsSync(join(d, 'tmux')));
  return tmux ? { ok: true } : { ok: false, reason: 'tmux not installed (Debian package tmux)' };
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

interface DriverEvent {
  event: string;
  at: number;
  [key: string]: unknown;
}

/** The driver process in the client namespace, its events, and its screen as plain text. */
class ShellDriver {
  readonly events: DriverEvent[] = [];
  readonly stderr: string[] = [];
  private text = '';
  private waiters: Array<() => void> = [];
  private readonly child: ChildProcess;

  constructor(lab: Natlab, config: DriverConfig) {
    this.child = lab.spawn(lab.clientNs, process.execPath, [driverPath, JSON.stringify(config)], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stdin!.on('error', () => undefined);
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      let e: DriverEvent;
      try {
        e = { ...(JSON.parse(line) as DriverEvent), at: Date.now() };
      } catch {
        this.stderr.push(`stdout: ${line}`);
        return;
      }
      this.events.push(e);
      if (e.event === 'data') this.text += e.data as string;
      for (const w of this.waiters.splice(0)) w();
    });
    createInterface({ input: this.child.stderr! }).on('line', (line) => this.stderr.push(line));
  }

  get plain(): string {
    // eslint-disable-next-line no-control-regex
    return this.text.replace(/\x1b\[[0-9;?>=]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(\x07|\x1b\\)|\x1b[()][0-9A-Za-z]|\x1b[=>78DEHMc]|\r/g, '');
  }

  mark(): number {
    return this.plain.length;
  }

  send(cmd: DriverCommand): void {
    this.child.stdin!.write(`${JSON.stringify(cmd)}\n`);
  }

  private until<T>(what: string, check: () => T | undefined, timeoutMs: number): Promise<T> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== loop);
        reject(
          new Error(
            `timed out after ${timeoutMs} ms waiting for ${what}\n  states: ${JSON.stringify(this.states())}\n  screen tail: ${JSON.stringify(this.plain.slice(-400))}\n  log tail:\n    ${this.stderr.slice(-15).join('\n    ')}`,
          ),
        );
      }, timeoutMs);
      const loop = () => {
        const hit = check();
        if (hit !== undefined) {
          clearTimeout(timer);
          resolve(hit);
        } else {
          this.waiters.push(loop);
        }
      };
      loop();
    });
  }

  waitForText(re: RegExp, from: number, timeoutMs = 10_000): Promise<RegExpExecArray> {
    return this.until(String(re), () => re.exec(this.plain.slice(from)) ?? undefined, timeoutMs);
  }

  waitForState(pred: (s: ShellState) => boolean, since: number, timeoutMs = 20_000): Promise<ShellState & { at: number }> {
    return this.until(
      'a shell state',
      () => {
        const e = this.events.find((ev) => ev.at >= since && ev.event === 'state' && pred(ev.state as ShellState));
        return e ? { ...(e.state as ShellState), at: e.at } : undefined;
      },
      timeoutMs,
    );
  }

  waitForEvent(name: string, since = 0, timeoutMs = 20_000): Promise<DriverEvent> {
    return this.until(name, () => this.events.find((e) => e.at >= since && e.event === name), timeoutMs);
  }

  /** Types a command line and waits for its output. */
  async run(command: string, expect: RegExp, timeoutMs = 10_000): Promise<RegExpExecArray> {
    const from = this.mark();
    this.send({ op: 'write', data: `${command}\r` });
    return this.waitForText(expect, from, timeoutMs);
  }

  private execCount = 0;
  /** Runs a command on the driver's current connection (not in the shell). */
  async exec(command: string): Promise<{ code: number | null; stdout: string }> {
    const tag = `e${++this.execCount}`;
    const since = Date.now();
    this.send({ op: 'exec', tag, command });
    const e = await this.until(`exec ${tag}`, () => this.events.find((ev) => ev.at >= since && ev.event === 'exec' && ev.tag === tag), 15_000);
    return { code: e.code as number | null, stdout: e.stdout as string };
  }

  states(): string[] {
    return this.events
      .filter((e) => e.event === 'state')
      .map((e) => {
        const s = e.state as ShellState;
        return s.kind === 'open' ? `open(${s.generation},${s.reattached ? 'reattached' : 'fresh'})` : s.kind;
      });
  }

  async close(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise<void>((r) => this.child.once('exit', () => r()));
    this.child.stdin!.end();
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }
}

describe('natlab: a terminal through a NAT reboot', { concurrency: false }, () => {
  let lab: Natlab | undefined;
  let sshd: SshdHandle | undefined;
  before(async () => {
    if (!available().ok) return;
    // A NAT timeout far above the test's idle gaps: here the flow dies by reboot, not by idling.
    lab = await createNatlab({ natTimeoutSec: 120 });
    sshd = await startSshd({ netns: lab.serverNs, listenAddress: lab.serverAddr, port: 22 });
  });
  after(async () => {
    await sshd?.stop();
    await lab?.dispose();
  });

  async function startDriver(t: TestContext, id: string, reattach: boolean, keeper = false): Promise<ShellDriver> {
    const d = new ShellDriver(lab!, { configFile: sshd!.sshConfigPath, alias: sshd!.alias, id, reattach, keeper });
    t.after(() => d.close());
    await d.waitForEvent('started');
    await d.run('echo READY-$((6*7))', /READY-42/);
    return d;
  }

  /** Reboots the router, lets the path go quiet, then types a key: the demand probe finds it dead. */
  async function rebootAndType(t: TestContext, d: ShellDriver): Promise<{ detectMs: number; restoreMs: number; open: ShellState }> {
    // Let the check of the last command's answer finish first (a probe it sent would find the
    // reboot before the key does, which is right, but not what this test measures).
    await sleep(600);
    await lab!.reboot();
    // Quiet for longer than the keepalive's quietMs (1 s), so a key triggers a probe.
    await sleep(1500);
    const typedAt = Date.now();
    // The flow is gone and the key with it; tmux gets it replayed on reattach (harmless: a space).
    d.send({ op: 'write', data: ' ' });
    const suspended = await d.waitForState((s) => s.kind === 'suspended', typedAt, 10_000);
    const open = await d.waitForState((s) => s.kind === 'open' && s.generation === 2, typedAt, 20_000);
    const detectMs = suspended.at - typedAt;
    const restoreMs = open.at - typedAt;
    t.diagnostic(`dead path found ${detectMs} ms after the key; shell open again after ${restoreMs} ms (${(suspended as { reason?: string }).reason})`);
    return { detectMs, restoreMs, open };
  }

  it('with tmux: the same shell comes back (variable, running foreground job)', async (t) => {
    if (!requireOrSkip(t, available)) return;
    const d = await startDriver(t, 'natlab-tmux', true);
    const started = d.events.find((e) => e.event === 'started')!;
    const name = started.remoteSession as string;
    assert.match(name, /^ska-/);
    await d.run('export X=42; echo "set-$X"', /set-42/);
    d.send({ op: 'write', data: 'sleep 1000; echo done\r' });
    const paneCommand = async () => (await d.exec(`tmux -L ${name} list-panes -a -F '#{pane_current_command}'`)).stdout.trim();
    for (let i = 0; i < 50 && (await paneCommand()) !== 'sleep'; i++) await sleep(100);
    assert.equal(await paneCommand(), 'sleep');

    const { detectMs, open } = await rebootAndType(t, d);
    assert.ok(detectMs < 5000, `a key should find the dead path in about a second (took ${detectMs} ms)`);
    assert.deepEqual({ ...open, at: undefined }, { kind: 'open', generation: 2, reattached: true, multiplexer: 'tmux', at: undefined });

    assert.equal(await paneCommand(), 'sleep', 'the foreground job survived the outage');
    const beforeInterrupt = d.mark();
    d.send({ op: 'write', data: '\x03' });
    // The tty flushes input typed before the shell is back at its prompt.
    await d.waitForText(/\^C\n.+/, beforeInterrupt, 5000);
    await d.run('echo "X=[$X]"', /X=\[42\]/);
    assert.deepEqual(d.states(), ['open(1,fresh)', 'suspended', 'opening', 'open(2,reattached)']);
  });

  it('without tmux (reattach off): a fresh shell, reattached=false, the variable is gone', async (t) => {
    if (!requireOrSkip(t, available)) return;
    const d = await startDriver(t, 'natlab-plain', false);
    assert.equal(d.events.find((e) => e.event === 'started')!.remoteSession, undefined);
    await d.run('export X=42; echo "set-$X"', /set-42/);
    const { detectMs, open } = await rebootAndType(t, d);
    assert.ok(detectMs < 5000, `a key should find the dead path in about a second (took ${detectMs} ms)`);
    assert.deepEqual({ ...open, at: undefined }, { kind: 'open', generation: 2, reattached: false, at: undefined });
    await d.run('echo READY2-$((6*7))', /READY2-42/);
    await d.run('echo "X=[$X]"', /X=\[\]/);
    assert.deepEqual(d.states(), ['open(1,fresh)', 'suspended', 'opening', 'open(2,fresh)']);
  });

  const count = (haystack: string, needle: string) => haystack.split(needle).length - 1;

  /** Types like a person: the whole line at once (0), or one key every `perKeyMs`. */
  async function type(d: ShellDriver, text: string, perKeyMs: number): Promise<number> {
    if (perKeyMs === 0) d.send({ op: 'write', data: text });
    else {
      for (const ch of text) {
        d.send({ op: 'write', data: ch });
        await sleep(perKeyMs);
      }
    }
    return Date.now();
  }

  // The tmux fallback (no keeper) keeps keys too: unconfirmed ones are replayed on reattach.
  for (const { label, perKeyMs, afterMs, keeper } of [
    { label: 'at once, right after', perKeyMs: 0, afterMs: 0, keeper: true },
    { label: 'at 120 ms per key, right after', perKeyMs: 120, afterMs: 0, keeper: true },
    { label: 'at once, 0.3 s after', perKeyMs: 0, afterMs: 300, keeper: true },
    { label: 'at once, 1 s after', perKeyMs: 0, afterMs: 1000, keeper: true },
    { label: 'at once, 3 s after', perKeyMs: 0, afterMs: 3000, keeper: true },
    { label: 'at once, 10 s after', perKeyMs: 0, afterMs: 10_000, keeper: true },
    { label: 'at once, right after', perKeyMs: 0, afterMs: 0, keeper: false },
    { label: 'at 120 ms per key, right after', perKeyMs: 120, afterMs: 0, keeper: false },
  ]) {
    const runner = keeper ? 'keeper' : 'tmux';
    it(`with ${keeper ? 'the session keeper' : 'tmux (no keeper)'}: a line typed after a router reboot (${label}) runs once, in the same shell, within 3 s`, async (t) => {
      if (!requireOrSkip(t, available)) return;
      const d = await startDriver(t, `natlab-${runner}-${perKeyMs}-${afterMs}`, true, keeper);
      const first = d.events.find((e) => e.event === 'state' && (e.state as ShellState).kind === 'open')!.state as ShellState;
      assert.ok(first.kind === 'open' && first.multiplexer === runner, `${runner} runs the shell: ${JSON.stringify(first)}`);
      await d.run('export KX=41; echo "pid-$$"', /pid-(\d+)/);
      const pid = /pid-(\d+)/.exec(d.plain)![1];
      const from = d.mark();
      const rebootAt = Date.now();
      await lab!.reboot();
      if (afterMs) await sleep(afterMs);
      const lastKey = await type(d, 'echo "got-$((KX+1))-in-$$"\r', perKeyMs);
      await d.waitForText(/got-42-in-\d+/, from, 15_000);
      const ms = Date.now() - lastKey;
      t.diagnostic(`${label}: output ${ms} ms after the last key (${Date.now() - rebootAt} ms after the reboot); states ${d.states().join(' ')}`);
      await sleep(700);
      const out = d.plain.slice(from);
      assert.equal(count(out, 'got-42-in-'), 1, `ran exactly once: ${JSON.stringify(out)}`);
      assert.match(out, new RegExp(`got-42-in-${pid}`), 'in the same shell (same pid, the variable still set)');
      assert.doesNotMatch(out, /not found/, 'no fragment of the line ran on its own');
      assert.ok(ms < 3000, `output ${ms} ms after the last key (want < 3 s)`);
    });
  }

  it('with the session keeper: a command typed during a 30 s outage runs once after the heal; Ctrl-C drops held keys', async (t) => {
    if (!requireOrSkip(t, available)) return;
    const d = await startDriver(t, 'natlab-keeper-outage', true, true);
    await d.run('export KY=20; echo "set-$KY"', /set-20/);
    const cutAt = Date.now();
    await lab!.outage();
    try {
      // A key finds the dead path; the user goes on typing through the outage.
      d.send({ op: 'write', data: ' ' });
      await d.waitForState((s) => s.kind === 'suspended', cutAt, 10_000);
      const from = d.mark();
      await type(d, 'echo "nope-$((KY+1))"\r', 0);
      await type(d, '\x03', 0);
      const discard = await d.waitForEvent('discard', cutAt, 5000);
      assert.equal(discard.why, 'interrupt');
      await type(d, 'echo "held-$((KY*2))"\r', 50);
      await sleep(Math.max(0, 30_000 - (Date.now() - cutAt)));
      assert.doesNotMatch(d.plain.slice(from), /held-40|nope-21/, 'nothing ran during the outage');
      await lab!.heal();
      const healedAt = Date.now();
      await d.waitForText(/held-40/, from, 30_000);
      t.diagnostic(`held line ran ${Date.now() - healedAt} ms after the heal`);
      await sleep(700);
      const out = d.plain.slice(from);
      assert.equal(count(out, 'held-40'), 1, `ran exactly once: ${JSON.stringify(out)}`);
      assert.doesNotMatch(out, /nope-21/, 'the line dropped with Ctrl-C never ran');
    } finally {
      await lab!.heal();
    }
  });

  it('with the session keeper: a numbered line every 50 ms through a 70 s outage, every number once and in order', async (t) => {
    if (!requireOrSkip(t, available)) return;
    const d = await startDriver(t, 'natlab-keeper-numbers', true, true);
    const from = d.mark();
    // 1700 lines at 50 ms: about 85 s, the outage in the middle of it.
    d.send({ op: 'write', data: 'i=0; while [ $i -lt 1700 ]; do echo "n=$i"; i=$((i+1)); sleep 0.05; done; echo "DONE-$((40+2))"\r' });
    await d.waitForText(/n=40\b/, from, 10_000);
    await lab!.outage();
    try {
      await sleep(70_000);
    } finally {
      await lab!.heal();
    }
    // Nobody types: the session reconnects by itself and the output catches up.
    await d.waitForText(/DONE-42/, from, 90_000);
    // What the keeper held during the outage arrives as one burst right after the re-attach.
    const back = d.events.find((e) => e.event === 'state' && (e.state as ShellState).kind === 'open' && (e.state as { generation: number }).generation === 2);
    if (back) {
      const burst = d.events.filter((e) => e.event === 'data' && e.at >= back.at - 100 && e.at <= back.at + 500);
      const bytes = burst.reduce((n, e) => n + Buffer.byteLength(e.data as string), 0);
      t.diagnostic(`replayed after the re-attach: about ${bytes} bytes (${burst.length} chunks within 0.5 s)`);
    }
    const numbers = [...d.plain.slice(from).matchAll(/^n=(\d+)$/gm)].map((m) => Number(m[1]));
    const expected = Array.from({ length: 1700 }, (_, i) => i);
    assert.equal(numbers.length, 1700, `every line once (got ${numbers.length})`);
    assert.deepEqual(numbers, expected, 'every number once, in order');
  });
});

import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { createCipheriv, createHash } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { after, before, describe, test, type TestContext } from 'node:test';
import { natlabAvailable, type Natlab } from '../../tools/peers/natlab';
import { setupLab, type Lab } from '../../tools/peers/natlabSshd';
import { cliPath } from '../../tools/peers/repo';
import { sshdAvailability } from '../../tools/peers/sshd';
import { keeperScriptPath } from '../harness/keeperPeer';
import { requireOrSkip } from '../harness/skip';
import { Driver } from './forwardDriverClient';
import { sleep } from './lab';

/**
 * Forwards on the session keeper through a real NAT: connections open when the router
 * reboots or the path goes dark for 30 s and 70 s are carried through, byte-exact, without
 * the client seeing an error or making a second request; the -R port is the keeper's, so it
 * is never stale; OpenSSH's own ssh keeps its session with `ssh-keepalive -W` as its
 * ProxyCommand. Without the keeper a cut is a reset, never a clean end.
 */

const natTimeoutSec = 300;
const dataPort = 8100;
const echoPort = 8101;
const clientHttpPort = 8002;
/** Bytes per second the data server sends: a 100 MB download takes about 10 s. */
const rate = 10 * 1024 * 1024;
const MB100 = 100 * 1024 * 1024;

/** The data server's bytes: a fixed AES-CTR keystream, so the test knows the sha256 without receiving them. */
function sha256Of(size: number): string {
  const c = createCipheriv('aes-128-ctr', Buffer.alloc(16), Buffer.alloc(16));
  const h = createHash('sha256');
  for (let at = 0; at < size; at += 1 << 20) h.update(c.update(Buffer.alloc(Math.min(1 << 20, size - at))));
  return h.digest('hex');
}

/** In the server namespace: GET /data/<size>/<id> sends <size> bytes paced at `rate` (logs each request); a line echo on echoPort. */
const serverSource = `
const http = require('http'), net = require('net'), crypto = require('crypto');
http.createServer((req, res) => {
  console.log('request ' + req.url);
  const size = Number(req.url.split('/')[2]);
  const c = crypto.createCipheriv('aes-128-ctr', Buffer.alloc(16), Buffer.alloc(16));
  res.writeHead(200, { 'content-length': size });
  let at = 0;
  const per = Math.round(${rate} / 50);
  const timer = setInterval(() => {
    if (res.writableLength > 4 * per) return;
    const n = Math.min(per, size - at);
    res.write(c.update(Buffer.alloc(n)));
    at += n;
    if (at >= size) { clearInterval(timer); res.end(); }
  }, 20);
  res.on('close', () => clearInterval(timer));
}).listen(${dataPort}, '127.0.0.1', () => {
  net.createServer((s) => { s.on('error', () => {}); s.pipe(s); }).listen(${echoPort}, '127.0.0.1', () => console.log('ready'));
});`;

/** In the client namespace: sends "n=<i>" every 100 ms for `sendMs` through port, then reports what came back. */
const echoClientSource = (port: number, sendMs: number) => `
const s = require('net').connect(${port}, '127.0.0.1');
let got = '', i = 0, err = null;
s.on('data', (d) => (got += d)); s.on('error', (e) => (err = e.code || e.message));
s.on('connect', () => {
  const started = Date.now();
  const timer = setInterval(() => {
    if (Date.now() - started > ${sendMs}) { clearInterval(timer); setTimeout(() => { console.log(JSON.stringify({ sent: i, got, err })); process.exit(0); }, 5000); return; }
    s.write('n=' + i++ + '\\n');
  }, 100);
});`;

const available = () => {
  const nat = natlabAvailable();
  return nat.ok ? sshdAvailability() : nat;
};

interface Fetched {
  code: number;
  sha: string;
  stderr: string;
}

/** curl in the client namespace (directly, or through a SOCKS5 proxy), output hashed as it arrives. */
async function download(natlab: Natlab, url: string, socksPort?: number): Promise<Fetched> {
  const socks = socksPort ? `--socks5-hostname 127.0.0.1:${socksPort}` : '';
  const r = await natlab.exec(natlab.clientNs, 'bash', ['-c', `set -o pipefail; curl -sS --max-time 200 ${socks} '${url}' | sha256sum`], {
    timeoutMs: 210_000,
  });
  return { code: r.code ?? -1, sha: r.stdout.split(' ')[0], stderr: r.stderr.trim() };
}

function firstLine(child: ChildProcess, re: RegExp, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${re}; got ${JSON.stringify(buf.slice(-500))}`)), timeoutMs);
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      const m = re.exec(buf);
      if (m) {
        clearTimeout(timer);
        resolve(m[0]);
      }
    });
  });
}

/** OpenSSH's ssh in a terminal (`script` gives it a pty, as a person's), with `ssh-keepalive -W` as its ProxyCommand. */
class ProxiedTerminal {
  screen = '';
  readonly child: ChildProcess;
  constructor(
    natlab: Natlab,
    readonly ssh: string,
    alias: string,
  ) {
    this.child = natlab.spawn(natlab.clientNs, 'script', ['-qfec', `${ssh} -tt ${alias}`, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stdout!.on('data', (d: Buffer) => (this.screen += d.toString()));
  }
  type(line: string): void {
    this.child.stdin!.write(`${line}\r`);
  }
  async waitFor(re: RegExp, ms: number, from = 0): Promise<RegExpExecArray> {
    const until = Date.now() + ms;
    while (!re.test(this.screen.slice(from))) {
      if (Date.now() > until) throw new Error(`timed out waiting for ${re}; screen: ${JSON.stringify(this.screen.slice(-800))}`);
      await sleep(50);
    }
    return re.exec(this.screen.slice(from))!;
  }
  count(needle: string, from: number): number {
    return this.screen.slice(from).split(needle).length - 1;
  }
}

describe('forwards kept by the session keeper through a real NAT (natlab)', { concurrency: false, timeout: 900_000 }, () => {
  let lab: Lab | undefined;
  let driver: Driver | undefined;
  let term: ProxiedTerminal | undefined;
  /** The shell's pid behind `term`: the same shell after every fault. */
  let termPid = '';
  const requests: string[] = [];
  const expected = sha256Of(MB100);
  before(async () => {
    if (!available().ok) return;
    lab = await setupLab(natTimeoutSec);
    const server = lab.natlab.spawn(lab.natlab.serverNs, process.execPath, ['-e', serverSource], { stdio: ['ignore', 'pipe', 'inherit'] });
    server.stdout!.on('data', (d: Buffer) =>
      requests.push(
        ...d
          .toString()
          .split('\n')
          .filter((l) => l.startsWith('request ')),
      ),
    );
    await firstLine(server, /ready/, 5000);
    const http = lab.natlab.spawn(
      lab.natlab.clientNs,
      process.execPath,
      [
        '-e',
        `require('http').createServer((q, s) => s.end('hello from the client side\\n')).listen(${clientHttpPort}, '127.0.0.1', () => console.log('ready'))`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    await firstLine(http, /ready/, 5000);
    driver = new Driver(
      lab,
      [
        '--keeper',
        keeperScriptPath(),
        '--local',
        `127.0.0.1:9100:127.0.0.1:${dataPort}`,
        '--local',
        `127.0.0.1:9101:127.0.0.1:${echoPort}`,
        '--local',
        '127.0.0.1:9102:127.0.0.1:8109',
        '--dynamic',
        '127.0.0.1:11081',
        '--remote',
        `19100:127.0.0.1:${clientHttpPort}`,
      ],
      '2000:3',
    );
    await driver.waitFor((e) => e.event === 'ready', 30_000);
    const { sshd } = lab;
    const proxy = `${process.execPath} ${cliPath} -F ${sshd.sshConfigPath} -o BatchMode=yes -W %h:%p ${sshd.alias}`;
    term = new ProxiedTerminal(lab.natlab, `ssh -F ${sshd.sshConfigPath} -o BatchMode=yes -o "ProxyCommand=${proxy}"`, sshd.alias);
    term.type('export K=41; echo "pid-$$"');
    termPid = (await term.waitFor(/pid-(\d+)/, 20_000))[1];
  });
  after(async () => {
    term?.child.kill('SIGKILL');
    await driver?.stop();
    await lab?.dispose();
  });
  const ready = (t: TestContext) => requireOrSkip(t, available) && !!lab && !!driver;
  const requested = (id: string) => requests.filter((r) => r.endsWith(`/${id}`)).length;
  const carried = (id: string) => Math.max(0, ...driver!.events.filter((e) => e.event === 'counters' && e.id === id).map((e) => Number(e.carried)));

  test('the forwards are kept: -L, -D and -R ride the keeper', (t) => {
    if (!ready(t)) return;
    const ready_ = driver!.events.find((e) => e.event === 'ready')!;
    const forwards = ready_.forwards as Array<{ id: string; state: string }>;
    assert.deepEqual(
      forwards.map((f) => f.state),
      ['active', 'active', 'active', 'active', 'active'],
      JSON.stringify(forwards),
    );
  });

  for (const fault of ['router reboot', '30 s outage'] as const) {
    test(`100 MB downloads through -L and -D (SOCKS5) across a ${fault}: right sha256, no client error, one request each; OpenSSH through -W keeps its shell`, async (t) => {
      if (!ready(t)) return;
      const natlab = lab!.natlab;
      const id = fault === 'router reboot' ? 'reboot' : 'outage';
      const from = term!.screen.length;
      const line = fault === 'router reboot' ? 'echo "got-$((K+1))-in-$$"' : 'echo "held-$((K*2))-in-$$"';
      const answer = fault === 'router reboot' ? 'got-42-in-' : 'held-82-in-';
      const viaL = download(natlab, `http://127.0.0.1:9100/data/${MB100}/L-${id}`);
      const viaD = download(natlab, `http://localhost:${dataPort}/data/${MB100}/D-${id}`, 11081);
      await sleep(3000);
      let remote: Promise<{ code: number | null; stdout: string; at: number }> | undefined;
      let healedAt = 0;
      if (fault === 'router reboot') {
        await natlab.reboot();
        // Typed right after the reboot, as a person would: runs once, in the same shell.
        term!.type(line);
      } else {
        await natlab.outage();
        await sleep(2000);
        // Typed during the outage: held, then run once in the same shell.
        term!.type(line);
        await sleep(3000);
        // A user on the server asks the -R port while the path is dark: the keeper accepts and holds it.
        remote = natlab
          .exec(natlab.serverNs, 'curl', ['-sS', '--max-time', '60', 'http://127.0.0.1:19100/'], { timeoutMs: 65_000 })
          .then((r) => ({ ...r, at: Date.now() }));
        await sleep(25_000);
        await natlab.heal();
        healedAt = Date.now();
      }
      const [l, d] = await Promise.all([viaL, viaD]);
      t.diagnostic(`-L: curl ${l.code} ${l.stderr}; -D: curl ${d.code} ${d.stderr}`);
      assert.deepEqual(l, { code: 0, sha: expected, stderr: '' }, '-L: the whole file, no error');
      assert.deepEqual(d, { code: 0, sha: expected, stderr: '' }, '-D: the whole file, no error');
      assert.equal(requested(`L-${id}`), 1, 'one request through -L');
      assert.equal(requested(`D-${id}`), 1, 'one request through -D');
      assert.ok(carried(`L 127.0.0.1:9100:127.0.0.1:${dataPort}`) >= 1, 'the -L connection counts as carried');
      await term!.waitFor(new RegExp(`${answer}\\d+`), 30_000, from);
      await sleep(500);
      assert.equal(term!.count(answer, from), 1, `${fault}: the line ran once`);
      assert.match(term!.screen.slice(from), new RegExp(`${answer}${termPid}`), `${fault}: in the same shell`);
      if (remote) {
        const r = await remote;
        t.diagnostic(`-R request made during the outage answered ${r.at - healedAt} ms after the heal`);
        assert.equal(r.code, 0);
        assert.equal(r.stdout, 'hello from the client side\n');
      }
    });
  }

  test('-R after a router reboot: a request on the server port is answered within 1 s of the session being back', async (t) => {
    if (!ready(t)) return;
    const natlab = lab!.natlab;
    const rebootAt = Date.now();
    await natlab.reboot();
    // Asked at once on the server: the keeper holds it; it is answered as soon as the path is back.
    const r = await natlab.exec(natlab.serverNs, 'curl', ['-sS', '--max-time', '30', 'http://127.0.0.1:19100/'], { timeoutMs: 35_000 });
    const answeredAt = Date.now();
    const restored = await driver!.waitFor((e) => e.event === 'session' && e.state === 'connected', 30_000, rebootAt);
    t.diagnostic(`reboot: session back after ${restored.t - rebootAt} ms, the -R request answered ${answeredAt - restored.t} ms after that`);
    assert.equal(r.stdout, 'hello from the client side\n');
    assert.ok(answeredAt - restored.t < 1000, `answered ${answeredAt - restored.t} ms after the session was back`);
  });

  test('a line every 100 ms through -L across a 70 s outage: every line once, in order', async (t) => {
    if (!ready(t)) return;
    const natlab = lab!.natlab;
    const client = natlab.spawn(natlab.clientNs, process.execPath, ['-e', echoClientSource(9101, 76_000)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    client.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    const done = new Promise<void>((resolve) => client.once('exit', () => resolve()));
    await sleep(2000);
    await natlab.outage();
    await sleep(70_000);
    await natlab.heal();
    await done;
    const result = JSON.parse(out.trim()) as { sent: number; got: string; err: string | null };
    const lines = result.got.split('\n').filter(Boolean);
    t.diagnostic(`sent ${result.sent} lines, ${lines.length} came back; error: ${result.err}`);
    assert.equal(result.err, null);
    assert.deepEqual(
      lines,
      Array.from({ length: result.sent }, (_, i) => `n=${i}`),
    );
  });

  test('a target that refuses: the local client gets a reset', async (t) => {
    if (!ready(t)) return;
    const r = await lab!.natlab.exec(lab!.natlab.clientNs, 'curl', ['-sS', '--max-time', '10', 'http://127.0.0.1:9102/'], { timeoutMs: 15_000 });
    assert.equal(r.code, 56, `curl: ${r.stderr}`);
    assert.match(r.stderr, /reset by peer/);
  });

  test('without the keeper: a download cut by a router reboot ends with a reset at the client, never a clean end', async (t) => {
    if (!ready(t)) return;
    const plain = new Driver(lab!, ['--local', `127.0.0.1:9200:127.0.0.1:${dataPort}`], '2000:3');
    t.after(() => plain.stop());
    await plain.waitFor((e) => e.event === 'ready', 30_000);
    const natlab = lab!.natlab;
    const r = natlab.exec(natlab.clientNs, 'curl', ['-sS', '--max-time', '60', '-o', '/dev/null', `http://127.0.0.1:9200/data/${MB100}/plain`], {
      timeoutMs: 65_000,
    });
    await sleep(2000);
    await natlab.reboot();
    const res = await r;
    t.diagnostic(`curl ${res.code}: ${res.stderr.trim()}`);
    assert.equal(res.code, 56, 'curl: failure receiving data (a reset), not 18 (transfer closed early: a FIN)');
    assert.match(res.stderr, /reset by peer/);
  });

  test('a 50 MB cat through a second OpenSSH connection with `ssh-keepalive -W` as ProxyCommand arrives intact', async (t) => {
    if (!ready(t)) return;
    const natlab = lab!.natlab;
    const { sshd } = lab!;
    const ssh = term!.ssh;
    // 50 MB through a second OpenSSH connection on the same ProxyCommand.
    const file = `/tmp/ska-natlab-50m-${process.pid}`;
    const data = createCipheriv('aes-128-ctr', Buffer.alloc(16), Buffer.alloc(16)).update(Buffer.alloc(50 * 1024 * 1024));
    writeFileSync(file, data);
    t.after(() => rmSync(file, { force: true }));
    const cat = await natlab.exec(natlab.clientNs, 'bash', ['-c', `set -o pipefail; ${ssh} -T ${sshd.alias} cat ${file} | sha256sum`], { timeoutMs: 120_000 });
    assert.equal(cat.code, 0, cat.stderr);
    assert.equal(cat.stdout.split(' ')[0], createHash('sha256').update(data).digest('hex'));
  });
});

import { execFileSync, spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { pidAlive } from './pidAlive';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Availability } from './availability';

/**
 * A real NAT in three network namespaces (root only):
 *
 *   client (10.231.1.2) --veth-- (10.231.1.1) router (10.231.2.1) --veth-- (10.231.2.2) server
 *
 * The client's default route is the router; the server has no route back to the client's
 * subnet, so it is reachable only through the router, which masquerades. The router forgets an
 * idle TCP flow after natTimeoutSec and then drops its mid-stream packets silently (no RST,
 * either way), as home routers and cloud NAT gateways do. Addresses exist only inside these
 * namespaces, so labs in parallel processes do not collide.
 */

export interface NatlabOptions {
  /** nf_conntrack_tcp_timeout_established in the router; default 4. */
  natTimeoutSec?: number;
  /** Namespace name prefix; default unique per process and lab. Stale namespaces with it are removed first. */
  prefix?: string;
}

export interface ExecOptions {
  /** Kill the command (SIGKILL) after this long; default 30 s. */
  timeoutMs?: number;
  /** Written to stdin, then stdin is closed. */
  input?: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

export interface ExecResult {
  stdout: string;
  stderr: string;
  /** Exit code; -1 when killed by a signal (e.g. the timeout). */
  code: number;
  signal: NodeJS.Signals | null;
}

export interface Natlab {
  readonly clientNs: string;
  readonly routerNs: string;
  readonly serverNs: string;
  readonly clientAddr: string;
  readonly serverAddr: string;
  /** The router's address on the client side (the client's gateway). */
  readonly routerClientAddr: string;
  /** The router's address on the server side (what the server sees as the peer). */
  readonly routerServerAddr: string;
  readonly natTimeoutSec: number;
  /** Run a command inside a namespace and wait for it; never rejects on a non-zero exit. */
  exec(ns: string, cmd: string, args?: string[], opts?: ExecOptions): Promise<ExecResult>;
  /** Start a command inside a namespace (`ip netns exec`); killed on dispose(). */
  spawn(ns: string, cmd: string, args?: string[], opts?: SpawnOptions): ChildProcess;
  /** The path goes dark both ways: a DROP rule at the top of the router's FORWARD chain. Idempotent. */
  outage(): Promise<void>;
  /** Removes the outage rule. Idempotent. */
  heal(): Promise<void>;
  /** The router forgets every flow (`conntrack -F`), as a NAT reboot does. */
  reboot(): Promise<void>;
  /** Current conntrack table of the router (`conntrack -L`), for diagnostics. */
  conntrack(): Promise<string>;
  /**
   * Reach host:port from the client namespace while the test itself runs in the host's
   * namespace: a unix socket (visible to both) in front of socat running in the client
   * namespace. Each connection to the socket opens a new TCP flow through the NAT, e.g.
   * `new ssh2.Client().connect({ sock: bridge.connect(), ... })`.
   */
  unixBridge(host: string, port: number): Promise<UnixBridge>;
  /** Kill every process in the namespaces (tracked or not), delete the namespaces. Idempotent. */
  dispose(): Promise<void>;
}

export interface UnixBridge {
  readonly path: string;
  connect(): net.Socket;
  close(): Promise<void>;
}

const NET = {
  clientAddr: '10.231.1.2',
  routerClientAddr: '10.231.1.1',
  routerServerAddr: '10.231.2.1',
  serverAddr: '10.231.2.2',
  prefixLen: 24,
};
const DEFAULT_PREFIX_RE = /^sklab(\d+)x\d+-[crs]$/;
let labCount = 0;
let cachedAvailability: Availability | undefined;

export function natlabAvailable(): Availability {
  cachedAvailability ??= probe();
  return cachedAvailability;
}

function probe(): Availability {
  if (process.platform !== 'linux') {
    return { ok: false, reason: `natlab needs Linux network namespaces (platform ${process.platform})` };
  }
  const uid = process.getuid?.();
  if (uid !== 0) {
    return { ok: false, reason: `natlab needs root to create network namespaces (running as uid ${uid})` };
  }
  for (const [tool, pkg] of [
    ['ip', 'iproute2'],
    ['iptables', 'iptables'],
    ['conntrack', 'conntrack'],
    ['sysctl', 'procps'],
  ] as const) {
    if (!which(tool)) {
      return { ok: false, reason: `natlab needs ${tool} (Debian package ${pkg})` };
    }
  }
  // Being root is not enough in a container without CAP_SYS_ADMIN / CAP_NET_ADMIN or without
  // netfilter modules: try the real thing once.
  const ns = `sklprobe${process.pid}`;
  const run = (args: string[]) => spawnSync(args[0], args.slice(1), { encoding: 'utf8', timeout: 10_000 });
  try {
    run(['ip', 'netns', 'del', ns]);
    const steps = [
      ['ip', 'netns', 'add', ns],
      ['ip', 'netns', 'exec', ns, 'iptables', '-A', 'FORWARD', '-p', 'tcp', '!', '--syn', '-m', 'conntrack', '--ctstate', 'NEW,INVALID', '-j', 'DROP'],
      ['ip', 'netns', 'exec', ns, 'iptables', '-t', 'nat', '-A', 'POSTROUTING', '-o', 'lo', '-j', 'MASQUERADE'],
      ['ip', 'netns', 'exec', ns, 'sysctl', '-n', 'net.netfilter.nf_conntrack_tcp_timeout_established'],
      ['ip', 'netns', 'exec', ns, 'conntrack', '-L'],
    ];
    for (const step of steps) {
      const r = run(step);
      if (r.status !== 0) {
        return {
          ok: false,
          reason: `natlab probe failed: \`${step.join(' ')}\` -> ${r.error?.message ?? ((r.stderr || r.stdout).trim() || `exit ${r.status}`)}`,
        };
      }
    }
    return { ok: true };
  } finally {
    run(['ip', 'netns', 'del', ns]);
  }
}

export async function createNatlab(options: NatlabOptions = {}): Promise<Natlab> {
  const availability = natlabAvailable();
  if (!availability.ok) {
    throw new Error(availability.reason);
  }
  const natTimeoutSec = options.natTimeoutSec ?? 4;
  if (!Number.isInteger(natTimeoutSec) || natTimeoutSec < 1) {
    throw new Error(`natTimeoutSec must be a positive integer, got ${natTimeoutSec}`);
  }
  const prefix = options.prefix ?? `sklab${process.pid}x${labCount++}`;
  const clientNs = `${prefix}-c`;
  const routerNs = `${prefix}-r`;
  const serverNs = `${prefix}-s`;
  const namespaces = [clientNs, routerNs, serverNs];

  removeStale(prefix);

  const children = new Set<ChildProcess>();
  const tempDirs = new Set<string>();
  let disposed: Promise<void> | undefined;
  let outageOn = false;

  // Namespaces must not outlive a test process that exits without dispose() (a failed
  // assertion before t.after was registered, process.exit in a runner).
  const onExit = () => {
    for (const c of children) killGroup(c);
    destroyNamespacesSync(namespaces);
    for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', onExit);

  const exec = (ns: string, cmd: string, args: string[] = [], opts: ExecOptions = {}): Promise<ExecResult> =>
    new Promise((resolve, reject) => {
      const child = spawn('ip', ['netns', 'exec', ns, cmd, ...args], {
        detached: true,
        stdio: ['pipe', 'pipe', 'pipe'],
        env: opts.env ?? process.env,
        cwd: opts.cwd,
      });
      children.add(child);
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (b: Buffer) => (stdout += b.toString('utf8')));
      child.stderr.on('data', (b: Buffer) => (stderr += b.toString('utf8')));
      child.stdin.on('error', () => undefined);
      child.stdin.end(opts.input ?? '');
      const timer = setTimeout(() => killGroup(child), opts.timeoutMs ?? 30_000);
      child.on('error', (err) => {
        clearTimeout(timer);
        children.delete(child);
        reject(err);
      });
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        children.delete(child);
        resolve({ stdout, stderr, code: code ?? -1, signal });
      });
    });

  const spawnIn = (ns: string, cmd: string, args: string[] = [], opts: SpawnOptions = {}): ChildProcess => {
    if (disposed) throw new Error('natlab disposed');
    // Own process group, so dispose() takes the command's children too.
    const child = spawn('ip', ['netns', 'exec', ns, cmd, ...args], { ...opts, detached: true });
    children.add(child);
    child.on('exit', () => children.delete(child));
    child.on('error', () => children.delete(child));
    return child;
  };
  const must = async (ns: string, cmd: string, args: string[]): Promise<string> => {
    const r = await exec(ns, cmd, args, { timeoutMs: 15_000 });
    if (r.code !== 0) {
      throw new Error(`natlab: \`${cmd} ${args.join(' ')}\` in ${ns} failed (${r.code}): ${(r.stderr || r.stdout).trim()}`);
    }
    return r.stdout;
  };
  const ip = (args: string[]) => run('ip', args);

  try {
    for (const ns of namespaces) await ip(['netns', 'add', ns]);
    // The veth pairs are created inside the router and the peer moved straight into its
    // namespace: nothing ever appears in the host's namespace.
    await ip(['-n', routerNs, 'link', 'add', 'rc', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', clientNs]);
    await ip(['-n', routerNs, 'link', 'add', 'rs', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', serverNs]);
    const cidr = (a: string) => `${a}/${NET.prefixLen}`;
    await ip(['-n', clientNs, 'addr', 'add', cidr(NET.clientAddr), 'dev', 'eth0']);
    await ip(['-n', routerNs, 'addr', 'add', cidr(NET.routerClientAddr), 'dev', 'rc']);
    await ip(['-n', routerNs, 'addr', 'add', cidr(NET.routerServerAddr), 'dev', 'rs']);
    await ip(['-n', serverNs, 'addr', 'add', cidr(NET.serverAddr), 'dev', 'eth0']);
    for (const ns of namespaces) await ip(['-n', ns, 'link', 'set', 'lo', 'up']);
    await ip(['-n', clientNs, 'link', 'set', 'eth0', 'up']);
    await ip(['-n', serverNs, 'link', 'set', 'eth0', 'up']);
    await ip(['-n', routerNs, 'link', 'set', 'rc', 'up']);
    await ip(['-n', routerNs, 'link', 'set', 'rs', 'up']);
    await ip(['-n', clientNs, 'route', 'add', 'default', 'via', NET.routerClientAddr]);
    // The server gets no route to the client's subnet: it can answer only the router's address.

    const ipt = (args: string[]) => must(routerNs, 'iptables', ['-w', ...args]);
    await must(routerNs, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
    await ipt(['-t', 'nat', '-A', 'POSTROUTING', '-o', 'rs', '-j', 'MASQUERADE']);
    // A forgotten flow's packets are neither forwarded nor answered with a RST by the router
    // itself (the server's side is addressed to the router after masquerading): silence.
    const forgotten = ['-p', 'tcp', '!', '--syn', '-m', 'conntrack', '--ctstate', 'NEW,INVALID', '-j', 'DROP'];
    await ipt(['-A', 'FORWARD', ...forgotten]);
    await ipt(['-A', 'INPUT', ...forgotten]);
    // Only now: the first conntrack rule loads nf_conntrack, which owns these sysctls (per netns).
    await must(routerNs, 'sysctl', ['-qw', `net.netfilter.nf_conntrack_tcp_timeout_established=${natTimeoutSec}`]);
    // Otherwise a mid-stream packet would re-create a forgotten entry and revive the flow.
    await must(routerNs, 'sysctl', ['-qw', 'net.netfilter.nf_conntrack_tcp_loose=0']);
    const check = (await must(routerNs, 'sysctl', ['-n', 'net.netfilter.nf_conntrack_tcp_timeout_established'])).trim();
    if (check !== String(natTimeoutSec)) {
      throw new Error(`natlab: conntrack timeout is ${check}, wanted ${natTimeoutSec}`);
    }
  } catch (err) {
    process.off('exit', onExit);
    for (const c of children) killGroup(c);
    destroyNamespacesSync(namespaces);
    throw err;
  }

  return {
    clientNs,
    routerNs,
    serverNs,
    clientAddr: NET.clientAddr,
    serverAddr: NET.serverAddr,
    routerClientAddr: NET.routerClientAddr,
    routerServerAddr: NET.routerServerAddr,
    natTimeoutSec,
    exec,
    spawn: spawnIn,
    async outage() {
      if (outageOn) return;
      outageOn = true;
      await must(routerNs, 'iptables', ['-w', '-I', 'FORWARD', '1', '-j', 'DROP']);
    },
    async heal() {
      if (!outageOn) return;
      outageOn = false;
      await must(routerNs, 'iptables', ['-w', '-D', 'FORWARD', '-j', 'DROP']);
    },
    async reboot() {
      const r = await exec(routerNs, 'conntrack', ['-F'], { timeoutMs: 10_000 });
      if (r.code !== 0) throw new Error(`natlab: conntrack -F failed: ${r.stderr.trim()}`);
    },
    async unixBridge(host, port) {
      const dir = mkdtempSync(path.join(os.tmpdir(), 'sshk-bridge-'));
      tempDirs.add(dir);
      const sock = path.join(dir, 'sock');
      const child = spawnIn(clientNs, 'socat', [`UNIX-LISTEN:${sock},fork,mode=600`, `TCP4:${host}:${port},nodelay`], { stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      child.stderr!.on('data', (b: Buffer) => (err += b.toString()));
      const end = Date.now() + 5_000;
      while (!existsSync(sock)) {
        if (child.exitCode !== null || Date.now() > end) {
          killGroup(child);
          rmSync(dir, { recursive: true, force: true });
          throw new Error(`natlab: socat bridge did not start: ${err.trim() || `exit ${child.exitCode}`}`);
        }
        await new Promise((r) => setTimeout(r, 20));
      }
      return {
        path: sock,
        connect: () => net.connect(sock),
        close: async () => {
          const exited = child.exitCode !== null ? Promise.resolve() : new Promise<void>((r) => child.once('close', () => r()));
          killGroup(child);
          await exited;
          rmSync(dir, { recursive: true, force: true });
          tempDirs.delete(dir);
        },
      };
    },
    async conntrack() {
      const r = await exec(routerNs, 'conntrack', ['-L'], { timeoutMs: 10_000 });
      return r.stdout + r.stderr;
    },
    dispose() {
      disposed ??= (async () => {
        process.off('exit', onExit);
        const exits = [...children].map(
          (c) => new Promise<void>((resolve) => (c.exitCode !== null || c.signalCode !== null ? resolve() : c.once('close', () => resolve()))),
        );
        for (const c of children) killGroup(c);
        // Whatever else runs in there (sshd started by another harness, daemons of a test).
        for (const ns of namespaces) killNamespacePids(ns);
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([Promise.all(exits), new Promise<void>((r) => (timer = setTimeout(r, 5_000)))]);
        clearTimeout(timer);
        destroyNamespacesSync(namespaces);
        for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
      })();
      return disposed;
    },
  };
}

function run(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const c = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    c.stderr.on('data', (b: Buffer) => (err += b.toString()));
    c.on('error', reject);
    c.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`natlab: \`${cmd} ${args.join(' ')}\` failed (${code}): ${err.trim()}`))));
  });
}

function killGroup(c: ChildProcess): void {
  if (c.pid === undefined || c.exitCode !== null || c.signalCode !== null) return;
  try {
    process.kill(-c.pid, 'SIGKILL');
  } catch {
    try {
      c.kill('SIGKILL');
    } catch {
      // gone
    }
  }
}

function killNamespacePids(ns: string): void {
  const r = spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8', timeout: 5_000 });
  for (const pid of (r.stdout ?? '').split(/\s+/).filter(Boolean).map(Number)) {
    if (pid === process.pid) continue;
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
}

/** A namespace outlives its name while a process still runs in it: kill first, then delete. */
function destroyNamespacesSync(namespaces: string[]): void {
  const existing = listNamespaces();
  for (const ns of namespaces) {
    if (!existing.includes(ns)) continue;
    for (let i = 0; i < 3; i++) {
      killNamespacePids(ns);
      if (spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).stdout?.trim() === '') break;
      spawnSync('sleep', ['0.05']);
    }
    spawnSync('ip', ['netns', 'del', ns], { timeout: 5_000 });
  }
}

function listNamespaces(): string[] {
  try {
    return execFileSync('ip', ['netns', 'list'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
      .split('\n')
      .map((l) => l.trim().split(/\s+/)[0])
      .filter((n): n is string => !!n);
  } catch {
    return [];
  }
}

/**
 * Leftovers of a crashed run: namespaces with our prefix, and namespaces of the default naming
 * whose creating process is gone.
 */
function removeStale(prefix: string): void {
  const stale = listNamespaces().filter((ns) => {
    if (ns.startsWith(`${prefix}-`)) return true;
    const m = DEFAULT_PREFIX_RE.exec(ns);
    return !!m && Number(m[1]) !== process.pid && !pidAlive(Number(m[1]));
  });
  destroyNamespacesSync(stale);
}

function which(cmd: string): boolean {
  const dirs = [...(process.env.PATH ?? '').split(path.delimiter), '/usr/sbin', '/sbin'];
  return dirs.some((d) => d && existsSync(path.join(d, cmd)));
}

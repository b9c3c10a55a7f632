import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { writeClientFiles } from './clientFiles';
import { pidAlive } from './pidAlive';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Availability } from './availability';

/**
 * A real OpenSSH sshd for tests: own host key, own authorized_keys, own config, on a free port,
 * on loopback or inside a network namespace (natlab). Everything lives in one temp dir.
 */

export interface SshdOptions {
  /** Run inside this network namespace (`ip netns exec`); needs root. */
  netns?: string;
  /** Default 127.0.0.1. */
  listenAddress?: string;
  /** Default: a free loopback port (retried if another process takes it first). */
  port?: number;
  /**
   * Extra sshd_config lines. They come before the defaults (sshd keeps the first value it
   * reads), so they override them; lines from the first `Match` on go at the end.
   */
  extraConfig?: string[];
  /** Host alias in the generated ssh_config; default 'lab'. */
  alias?: string;
  /** Also generate and offer an RSA host key (slower to generate); default false. */
  rsaHostKey?: boolean;
  /** Extra environment for sshd itself (e.g. an LD_PRELOAD); its sessions get the environment sshd builds. */
  env?: NodeJS.ProcessEnv;
}

export interface SshdHandle {
  readonly dir: string;
  /** The address sshd listens on (what a client connects to). */
  readonly host: string;
  readonly port: number;
  /** The user to log in as: the user running the tests (root login is enabled), with HOME in `dir`/home. */
  readonly user: string;
  readonly alias: string;
  /** `ssh -F <sshConfigPath> <alias>` reaches this server. */
  readonly sshConfigPath: string;
  /** `[host]:port ssh-ed25519 AAAA...` */
  readonly knownHostsPath: string;
  /** "ssh-ed25519 AAAA..." without comment. */
  readonly hostKeyPublicLine: string;
  /** ed25519 client key without passphrase (the IdentityFile in ssh_config). */
  readonly clientKeyPath: string;
  /** ed25519 client key encrypted with `passphrase`; also in authorized_keys. */
  readonly encryptedClientKeyPath: string;
  readonly passphrase: string;
  /**
   * Sessions on this server get TMUX_TMPDIR pointing here, so a test's tmux server is its own
   * and is killed by stop().
   */
  readonly tmuxTmpDir: string;
  /** sshd's stderr so far (LogLevel VERBOSE). */
  logs(): string;
  /**
   * The server's per-connection processes (direct children of the listener): killing one
   * ends that client's connection as a crash of the server side would.
   */
  connectionPids(): number[];
  /**
   * Kill sshd and every session process, then start it again with the same keys, port and
   * config: a server reboot as clients see it (connections die; the host key stays the same).
   * With `sshdOnly`: only the sshd processes die (the listener and the per-connection ones), as
   * when sshd crashes or is restarted by hand; the users' own processes that left their
   * connection (a session keeper, a tmux server) go on running.
   */
  restart(opts?: { sshdOnly?: boolean }): Promise<void>;
  /** Kill sshd and every process of its sessions, remove the temp dir. Idempotent. */
  stop(): Promise<void>;
}

const SSHD = process.env.SSHD_PATH ?? '/usr/sbin/sshd';
const READY_TIMEOUT_MS = 10_000;
const PASSPHRASE = 'harness passphrase 7f3a';
/**
 * In the environment of every session: which server a process belongs to. (sshd itself
 * overwrites its environ with its process title; it is found by the config path in its
 * command line instead, and its connection processes by walking its tree.)
 */
const MARKER_VAR = 'SSHK_HARNESS_SSHD';
const LOG_CAP = 4 * 1024 * 1024;

export function sshdAvailability(): Availability {
  if (process.platform !== 'linux' && process.platform !== 'darwin') {
    return { ok: false, reason: `real sshd tests need Linux or macOS (platform ${process.platform})` };
  }
  if (!existsSync(SSHD)) {
    return { ok: false, reason: `${SSHD} not found (install the openssh-server package, or set SSHD_PATH)` };
  }
  for (const tool of ['ssh-keygen', 'ssh']) {
    if (!onPath(tool)) {
      return { ok: false, reason: `${tool} not found on PATH (install openssh-client)` };
    }
  }
  const account = loginProblem();
  if (account) {
    return { ok: false, reason: account };
  }
  return { ok: true };
}

/** Why sshd would refuse the current user even with the right key, if it would. */
function loginProblem(): string | undefined {
  const user = os.userInfo();
  if (user.shell && /(nologin|\/false)$/.test(user.shell)) {
    return `user ${user.username} has no login shell (${user.shell}); sshd tests log in as the current user`;
  }
  if (process.getuid?.() === 0) {
    // With UsePAM no, sshd running as root refuses an account whose shadow password starts
    // with "!" (locked), public key or not. Without root it cannot read shadow and does not care.
    try {
      const entry = readFileSync('/etc/shadow', 'utf8')
        .split('\n')
        .find((l) => l.startsWith(`${user.username}:`));
      const pw = entry?.split(':')[1] ?? '';
      if (pw.startsWith('!')) {
        return `account ${user.username} is locked in /etc/shadow ("!"), so sshd (UsePAM no) refuses it; unlock without a password: usermod -p '*' ${user.username}`;
      }
    } catch {
      // no shadow file
    }
  }
  return undefined;
}

export function sshdAvailable(): boolean {
  return sshdAvailability().ok;
}

/** A TCP port free on loopback right now (bind to 0, read, close). */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, host, () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => (port ? resolve(port) : reject(new Error('no port assigned'))));
    });
  });
}

export async function startSshd(options: SshdOptions = {}): Promise<SshdHandle> {
  const availability = sshdAvailability();
  if (!availability.ok) {
    throw new Error(availability.reason);
  }
  const host = options.listenAddress ?? '127.0.0.1';
  const alias = options.alias ?? 'lab';
  const user = os.userInfo().username;
  const isRoot = process.getuid?.() === 0;
  reapOrphansOnce();
  // The creating pid is in the name, so a later run can reap what a crashed one left.
  const dir = await mkdtemp(path.join(os.tmpdir(), `${DIR_PREFIX}${process.pid}-`));
  let child: ChildProcess | undefined;
  liveDirs.set(dir, () => child?.pid);
  if (!process.listeners('exit').includes(killAllLiveSync)) process.on('exit', killAllLiveSync);
  try {
    const p = (name: string) => path.join(dir, name);
    const hostKeys = [p('ssh_host_ed25519_key')];
    await keygen(['-t', 'ed25519', '-N', '', '-C', 'harness-host', '-f', hostKeys[0]]);
    if (options.rsaHostKey) {
      hostKeys.push(p('ssh_host_rsa_key'));
      await keygen(['-t', 'rsa', '-b', '2048', '-N', '', '-C', 'harness-host', '-f', hostKeys[1]]);
    }
    const clientKeyPath = p('id_ed25519');
    const encryptedClientKeyPath = p('id_ed25519_encrypted');
    await keygen(['-t', 'ed25519', '-N', '', '-C', 'harness-client', '-f', clientKeyPath]);
    await keygen(['-t', 'ed25519', '-N', PASSPHRASE, '-C', 'harness-client-encrypted', '-f', encryptedClientKeyPath]);
    const authorizedKeys =
      (await readFile(`${clientKeyPath}.pub`, 'utf8')).trim() + '\n' + (await readFile(`${encryptedClientKeyPath}.pub`, 'utf8')).trim() + '\n';
    await writeFile(p('authorized_keys'), authorizedKeys, { mode: 0o600 });
    const hostKeyPublicLine = (await readFile(`${hostKeys[0]}.pub`, 'utf8')).trim().split(/\s+/).slice(0, 2).join(' ');
    const tmuxTmpDir = p('tmux');
    mkdirSync(tmuxTmpDir, { mode: 0o700 });
    // Sessions get a clean home: the login shell then reads no dotfiles of the user running the
    // tests (root's .bashrc here runs `pyenv rehash`, whose lock file, left by a session the
    // tests kill, makes every later login wait 60 s).
    const home = p('home');
    mkdirSync(home, { mode: 0o700 });

    if (isRoot) {
      // sshd running as root insists on its privilege separation directory.
      mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
    }

    const sshdConfigPath = p('sshd_config');
    const writeSshdConfig = (port: number) =>
      writeFile(sshdConfigPath, sshdConfig({ port, host, dir, hostKeys, extra: options.extraConfig ?? [], tmuxTmpDir, home }));

    let log = '';
    const appendLog = (chunk: string) => {
      log += chunk;
      if (log.length > LOG_CAP) {
        log = log.slice(log.length - LOG_CAP / 2);
      }
    };

    let port = options.port ?? (await freePort());
    const launch = async () => {
      const attempts = options.port === undefined ? 5 : 1;
      for (let attempt = 1; ; attempt++) {
        await writeSshdConfig(port);
        const logStart = log.length;
        try {
          child = await launchSshd(sshdConfigPath, options.netns, dir, appendLog, options.env);
          return;
        } catch (err) {
          const since = log.slice(logStart);
          const portTaken = /Address already in use|Cannot bind any address/.test(since);
          if (!portTaken || attempt >= attempts) {
            throw err;
          }
          port = await freePort();
        }
      }
    };
    const kill = async () => {
      const c = child;
      child = undefined;
      await killTree(c, dir);
    };

    await launch();

    const { knownHostsPath, sshConfigPath } = await writeClientFiles({ dir, alias, host, port, user, clientKeyPath, hostKeyPublicLine });

    let stopped: Promise<void> | undefined;
    return {
      dir,
      host,
      port,
      user,
      alias,
      sshConfigPath,
      knownHostsPath,
      hostKeyPublicLine,
      clientKeyPath,
      encryptedClientKeyPath,
      passphrase: PASSPHRASE,
      tmuxTmpDir,
      logs: () => log,
      connectionPids: () => (child?.pid === undefined ? [] : directChildren(child.pid)),
      restart: async (opts = {}) => {
        if (stopped) {
          throw new Error('sshd handle already stopped');
        }
        if (opts.sshdOnly) {
          const c = child;
          child = undefined;
          await killSshdOnly(c);
        } else {
          await kill();
        }
        // The port must stay the same for clients; no retry on another port.
        await writeSshdConfig(port);
        child = await launchSshd(sshdConfigPath, options.netns, dir, appendLog, options.env);
      },
      stop: () => {
        stopped ??= (async () => {
          await kill();
          await rm(dir, { recursive: true, force: true });
          forget(dir);
        })();
        return stopped;
      },
    };
  } catch (err) {
    await killMarked(dir);
    await rm(dir, { recursive: true, force: true });
    forget(dir);
    throw err;
  }
}

const DIR_PREFIX = 'sshk-sshd-';
/** Servers not yet stopped, by dir, with the pid of their sshd. */
const liveDirs = new Map<string, () => number | undefined>();

function forget(dir: string): void {
  liveDirs.delete(dir);
  if (liveDirs.size === 0) process.off('exit', killAllLiveSync);
}

/** Last resort when a test process exits without stop(): no sshd may outlive it. */
function killAllLiveSync(): void {
  for (const [dir, sshdPid] of liveDirs) {
    const pid = sshdPid();
    const pids = [...markedPids(dir), ...(pid === undefined ? [] : [pid, ...descendants(pid)])];
    for (const p of pids) signal(p);
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch {
      // best effort
    }
  }
  liveDirs.clear();
}

let reaped = false;
/**
 * Kill servers and sessions left by test processes that died without cleaning up (SIGKILL,
 * a crash), and remove their dirs.
 */
function reapOrphansOnce(): void {
  if (reaped) return;
  reaped = true;
  const tmp = os.tmpdir();
  const deadOwner = (name: string) => {
    const m = new RegExp(`^${DIR_PREFIX}(\\d+)-`).exec(name);
    return !!m && Number(m[1]) !== process.pid && !pidAlive(Number(m[1]));
  };
  const stale = new Set<string>();
  try {
    for (const name of readdirSync(tmp)) if (deadOwner(name)) stale.add(path.join(tmp, name));
  } catch {
    return;
  }
  if (stale.size === 0) return;
  const victims = new Set<number>();
  for (const dir of stale) {
    for (const pid of markedPids(dir)) {
      victims.add(pid);
      for (const d of descendants(pid)) victims.add(d);
    }
  }
  for (const pid of victims) signal(pid);
  for (const dir of stale) rmSync(dir, { recursive: true, force: true });
}

function sshdConfig(o: { port: number; host: string; dir: string; hostKeys: string[]; extra: string[]; tmuxTmpDir: string; home: string }): string {
  const matchAt = o.extra.findIndex((l) => /^\s*match\s/i.test(l));
  const extraTop = matchAt < 0 ? o.extra : o.extra.slice(0, matchAt);
  const extraMatch = matchAt < 0 ? [] : o.extra.slice(matchAt);
  const keyword = (l: string) =>
    l
      .trim()
      .split(/[\s=]+/)[0]
      ?.toLowerCase() ?? '';
  const overridden = new Set(extraTop.map(keyword));

  // SetEnv takes only its first line; merge ours into the caller's.
  const setEnvExtra = extraTop.filter((l) => keyword(l) === 'setenv').map((l) => l.trim().replace(/^\S+\s*=?\s*/, ''));
  const setEnv = [`${MARKER_VAR}=${o.dir}`, `TMUX_TMPDIR=${o.tmuxTmpDir}`, `HOME=${o.home}`, ...setEnvExtra].join(' ');

  const defaults = [
    `Port ${o.port}`,
    `ListenAddress ${o.host}`,
    `PidFile ${path.join(o.dir, 'sshd.pid')}`,
    `AuthorizedKeysFile ${path.join(o.dir, 'authorized_keys')}`,
    'StrictModes no',
    'UsePAM no',
    'PermitRootLogin yes',
    'PubkeyAuthentication yes',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'AllowTcpForwarding yes',
    'AllowStreamLocalForwarding yes',
    'GatewayPorts no',
    'LogLevel VERBOSE',
    'ClientAliveInterval 0',
    'MaxStartups 200:30:400',
    'MaxSessions 100',
    'MaxAuthTries 20',
    'UseDNS no',
    'PrintMotd no',
    'PrintLastLog no',
    'Subsystem sftp internal-sftp',
    ...(opensshAtLeast(9, 8) ? ['PerSourcePenalties no'] : []),
  ].filter((l) => !overridden.has(keyword(l)));

  return [
    '# generated by tools/peers/sshd.ts',
    ...extraTop.filter((l) => keyword(l) !== 'setenv'),
    ...o.hostKeys.map((k) => `HostKey ${k}`),
    ...defaults,
    `SetEnv ${setEnv}`,
    ...extraMatch,
    '',
  ].join('\n');
}

function launchSshd(
  configPath: string,
  netns: string | undefined,
  dir: string,
  onLog: (s: string) => void,
  env: NodeJS.ProcessEnv = {},
): Promise<ChildProcess> {
  const sshdArgs = [SSHD, '-D', '-e', '-f', configPath];
  const [cmd, args] = netns ? ['ip', ['netns', 'exec', netns, ...sshdArgs]] : [SSHD, sshdArgs.slice(1)];
  // Own process group, so stop() can signal sshd and whatever stayed in its group.
  const child = spawn(cmd, args, {
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env, [MARKER_VAR]: dir },
  });
  let text = '';
  return new Promise<ChildProcess>((resolve, reject) => {
    let done = false;
    const finish = (err?: Error) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (err) {
        void killTree(child, dir).then(() => reject(err));
      } else {
        resolve(child);
      }
    };
    const onData = (buf: Buffer) => {
      const s = buf.toString('utf8');
      text += s;
      onLog(s);
      if (/Server listening on /.test(text)) {
        finish();
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', (err) => finish(new Error(`sshd failed to start: ${err.message}`)));
    child.on('exit', (code, signal) => finish(new Error(`sshd exited (${signal ?? code}) before listening:\n${tail(text)}`)));
    const timer = setTimeout(() => finish(new Error(`sshd not listening after ${READY_TIMEOUT_MS} ms:\n${tail(text)}`)), READY_TIMEOUT_MS);
  });
}

/**
 * sshd puts each connection in a session of its own (setsid), and a session's programs may
 * daemonize (tmux): a process-group kill misses them. Kill the group, the descendants, and
 * every process that carries this server's marker in its environment.
 */
async function killTree(child: ChildProcess | undefined, dir: string): Promise<void> {
  const pids = new Set<number>(markedPids(dir));
  if (child?.pid !== undefined) {
    for (const pid of descendants(child.pid)) pids.add(pid);
  }
  const exited =
    child && child.exitCode === null && child.signalCode === null ? new Promise<void>((resolve) => child.once('exit', () => resolve())) : Promise.resolve();
  if (child?.pid !== undefined) {
    signal(-child.pid);
  }
  for (const pid of pids) signal(pid);
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([exited, new Promise<void>((r) => (timer = setTimeout(r, 5_000)))]);
  clearTimeout(timer);
  child?.stdout?.destroy();
  child?.stderr?.destroy();
  // Stragglers forked while we were killing.
  await killMarked(dir);
}

/** The listener and its descendants that are sshd (per-connection processes), not the sessions' programs. */
async function killSshdOnly(child: ChildProcess | undefined): Promise<void> {
  if (child?.pid === undefined) return;
  const exited = child.exitCode === null && child.signalCode === null ? new Promise<void>((resolve) => child.once('exit', () => resolve())) : Promise.resolve();
  const isSshd = (pid: number) => {
    try {
      return readFileSync(`/proc/${pid}/comm`, 'utf8').startsWith('sshd');
    } catch {
      return false;
    }
  };
  for (const pid of [child.pid, ...descendants(child.pid).filter(isSshd)]) signal(pid);
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([exited, new Promise<void>((r) => (timer = setTimeout(r, 5_000)))]);
  clearTimeout(timer);
  child.stdout?.destroy();
  child.stderr?.destroy();
}

async function killMarked(dir: string): Promise<void> {
  for (let i = 0; i < 20; i++) {
    const left = markedPids(dir);
    if (left.length === 0) return;
    for (const pid of left) signal(pid);
    await delay(50);
  }
}

function signal(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

function procEntries(): number[] {
  try {
    return readdirSync('/proc')
      .filter((n) => /^\d+$/.test(n))
      .map(Number);
  } catch {
    return [];
  }
}

function directChildren(parent: number): number[] {
  return procEntries().filter((pid) => {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === parent;
    } catch {
      return false;
    }
  });
}

function descendants(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const pid of procEntries()) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      // Field 4 (ppid) follows "(comm)", and comm may contain spaces or parens.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const list = children.get(ppid) ?? [];
      list.push(pid);
      children.set(ppid, list);
    } catch {
      // exited meanwhile
    }
  }
  const out: number[] = [];
  const stack = [root];
  while (stack.length) {
    for (const c of children.get(stack.pop()!) ?? []) {
      out.push(c);
      stack.push(c);
    }
  }
  return out;
}

/** Processes of the server in `dir`: sessions by their env marker, sshd by its config path. */
function markedPids(dir: string): number[] {
  const envNeedle = `${MARKER_VAR}=${dir}\0`;
  const cmdNeedle = `${dir}/`;
  const out: number[] = [];
  for (const pid of procEntries()) {
    if (pid === process.pid) continue;
    try {
      if ((readFileSync(`/proc/${pid}/environ`, 'latin1') + '\0').includes(envNeedle) || readFileSync(`/proc/${pid}/cmdline`, 'latin1').includes(cmdNeedle)) {
        out.push(pid);
      }
    } catch {
      // exited, or not ours to read
    }
  }
  return out;
}

function keygen(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const c = spawn('ssh-keygen', ['-q', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    c.stderr.on('data', (b: Buffer) => (err += b.toString()));
    c.on('error', reject);
    c.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`ssh-keygen ${args.join(' ')}: ${err}`))));
  });
}

let opensshVersion: [number, number] | undefined;
function opensshAtLeast(major: number, minor: number): boolean {
  if (!opensshVersion) {
    // `sshd -V` prints "OpenSSH_9.2, ..." on stderr (older versions print it in their usage text).
    const r = spawnSync(SSHD, ['-V'], { encoding: 'utf8', timeout: 5_000 });
    const m = /OpenSSH_(\d+)\.(\d+)/.exec(`${r.stderr ?? ''}${r.stdout ?? ''}`);
    opensshVersion = m ? [Number(m[1]), Number(m[2])] : [0, 0];
  }
  const [a, b] = opensshVersion;
  return a > major || (a === major && b >= minor);
}

function onPath(cmd: string): boolean {
  return (process.env.PATH ?? '').split(path.delimiter).some((d) => d && existsSync(path.join(d, cmd)));
}

function tail(s: string, lines = 30): string {
  return s.trimEnd().split('\n').slice(-lines).join('\n');
}

function delay(ms: number): Promise<void> {
  // Not unref'd: a test awaiting cleanup must not see its event loop run dry meanwhile.
  return new Promise((r) => setTimeout(r, ms));
}

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Availability } from './availability';
import { writeClientFiles } from './clientFiles';
import { pidAlive } from './pidAlive';
import { freePort, type SshdHandle } from './sshd';

/**
 * A real Dropbear server for tests (Debian's dropbear-bin), on loopback, unprivileged.
 *
 * Dropbear has no AuthorizedKeysFile option: it reads ~/.ssh/authorized_keys of the passwd
 * entry's home (not $HOME), and an unprivileged dropbear can only log in the user it runs as.
 * So that no real account's keys are ever touched, each server gets a throwaway user of its
 * own (`ska-db-<pid>-<n>`, no password, home inside the server's temp dir) and runs as that
 * user; stop() ends every process of that uid and deletes the user. That needs root
 * (useradd); elsewhere the tests skip with the reason (and fail under CI=true).
 */

export interface DropbearOptions {
  /** Host alias in the generated ssh_config; default 'lab'. */
  alias?: string;
  /** Extra dropbear arguments, e.g. ['-I', '6'] (idle timeout) or ['-a'] (gateway ports). */
  extraArgs?: string[];
}

export interface DropbearHandle extends SshdHandle {
  readonly uid: number;
}

const DROPBEAR = process.env.DROPBEAR_PATH ?? '/usr/sbin/dropbear';
const READY_TIMEOUT_MS = 10_000;
const PASSPHRASE = 'harness passphrase 7f3a';
const USER_PREFIX = 'ska-db-';
const DIR_PREFIX = 'sshk-dropbear-';
const LOG_CAP = 4 * 1024 * 1024;

export function dropbearAvailability(): Availability {
  if (process.platform !== 'linux') return { ok: false, reason: `Dropbear tests need Linux (platform ${process.platform})` };
  if (!existsSync(DROPBEAR)) return { ok: false, reason: `${DROPBEAR} not found (install the dropbear-bin package, or set DROPBEAR_PATH)` };
  for (const tool of ['dropbearkey', 'ssh-keygen', 'useradd', 'userdel', 'setpriv']) {
    if (!onPath(tool)) return { ok: false, reason: `${tool} not found on PATH (dropbear-bin, openssh-client, passwd, util-linux)` };
  }
  if (process.getuid?.() !== 0) {
    return {
      ok: false,
      reason:
        'Dropbear tests need root: dropbear reads ~/.ssh/authorized_keys of the passwd home, so the harness creates a throwaway user rather than touch a real account',
    };
  }
  return { ok: true };
}

let counter = 0;
const live = new Map<string, { user: string; uid: number; dir: string }>();

export async function startDropbear(options: DropbearOptions = {}): Promise<DropbearHandle> {
  const availability = dropbearAvailability();
  if (!availability.ok) throw new Error(availability.reason);
  reapOrphansOnce();
  const alias = options.alias ?? 'lab';
  const host = '127.0.0.1';
  const user = `${USER_PREFIX}${process.pid}-${++counter}`;
  const dir = await mkdtemp(path.join(os.tmpdir(), `${DIR_PREFIX}${process.pid}-`));
  // The server's user must reach its home and host key; nothing else in here is theirs.
  chmodSync(dir, 0o711);
  const home = path.join(dir, 'home');
  let uid = -1;
  let child: ChildProcess | undefined;
  let log = '';
  const appendLog = (s: string) => {
    log += s;
    if (log.length > LOG_CAP) log = log.slice(log.length - LOG_CAP / 2);
  };
  try {
    run('useradd', ['--no-create-home', '--home-dir', home, '--shell', '/bin/sh', '--comment', 'ssh-keepalive test server (throwaway)', '--user-group', user]);
    uid = Number(run('id', ['-u', user]).trim());
    const gid = Number(run('id', ['-g', user]).trim());
    live.set(user, { user, uid, dir });
    if (!process.listeners('exit').includes(cleanupAllSync)) process.on('exit', cleanupAllSync);

    const p = (name: string) => path.join(dir, name);
    const hostKey = p('dropbear_ed25519_host_key');
    run('dropbearkey', ['-t', 'ed25519', '-f', hostKey]);
    const hostKeyPublicLine = /^(ssh-ed25519 \S+)/m.exec(run('dropbearkey', ['-y', '-f', hostKey]))?.[1];
    if (!hostKeyPublicLine) throw new Error('dropbearkey -y printed no public key');
    const clientKeyPath = p('id_ed25519');
    const encryptedClientKeyPath = p('id_ed25519_encrypted');
    run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'harness-client', '-f', clientKeyPath]);
    run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', PASSPHRASE, '-C', 'harness-client-encrypted', '-f', encryptedClientKeyPath]);
    mkdirSync(path.join(home, '.ssh'), { recursive: true, mode: 0o700 });
    const authorizedKeys = path.join(home, '.ssh', 'authorized_keys');
    await writeFile(authorizedKeys, (await readFile(`${clientKeyPath}.pub`, 'utf8')) + (await readFile(`${encryptedClientKeyPath}.pub`, 'utf8')), {
      mode: 0o600,
    });
    // Dropbear insists that the home, ~/.ssh and authorized_keys belong to the user.
    for (const f of [home, path.join(home, '.ssh'), authorizedKeys, hostKey]) chownSync(f, uid, gid);
    chmodSync(home, 0o700);

    let port = await freePort();
    const launch = async () => {
      for (let attempt = 1; ; attempt++) {
        const logStart = log.length;
        try {
          child = await launchDropbear(user, hostKey, host, port, dir, options.extraArgs ?? [], appendLog);
          return;
        } catch (err) {
          if (!/Address already in use|Failed listening/.test(log.slice(logStart)) || attempt >= 5) throw err;
          port = await freePort();
        }
      }
    };
    await launch();

    const { knownHostsPath, sshConfigPath } = await writeClientFiles({ dir, alias, host, port, user, clientKeyPath, hostKeyPublicLine });

    let stopped: Promise<void> | undefined;
    const kill = async () => {
      const c = child;
      child = undefined;
      await killUid(uid);
      c?.stdout?.destroy();
      c?.stderr?.destroy();
    };
    return {
      dir,
      host,
      port,
      user,
      uid,
      alias,
      sshConfigPath,
      knownHostsPath,
      hostKeyPublicLine,
      clientKeyPath,
      encryptedClientKeyPath,
      passphrase: PASSPHRASE,
      // Dropbear gives sessions a fresh environment (no TMUX_TMPDIR): tmux uses its default.
      tmuxTmpDir: '/tmp',
      logs: () => log,
      connectionPids: () => (child?.pid === undefined ? [] : childrenOf(child.pid)),
      restart: async () => {
        if (stopped) throw new Error('dropbear handle already stopped');
        await kill();
        child = await launchDropbear(user, hostKey, host, port, dir, options.extraArgs ?? [], appendLog);
      },
      stop: () => {
        stopped ??= (async () => {
          await kill();
          removeUser(user, uid, dir);
          live.delete(user);
        })();
        return stopped;
      },
    };
  } catch (err) {
    if (uid >= 0) await killUid(uid);
    removeUser(user, uid, dir);
    live.delete(user);
    throw err;
  }
}

function launchDropbear(
  user: string,
  hostKey: string,
  host: string,
  port: number,
  dir: string,
  extra: string[],
  onLog: (s: string) => void,
): Promise<ChildProcess> {
  // setpriv rather than spawn's uid/gid: the group tty must stay, or dropbear cannot chown a
  // pty to (user, tty) and every pty request fails ("chown(/dev/pts/N) failed").
  const args = [
    '--reuid',
    user,
    '--regid',
    user,
    '--groups',
    'tty',
    DROPBEAR,
    '-F',
    '-E',
    '-s',
    '-r',
    hostKey,
    '-p',
    `${host}:${port}`,
    '-P',
    path.join(dir, 'dropbear.pid'),
    ...extra,
  ];
  const child = spawn('setpriv', args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'], cwd: dir });
  let text = '';
  const onData = (b: Buffer) => {
    text += b.toString('utf8');
    onLog(b.toString('utf8'));
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  return new Promise((resolve, reject) => {
    let done = false;
    let exited = false;
    child.once('exit', () => (exited = true));
    child.once('error', (err) => finish(err));
    const finish = (err?: Error) => {
      if (done) return;
      done = true;
      if (err) {
        try {
          process.kill(child.pid!, 'SIGKILL');
        } catch {
          // gone
        }
        reject(err);
      } else resolve(child);
    };
    const deadline = Date.now() + READY_TIMEOUT_MS;
    // Dropbear says nothing when it starts listening: ready once the port accepts.
    const poll = () => {
      if (done) return;
      if (exited) return finish(new Error(`dropbear exited before listening:\n${text.trim().split('\n').slice(-20).join('\n')}`));
      if (Date.now() > deadline) return finish(new Error(`dropbear not listening on ${host}:${port} after ${READY_TIMEOUT_MS} ms:\n${text}`));
      const s = net.connect(port, host);
      s.once('connect', () => {
        s.destroy();
        finish();
      });
      s.once('error', () => setTimeout(poll, 50));
    };
    poll();
  });
}

function run(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 20_000 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr || r.error?.message || r.status}`);
  return r.stdout;
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

function statusField(pid: number, field: string): string | undefined {
  try {
    return new RegExp(`^${field}:\\s*(\\S+)`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  } catch {
    return undefined;
  }
}

function pidsOfUid(uid: number): number[] {
  return procEntries().filter((pid) => pid !== process.pid && statusField(pid, 'Uid') === String(uid));
}

/** Direct children of `parent`: for Dropbear, one process per client connection. */
function childrenOf(parent: number): number[] {
  return procEntries().filter((pid) => statusField(pid, 'PPid') === String(parent));
}

/** Every process of the throwaway user: the server, its connections, tmux servers, shells. */
async function killUid(uid: number): Promise<void> {
  for (let i = 0; i < 40; i++) {
    const left = pidsOfUid(uid);
    if (left.length === 0) return;
    for (const pid of left) signal(pid);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function killUidSync(uid: number): void {
  for (let i = 0; i < 5; i++) {
    const left = pidsOfUid(uid);
    if (left.length === 0) return;
    left.forEach(signal);
    spawnSync('sleep', ['0.05']);
  }
}

function signal(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // gone
  }
}

function removeUser(user: string, uid: number, dir: string): void {
  spawnSync('userdel', [user], { stdio: 'ignore' });
  rmSync(dir, { recursive: true, force: true });
  // tmux's default socket dir for that uid, so a later user with the same uid starts clean.
  if (uid >= 0) rmSync(`/tmp/tmux-${uid}`, { recursive: true, force: true });
}

function cleanupAllSync(): void {
  for (const { user, uid, dir } of live.values()) {
    killUidSync(uid);
    removeUser(user, uid, dir);
  }
  live.clear();
}

let reaped = false;
/** Users and servers left by a test process that died without stop() (SIGKILL, a crash). */
function reapOrphansOnce(): void {
  if (reaped) return;
  reaped = true;
  let passwd = '';
  try {
    passwd = readFileSync('/etc/passwd', 'utf8');
  } catch {
    return;
  }
  for (const line of passwd.split('\n')) {
    const [name, , uidText, , , home] = line.split(':');
    const m = new RegExp(`^${USER_PREFIX}(\\d+)-\\d+$`).exec(name ?? '');
    if (!m || Number(m[1]) === process.pid || pidAlive(Number(m[1]))) continue;
    const uid = Number(uidText);
    killUidSync(uid);
    const dir = home ? path.dirname(home) : '';
    removeUser(name, uid, dir.startsWith(path.join(os.tmpdir(), DIR_PREFIX)) ? dir : '/nonexistent-ska');
  }
}

function onPath(cmd: string): boolean {
  return (process.env.PATH ?? '').split(path.delimiter).some((d) => d && existsSync(path.join(d, cmd)));
}

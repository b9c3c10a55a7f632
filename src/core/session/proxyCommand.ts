/**
 * ProxyCommand, run as OpenSSH runs it (sshconnect.c ssh_proxy_connect): `$SHELL -c "exec
 * <command>"`, its stdin/stdout the SSH byte stream, one fresh process per connection.
 * It runs in a process group of its own so that ending the connection also ends whatever
 * it started (`aws ssm` starts session-manager-plugin, a shell script may start nc).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { Duplex } from 'node:stream';
import { createInterface } from 'node:readline';
import type { Logger } from '../base/logger';
import { SessionError } from './errors';

export interface ProxyExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface ProxyCommandOptions {
  logger: Logger;
  /** Names the host in log lines and errors. */
  target: string;
  env?: NodeJS.ProcessEnv;
  platform?: NodeJS.Platform;
  /** After SIGHUP, SIGKILL follows this much later if the group is still there. */
  killGraceMs?: number;
}

/** Lines of the command's stderr kept to explain an early exit. */
const STDERR_TAIL = 5;

export class ProxyCommandProcess {
  /** The connection's byte stream: the command's stdout (read) and stdin (write). */
  readonly stream: Duplex;
  private readonly child: ChildProcess;
  private readonly stderrTail: string[] = [];
  private exitInfo: ProxyExit | undefined;
  private spawnError: Error | undefined;
  private readonly exitWaiters: Array<() => void> = [];
  private killed = false;

  constructor(
    readonly command: string,
    private readonly options: ProxyCommandOptions,
  ) {
    const platform = options.platform ?? process.platform;
    const env = options.env ?? process.env;
    const shell = env.SHELL || '/bin/sh';
    options.logger.debug(`${options.target}: executing ProxyCommand: ${command}`);
    this.child =
      platform === 'win32'
        ? // Windows has no exec or process groups: cmd.exe runs it (OpenSSH for Windows does the same), and the tree is ended with taskkill.
          spawn(command, { shell: true, windowsHide: true, env, stdio: ['pipe', 'pipe', 'pipe'] })
        : // exec: no shell lingers between us and the command; detached: a group of its own.
          spawn(shell, ['-c', `exec ${command}`], { detached: true, env, stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.once('error', (err) => {
      this.spawnError = err;
      this.onExit({ code: null, signal: null });
    });
    this.child.once('exit', (code, signal) => this.onExit({ code, signal }));
    createInterface({ input: this.child.stderr! }).on('line', (line) => {
      this.stderrTail.push(line);
      if (this.stderrTail.length > STDERR_TAIL) this.stderrTail.shift();
      options.logger.info(`${options.target}: ProxyCommand: ${line}`);
    });
    // EPIPE on stdin after the command died is reported through its exit, not here.
    this.child.stdin!.on('error', () => undefined);
    this.stream = Duplex.from({ readable: this.child.stdout!, writable: this.child.stdin! });
    this.stream.on('error', () => undefined);
    this.stream.once('close', () => this.kill());
  }

  get exited(): ProxyExit | undefined {
    return this.exitInfo;
  }

  /** Resolves once the command has exited, or after `ms`. */
  waitForExit(ms: number): Promise<ProxyExit | undefined> {
    if (this.exitInfo) return Promise.resolve(this.exitInfo);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(this.exitInfo), ms);
      this.exitWaiters.push(() => {
        clearTimeout(timer);
        resolve(this.exitInfo);
      });
    });
  }

  /**
   * Why the connection could not be made, when the command is the reason: it could not be
   * started, or it exited before the SSH session was up. Not found / not executable (126,
   * 127) cannot heal by waiting; any other exit is a path that is down, retried like one.
   */
  failure(): SessionError | undefined {
    const exit = this.exitInfo;
    if (!exit) return undefined;
    const said = this.stderrTail.length > 0 ? `; it said: ${this.stderrTail.join(' | ')}` : '';
    const head = `${this.options.target}: ProxyCommand "${this.command}"`;
    if (this.spawnError) {
      return new SessionError('config', `${head} could not be started: ${this.spawnError.message}`, { host: this.options.target, fatal: true });
    }
    const how = exit.signal ? `was killed by ${exit.signal}` : `exited with status ${exit.code}`;
    if (exit.code === 126 || exit.code === 127) {
      return new SessionError('config', `${head} ${how} (command not found or not executable)${said}. Fix ProxyCommand in your ssh_config.`, {
        host: this.options.target,
        fatal: true,
      });
    }
    return new SessionError('proxy-exited', `${head} ${how} before the SSH connection was up${said}`, { host: this.options.target });
  }

  /** Ends the command and everything it started (OpenSSH sends SIGHUP to the proxy). */
  kill(): void {
    if (this.killed) return;
    this.killed = true;
    this.stream.destroy();
    if (this.exitInfo || this.child.pid === undefined) return;
    const pid = this.child.pid;
    if ((this.options.platform ?? process.platform) === 'win32') {
      spawn('taskkill', ['/pid', String(pid), '/T', '/F'], { windowsHide: true, stdio: 'ignore' }).on('error', () => this.child.kill());
      return;
    }
    signalGroup(pid, 'SIGHUP');
    const timer = setTimeout(() => signalGroup(pid, 'SIGKILL'), this.options.killGraceMs ?? 2000);
    timer.unref();
    this.child.once('exit', () => {
      clearTimeout(timer);
      // The leader is gone; anything it left in the group goes too.
      signalGroup(pid, 'SIGKILL');
    });
  }

  private onExit(exit: ProxyExit): void {
    if (this.exitInfo) return;
    this.exitInfo = exit;
    const how = exit.signal ? `killed by ${exit.signal}` : `exit status ${exit.code}`;
    this.options.logger.debug(`${this.options.target}: ProxyCommand ended (${how})`);
    for (const w of this.exitWaiters.splice(0)) w();
  }
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // Already gone.
  }
}

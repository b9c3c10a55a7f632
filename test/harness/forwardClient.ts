import { spawn, type ChildProcess } from 'node:child_process';
import * as net from 'node:net';
import { cliPath } from '../../tools/peers/repo';
import { sleep } from './bounded';

/** SKA_BENCH_CLI=<path to another cli.js> compares another build (e.g. main's) with ssh. */
const benchedCli = process.env.SKA_BENCH_CLI || cliPath;

export type Tool = 'ssh-keepalive' | 'ssh';
export const tools: readonly Tool[] = ['ssh-keepalive', 'ssh'];

/** How a client reaches the server: an ssh_config whose Host `alias` points at sshd or at a delay line in front of it. */
export interface ClientPath {
  configPath: string;
  alias: string;
}

export interface RunningClient {
  readonly tool: Tool;
  readonly pid: number;
  /** ms from spawn until a byte went through the first forward and back. */
  readonly readyMs: number;
  stop(): Promise<void>;
}

/** One local forward to `127.0.0.1:targetPort`, listening on `localPort`. */
export interface Forward {
  localPort: number;
  targetPort: number;
}

/**
 * Starts `ssh -N` or `node dist/cli.js -N` with the same arguments, and waits until the first
 * forward carries a byte both ways (with ssh-keepalive the listener is bound before the session
 * is up, so a bound port proves nothing). `forwards` may be empty: then it waits `settleMs`.
 */
export async function startClient(tool: Tool, path: ClientPath, forwards: Forward[], extra: string[] = [], settleMs = 1500): Promise<RunningClient> {
  const args = ['-F', path.configPath, '-N', ...extra];
  for (const f of forwards) args.push('-L', `127.0.0.1:${f.localPort}:127.0.0.1:${f.targetPort}`);
  args.push(path.alias);
  const started = performance.now();
  // No agent: both log in with the key in the config, whatever the caller's shell holds.
  const opts = { stdio: 'ignore' as const, env: { ...process.env, SSH_AUTH_SOCK: '' } };
  const child = tool === 'ssh' ? spawn('ssh', args, opts) : spawn(process.execPath, [benchedCli, ...args], opts);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await Promise.race([exited, sleep(3000).then(() => child.kill('SIGKILL'))]);
  };
  try {
    if (forwards.length > 0) await waitForEcho(child, forwards[0].localPort, 20_000, tool);
    else await sleep(settleMs);
  } catch (e) {
    await stop();
    throw e;
  }
  return { tool, pid: child.pid!, readyMs: performance.now() - started, stop };
}

/** Connects to the forward and waits for one byte to come back from the echo target, retrying until `timeoutMs`. */
async function waitForEcho(child: ChildProcess, port: number, timeoutMs: number, tool: Tool): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${tool} exited with status ${child.exitCode} before its forward on port ${port} worked`);
    if (await echoOnce(port, Math.max(1, deadline - performance.now()))) return;
    await sleep(5);
  }
  throw new Error(`${tool}: no echo through the forward on port ${port} within ${timeoutMs} ms`);
}

/** true when a byte sent to 127.0.0.1:port came back before timeoutMs. */
export function echoOnce(port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port, noDelay: true });
    const done = (ok: boolean) => {
      clearTimeout(timer);
      s.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    s.once('connect', () => s.write('x'));
    s.once('data', () => done(true));
    s.once('error', () => done(false));
    s.once('close', () => done(false));
  });
}

import { spawn } from 'node:child_process';
import { cliPath } from '../../tools/peers/repo';

export interface Ran {
  stdout: string;
  stderr: string;
  /** null when killed at the deadline. */
  code: number | null;
  timedOut: boolean;
}

export interface RunOptions {
  /** Killed (SIGKILL, with every process it started) after this; `timedOut` says so. */
  timeoutMs?: number;
  /** Merged over process.env; undefined values remove a variable. */
  env?: NodeJS.ProcessEnv;
}

/**
 * Runs one client to its end, bounded. For tests that compare ssh-keepalive with OpenSSH's
 * `ssh` on the same input: `runSsh` and `runCli` take the same arguments.
 */
export function runProgram(command: string, args: string[], options: RunOptions = {}): Promise<Ran> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const [k, v] of Object.entries(options.env ?? {})) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return new Promise((resolve) => {
    // Its own process group, so that the deadline also kills what a shell script started:
    // an orphan holding stdout open would keep 'close' from ever firing.
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env, detached: true });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        if (child.pid === undefined) throw new Error('not started');
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    }, options.timeoutMs ?? 20_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ stdout, stderr, code, timedOut });
    });
  });
}

export const runSsh = (args: string[], options?: RunOptions): Promise<Ran> => runProgram('ssh', args, options);
export const runCli = (args: string[], options?: RunOptions): Promise<Ran> => runProgram(process.execPath, [cliPath, ...args], options);

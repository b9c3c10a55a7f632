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
  /** Killed (SIGKILL) after this; `timedOut` says so. */
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
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, options.timeoutMs ?? 20_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ stdout, stderr, code, timedOut });
    });
  });
}

export const runSsh = (args: string[], options?: RunOptions): Promise<Ran> => runProgram('ssh', args, options);
export const runCli = (args: string[], options?: RunOptions): Promise<Ran> => runProgram(process.execPath, [cliPath, ...args], options);

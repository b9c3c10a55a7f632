import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Natlab } from '../../tools/peers/natlab';
import { httpPort, type Lab } from '../../tools/peers/natlabSshd';
import { cliPath } from '../../tools/peers/repo';

export interface CliEventRecord {
  event: string;
  at: number;
  [key: string]: unknown;
}

/** ssh-keepalive running in the client namespace with --events; events are collected with arrival times. */
export class KeepaliveCli {
  readonly events: CliEventRecord[] = [];
  readonly stderr: string[] = [];
  readonly child: ChildProcess;
  private waiters: Array<() => void> = [];

  constructor(lab: Lab, localPort: number, extraArgs: string[] = []) {
    const { natlab, sshd } = lab;
    this.child = natlab.spawn(natlab.clientNs, process.execPath, [
      cliPath,
      '-F',
      sshd.sshConfigPath,
      '-N',
      '-L',
      `127.0.0.1:${localPort}:127.0.0.1:${httpPort}`,
      '-o',
      'BatchMode=yes',
      '-o',
      'ExitOnForwardFailure=yes',
      '--events',
      ...extraArgs,
      sshd.alias,
    ]);
    createInterface({ input: this.child.stderr! }).on('line', (line) => {
      try {
        const e = JSON.parse(line) as CliEventRecord;
        e.at = Date.now();
        this.events.push(e);
      } catch {
        this.stderr.push(line);
      }
      for (const w of this.waiters.splice(0)) w();
    });
  }

  kinds(since = 0): string[] {
    return this.events.filter((e) => e.at >= since).map((e) => e.event);
  }

  /** Resolves with the first event (arrived at or after `since`) that matches. */
  waitFor(pred: (e: CliEventRecord) => boolean, timeoutMs: number, since = 0): Promise<CliEventRecord> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const hit = this.events.find((e) => e.at >= since && pred(e));
        if (hit) {
          clearTimeout(timer);
          resolve(hit);
          return true;
        }
        return false;
      };
      const timer = setTimeout(() => {
        reject(new Error(`timed out after ${timeoutMs} ms; events: ${JSON.stringify(this.events.map((e) => e.event))}; stderr: ${this.stderr.join(' | ')}`));
      }, timeoutMs);
      const loop = () => {
        if (!check()) this.waiters.push(loop);
      };
      loop();
    });
  }

  stop(): Promise<void> {
    return new Promise((resolve) => {
      if (this.child.exitCode !== null || this.child.signalCode !== null) return resolve();
      this.child.once('exit', () => resolve());
      this.child.kill('SIGTERM');
    });
  }
}

/** One HTTP GET through a forward from inside the client namespace; ok with the time it took. */
export async function fetchThrough(natlab: Natlab, port: number, timeoutSec: number): Promise<{ ok: boolean; ms: number; out: string }> {
  const t0 = Date.now();
  const r = await natlab.exec(natlab.clientNs, 'curl', ['-s', '--max-time', String(timeoutSec), `http://127.0.0.1:${port}/`], {
    timeoutMs: timeoutSec * 1000 + 2000,
  });
  return { ok: r.code === 0 && r.stdout.includes('hello from the server side'), ms: Date.now() - t0, out: r.stdout + r.stderr };
}

/** Polls with short fetches until one succeeds; returns ms from `since` to the first success. */
export async function timeToWorkingForward(natlab: Natlab, port: number, since: number, limitMs: number, attemptSec = 2): Promise<number | undefined> {
  while (Date.now() - since < limitMs) {
    const r = await fetchThrough(natlab, port, attemptSec);
    if (r.ok) return Date.now() - since;
    await new Promise((res) => setTimeout(res, 100));
  }
  return undefined;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
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
  /** When each stderr line arrived (Date.now()), for logs that need the timing. */
  readonly stderrAt: number[] = [];
  readonly child: ChildProcess;
  private waiters: Array<() => void> = [];

  /** The CLI's state directory (XDG_STATE_HOME: the keepalive intervals it learned per network). */
  readonly stateDir: string;
  private readonly ownsStateDir: boolean;

  /**
   * `stateDir`: share what an earlier run learned; by default each run gets a fresh one, so
   * that a lesson learned in one test (the natlab's network is the same every time) never
   * changes another, nor the user's own ~/.local/state.
   */
  constructor(lab: Lab, localPort: number, extraArgs: string[] = [], stateDir?: string) {
    const { natlab, sshd } = lab;
    this.ownsStateDir = stateDir === undefined;
    this.stateDir = stateDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'ska-cli-state-'));
    this.child = natlab.spawn(
      natlab.clientNs,
      process.execPath,
      [
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
      ],
      { env: { ...process.env, XDG_STATE_HOME: this.stateDir } },
    );
    createInterface({ input: this.child.stderr! }).on('line', (line) => {
      try {
        const e = JSON.parse(line) as CliEventRecord;
        e.at = Date.now();
        this.events.push(e);
      } catch {
        this.stderr.push(line);
        this.stderrAt.push(Date.now());
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

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => {
      if (this.child.exitCode !== null || this.child.signalCode !== null) return resolve();
      this.child.once('exit', () => resolve());
      this.child.kill('SIGTERM');
    });
    if (this.ownsStateDir) fs.rmSync(this.stateDir, { recursive: true, force: true });
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

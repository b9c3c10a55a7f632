/** The test side of forwardDriver.js: starts it in the client namespace and reads its events. */
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Lab } from '../../tools/peers/natlabSshd';

const driverPath = join(__dirname, 'forwardDriver.js');

export interface DriverEvent {
  event: string;
  t: number;
  [key: string]: unknown;
}

/** A child process that prints one JSON event per line on stdout; its events, with arrival times, and its log (stderr). */
export class JsonEventProcess {
  readonly events: DriverEvent[] = [];
  readonly log: string[] = [];
  private waiters: Array<() => void> = [];

  constructor(readonly child: ChildProcess) {
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      try {
        const e = JSON.parse(line) as DriverEvent;
        // Processes that do not stamp their events get their arrival time.
        e.t ??= Date.now();
        this.events.push(e);
      } catch {
        this.log.push(line);
      }
      for (const w of this.waiters.splice(0)) w();
    });
    createInterface({ input: this.child.stderr! }).on('line', (line) => this.log.push(line));
  }

  waitFor(pred: (e: DriverEvent) => boolean, timeoutMs: number, since = 0): Promise<DriverEvent> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new Error(
              `timed out after ${timeoutMs} ms; events:\n${this.events.map((e) => JSON.stringify(e)).join('\n')}\nlog:\n${this.log.slice(-30).join('\n')}`,
            ),
          ),
        timeoutMs,
      );
      const check = () => {
        const hit = this.events.find((e) => e.t >= since && pred(e));
        if (hit) {
          clearTimeout(timer);
          resolve(hit);
        } else {
          this.waiters.push(check);
        }
      };
      check();
    });
  }

  forwardStates(kind: string, since = 0): string[] {
    return this.events.filter((e) => e.event === 'forward' && e.kind === kind && e.t >= since).map((e) => `${e.state}${e.reason ? `: ${e.reason}` : ''}`);
  }

  stop(): Promise<void> {
    return new Promise((resolve) => {
      if (this.child.exitCode !== null || this.child.signalCode !== null) return resolve();
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 3000);
      this.child.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      this.child.kill('SIGTERM');
    });
  }
}

/** forwardDriver.js in the client namespace. */
export class Driver extends JsonEventProcess {
  constructor(lab: Lab, args: string[], keepalive = '2000:3') {
    const { natlab, sshd } = lab;
    super(
      natlab.spawn(natlab.clientNs, process.execPath, [driverPath, '--config', sshd.sshConfigPath, '--alias', sshd.alias, '--keepalive', keepalive, ...args], {
        stdio: ['pipe', 'pipe', 'pipe'],
      }),
    );
  }
}

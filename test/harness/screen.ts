import assert from 'node:assert/strict';
import type { Event } from '../../src/core/base/event';
import type { DroppedInput, ShellState } from '../../src/core/shell/remoteShell';

/** What a Screen watches: a RemoteShell or a KeptShell. */
export interface ScreenSource {
  readonly state: ShellState;
  readonly onDidData: Event<string>;
  readonly onDidChangeState: Event<ShellState>;
  readonly onDidDropInput: Event<DroppedInput>;
  write(data: string): boolean;
}

/** Everything a shell printed, with terminal escape sequences removed, searchable from a mark. */
export class Screen<S extends ScreenSource = ScreenSource> {
  private text = '';
  private waiters: Array<() => void> = [];
  readonly states: ShellState[] = [];
  readonly drops: DroppedInput[] = [];

  constructor(readonly shell: S) {
    shell.onDidData((d) => {
      this.text += d;
      for (const w of this.waiters.splice(0)) w();
    });
    shell.onDidChangeState((s) => this.states.push(s));
    shell.onDidDropInput((d) => this.drops.push(d));
  }

  /** Plain text: CSI/OSC/charset sequences and carriage returns dropped. */
  get plain(): string {
    // eslint-disable-next-line no-control-regex
    return this.text.replace(/\x1b\[[0-9;?>=]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(\x07|\x1b\\)|\x1b[()][0-9A-Za-z]|\x1b[=>78DEHMc]|\r/g, '');
  }

  mark(): number {
    return this.plain.length;
  }

  waitFor(re: RegExp, timeoutMs = 10_000, from = 0): Promise<RegExpExecArray> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== check);
        reject(new Error(`timed out waiting for ${re}; screen tail: ${JSON.stringify(this.plain.slice(-600))}`));
      }, timeoutMs);
      const check = () => {
        const m = re.exec(this.plain.slice(from));
        if (m) {
          clearTimeout(timer);
          resolve(m);
        } else {
          this.waiters.push(check);
        }
      };
      check();
    });
  }

  /** Types a command and waits for what it prints (matched after the typed line itself). */
  async run(command: string, expect: RegExp, timeoutMs = 10_000): Promise<RegExpExecArray> {
    const from = this.mark();
    assert.equal(this.shell.write(`${command}\r`), true, `write refused in state ${JSON.stringify(this.shell.state)}`);
    return this.waitFor(expect, timeoutMs, from);
  }
}

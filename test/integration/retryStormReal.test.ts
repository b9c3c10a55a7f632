import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cliPath } from '../../tools/peers/repo';
import { freePort } from '../../tools/peers/sshd';

/**
 * The fake-clock bound of test/unit/retryStorm.test.ts (at most one path-down attempt a
 * second), once in real time with the CLI as shipped: 15 s against a loopback port where
 * nothing listens, counting the `connecting` events it prints.
 */

const RUN_MS = 15_000;

test('the CLI against a closed port: at most one attempt a second for 15 s, and it keeps trying', async (t) => {
  const port = await freePort();
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'ska-storm-home-'));
  t.after(() => fs.rmSync(home, { recursive: true, force: true }));
  const child = spawn(process.execPath, [cliPath, '-F', '/dev/null', '-N', '--events', '-o', 'BatchMode=yes', '-p', String(port), '127.0.0.1'], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { PATH: process.env.PATH, HOME: home, XDG_STATE_HOME: path.join(home, 'state') },
  });
  const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
  t.after(() => {
    child.kill('SIGKILL');
    return exited;
  });
  let stderr = '';
  const starts: number[] = [];
  let lineStart = 0;
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
    let nl: number;
    while ((nl = stderr.indexOf('\n', lineStart)) >= 0) {
      const line = stderr.slice(lineStart, nl);
      lineStart = nl + 1;
      if (line.startsWith('{') && (JSON.parse(line) as { event: string }).event === 'connecting') starts.push(Date.now());
    }
  });
  const began = Date.now();
  await new Promise((r) => setTimeout(r, RUN_MS)); // the duration is what is measured
  child.kill('SIGTERM');
  await exited;
  const inWindow = starts.filter((s) => s - began < RUN_MS);
  const gaps = inWindow.slice(1).map((s, i) => s - inWindow[i]);
  t.diagnostic(`${inWindow.length} attempts in ${RUN_MS} ms; gaps ms: min ${Math.min(...gaps)} max ${Math.max(...gaps)}`);
  assert.ok(inWindow.length <= RUN_MS / 1000 + 1, `at most one attempt a second: ${inWindow.length} in ${RUN_MS} ms\n${stderr}`);
  assert.ok(inWindow.length >= 8, `it keeps trying about every 1-1.4 s: ${inWindow.length}\n${stderr}`);
  // Event lines are stamped when written: a little scheduling slack under the 1 s floor.
  assert.ok(Math.min(...gaps) >= 950, `never two attempts within a second: ${gaps.join(', ')}`);
});

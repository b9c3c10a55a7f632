import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { test } from 'node:test';
import type { Client } from 'ssh2';
import { KeeperError } from '../../src/core/keeper/errors';
import { execWithInput } from '../../src/core/keeper/installer';

/** An exec channel that records what happened to it. */
class FakeChannel extends EventEmitter {
  readonly stderr = new EventEmitter();
  written: string[] = [];
  destroyed = false;
  ended = false;
  write(b: Buffer): boolean {
    this.written.push(b.toString());
    return true;
  }
  end(): void {
    this.ended = true;
  }
  destroy(): void {
    this.destroyed = true;
  }
}

function clientAnsweringAfter(ms: number, channel: FakeChannel): Client {
  return { exec: (_cmd: string, cb: (err: Error | undefined, ch: FakeChannel) => void) => setTimeout(() => cb(undefined, channel), ms) } as unknown as Client;
}

test('keeper start: an exec answered after the deadline is destroyed at once, and nothing is written to it', async () => {
  const late = new FakeChannel();
  await assert.rejects(
    execWithInput(clientAnsweringAfter(40, late), 'python3 ...', [Buffer.from('program')], 10),
    (err: unknown) => err instanceof KeeperError && err.reason === 'timeout',
  );
  await new Promise((r) => setTimeout(r, 80));
  assert.equal(late.destroyed, true, 'the late channel is closed');
  assert.deepEqual(late.written, [], 'the program (and its secret) never went to a channel nobody waits for');
});

test('keeper start: output and exit status are collected once the command ends', async () => {
  const ch = new FakeChannel();
  const run = execWithInput(clientAnsweringAfter(1, ch), 'python3 ...', [Buffer.from('a'), Buffer.from('b')], 1000);
  await new Promise((r) => setTimeout(r, 10));
  ch.emit('data', Buffer.from('{"ok": true}\n'));
  ch.stderr.emit('data', Buffer.from('warning\n'));
  ch.emit('exit', 0);
  ch.emit('close');
  assert.deepEqual(await run, { code: 0, stdout: '{"ok": true}\n', stderr: 'warning\n' });
  assert.deepEqual(ch.written, ['a', 'b']);
  assert.equal(ch.ended, true);
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { disconnectQuestion, keepShellsButton, leftRunningNote } from '../../src/vscode/disconnectText';

test('no terminal: Disconnect asks nothing', () => {
  assert.equal(disconnectQuestion(['lab'], []), undefined);
});

test('terminals open: the question names how many and that their processes end', () => {
  const q = disconnectQuestion(['lab'], ['tmux', 'keeper']);
  assert.ok(q);
  assert.equal(q.message, 'Disconnect lab?');
  assert.match(q.detail, /^2 terminals are open on lab\. Disconnecting closes them and ends their remote shells and every process running in them\./);
  assert.match(q.detail, /leaves the shells running on the server \(tmux and the session keeper\)/);
  assert.deepEqual(q.buttons, ['Disconnect', keepShellsButton]);
});

test('shells nothing keeps: no offer to keep them', () => {
  const q = disconnectQuestion(['lab'], ['none']);
  assert.ok(q);
  assert.match(q.detail, /^1 terminal is open on lab\. Disconnecting closes it and ends its remote shell/);
  assert.deepEqual(q.buttons, ['Disconnect']);
});

test('Disconnect during an outage says what may still run on the server and how to end it', () => {
  assert.equal(leftRunningNote('lab', ['none'], 24), undefined);
  const note = leftRunningNote('lab', ['tmux', 'keeper'], 24);
  assert.match(
    note ?? '',
    /^lab could not be reached, so its 2 shells may still run there: 1 in tmux .*"ssh lab tmux ls".*; 1 in the session keeper \(it ends them by itself after 24 h/,
  );
});

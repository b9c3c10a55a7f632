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
  assert.equal(leftRunningNote('lab', [{ keeping: 'none' }], 24), undefined);
  const note = leftRunningNote('lab', [{ keeping: 'tmux', tmuxSession: 'ska-t1' }, { keeping: 'keeper' }], 24);
  assert.equal(
    note,
    'lab could not be reached, so its 2 shells may still run there: 1 in tmux (end it with "ssh lab tmux -L ska-t1 kill-server"); ' +
      '1 in the session keeper (it ends them by itself after 24 h without a client: sshKeepalive.keeper.idleTimeoutHours).',
  );
  // Each tmux session by name, one command each.
  assert.match(
    leftRunningNote(
      'lab',
      [
        { keeping: 'tmux', tmuxSession: 'ska-a' },
        { keeping: 'tmux', tmuxSession: 'ska-b' },
      ],
      24,
    ) ?? '',
    /end them with "ssh lab tmux -L ska-a kill-server", "ssh lab tmux -L ska-b kill-server"/,
  );
  // A name not known: how to find it.
  assert.match(
    leftRunningNote('lab', [{ keeping: 'tmux' }], 24) ?? '',
    /list them with "ssh lab 'ls \$\{TMUX_TMPDIR:-\/tmp\}\/tmux-\$\(id -u\)'" \(sockets named ska-…\), end one with "ssh lab tmux -L <name> kill-server"/,
  );
});

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { checkEnvName, sanitizeId, shellQuote } from '../../src/core/shell/multiplexer';
import { Tmux } from '../../src/core/shell/tmux';

test('sanitizeId keeps clean ids and maps the rest to distinct [A-Za-z0-9_-] names', () => {
  assert.equal(sanitizeId('term-1_A'), 'term-1_A');
  const a = sanitizeId('a.b');
  const b = sanitizeId('a_b');
  assert.match(a, /^a_b-[0-9a-f]{8}$/);
  assert.equal(b, 'a_b');
  assert.notEqual(a, b, 'two ids never share a name');
  for (const id of ['$(reboot)', "'; rm -rf ~ '", '', '-L', 'x'.repeat(200), 'ü/ß']) {
    assert.match(sanitizeId(id), /^[A-Za-z0-9_][A-Za-z0-9_-]{0,59}$/, id);
  }
});

test('shellQuote: bare words stay bare, everything else survives a POSIX shell unchanged', () => {
  assert.equal(shellQuote('tmux'), 'tmux');
  assert.equal(shellQuote(';'), `';'`);
  assert.equal(shellQuote('=name'), `'=name'`, 'zsh would expand a bare =word');
  for (const word of [`it's`, '$(id) `id` $HOME', 'a\nb', ' ', '\\', "''", '=x']) {
    const r = spawnSync('sh', ['-c', `printf %s ${shellQuote(word)}`], { encoding: 'utf8' });
    assert.equal(r.stdout, word);
  }
});

test('checkEnvName accepts identifiers only', () => {
  checkEnvName('SKA_X1');
  checkEnvName('_a');
  for (const bad of ['1X', 'A-B', 'A B', 'A=B', '', 'X;id']) assert.throws(() => checkEnvName(bad), /invalid environment variable name/);
});

test('tmux commands: own server per terminal, options before the session, env through the launch command', () => {
  const tmux = new Tmux();
  const name = tmux.sessionName('vscode/term 7');
  assert.match(name, /^ska-vscode_term_7-[0-9a-f]{8}$/);
  assert.equal(tmux.hasSessionCommand(name), `tmux -L ${name} has-session -t '=${name}'`);
  assert.equal(tmux.killCommand(name), `tmux -L ${name} kill-server`);
  assert.equal(
    tmux.launchCommand(name, { env: { A: "it's $HOME" }, command: 'htop -d 5' }),
    `env 'A=it'\\''s $HOME' tmux -L ${name} start-server ';' set-option -g status off ';' set-option -g history-limit 50000 ';' new-session -A -D -s ${name} 'htop -d 5'`,
  );
  assert.equal(new Tmux({ statusBar: true, historyLimit: 10 }).launchCommand('n', {}), `tmux -L n start-server ';' set-option -g status on ';' set-option -g history-limit 10 ';' new-session -A -D -s n`);
  assert.throws(() => tmux.launchCommand('bad name', {}), /invalid tmux session name/);
  assert.throws(() => tmux.launchCommand('n', { env: { 'X;id': '1' } }), /invalid environment variable name/);
});

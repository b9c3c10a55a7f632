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
  // What tmux itself is asked, and with which environment: run through a real sh with a fake tmux.
  const launched = runWithFakeTmux(tmux.launchCommand(name, { env: { A: "it's $HOME" }, command: 'htop -d 5' }));
  assert.deepEqual(launched.calls[0], [
    '-L',
    name,
    'start-server',
    ';',
    'set-option',
    '-g',
    'status',
    'off',
    ';',
    'set-option',
    '-g',
    'history-limit',
    '50000',
    ';',
    'new-session',
    '-A',
    '-D',
    '-s',
    name,
    launched.calls[0].at(-1)!,
  ]);
  assert.equal(launched.env, "A=it's $HOME");
  const plain = runWithFakeTmux(new Tmux({ statusBar: true, historyLimit: 10 }).launchCommand('n', {}));
  assert.deepEqual(plain.calls[0].slice(0, -1), [
    '-L',
    'n',
    'start-server',
    ';',
    'set-option',
    '-g',
    'status',
    'on',
    ';',
    'set-option',
    '-g',
    'history-limit',
    '10',
    ';',
    'new-session',
    '-A',
    '-D',
    '-s',
    'n',
  ]);
  const killCalls = runWithFakeTmux(tmux.killCommand(name)).calls;
  assert.deepEqual(killCalls[0], ['-L', name, 'list-panes', '-a', '-F', '#{pane_pid}']);
  assert.deepEqual(killCalls[1], ['-L', name, 'kill-server']);
  assert.throws(() => tmux.launchCommand('bad name', {}), /invalid tmux session name/);
  assert.throws(() => tmux.launchCommand('n', { env: { 'X;id': '1' } }), /invalid environment variable name/);
});

test("tmux launch: the shell's exit status comes back through the client, and the server's socket and status files are removed", () => {
  const tmux = new Tmux();
  const exited = runWithFakeTmux(tmux.launchCommand('st', { command: 'echo from-pane; exit 7' }));
  assert.equal(exited.code, 7, exited.stderr);
  assert.match(exited.stdout, /from-pane/);
  assert.deepEqual(exited.leftInSocketDir, [], 'socket and status file removed once the server is gone');
  // A client that was only detached (the server still runs) exits 0 and leaves the server's files.
  const detached = runWithFakeTmux(tmux.launchCommand('st', { command: 'exit 3' }), { serverStays: true });
  assert.equal(detached.code, 0, detached.stderr);
  assert.deepEqual(detached.leftInSocketDir.sort(), ['st', 'st.status']);
  // kill-server leaves the socket file behind in real tmux: the kill command removes it.
  const killed = runWithFakeTmux(tmux.killCommand('st'), { socketExists: true });
  assert.deepEqual(killed.leftInSocketDir, []);
  // A pane's wrapper that writes its status a moment after kill-server (as real panes do when
  // they get their hangup): the kill command waits for it before cleaning up.
  const late = runWithFakeTmux(tmux.killCommand('st'), { socketExists: true, lateStatusWriter: true });
  assert.deepEqual(late.leftInSocketDir, []);
});

/**
 * Runs a launch or kill command through a real POSIX sh with a stand-in `tmux` on PATH: it
 * records its arguments and environment; `new-session` creates the socket file and runs the
 * pane command as tmux would (with $TMUX set to "socket,pid,session").
 */
function runWithFakeTmux(command: string, opts: { serverStays?: boolean; socketExists?: boolean; lateStatusWriter?: boolean } = {}) {
  const { mkdtempSync, writeFileSync, readFileSync, readdirSync, mkdirSync, existsSync } = require('node:fs') as typeof import('node:fs');
  const { join } = require('node:path') as typeof import('node:path');
  const dir = mkdtempSync(join(require('node:os').tmpdir(), 'ska-faketmux-'));
  const socketDir = join(dir, `tmux-${process.getuid?.() ?? 0}`);
  mkdirSync(socketDir);
  if (opts.socketExists) writeFileSync(join(socketDir, 'st'), '');
  const rec = join(dir, 'calls');
  writeFileSync(
    join(dir, 'tmux'),
    [
      '#!/bin/sh',
      'for a in "$@"; do printf "%s\\0" "$a"; done >> "$REC"; printf "\\n" >> "$REC"',
      '[ -f "$REC.env" ] || echo "A=$A" > "$REC.env"',
      'case " $* " in',
      '  *" new-session "*) for last; do :; done; : > "$TMUX_TMPDIR/tmux-$(id -u)/$2"; TMUX="$TMUX_TMPDIR/tmux-$(id -u)/$2,1,0" SHELL=/bin/sh sh -c "$last"; exit 0 ;;',
      `  *" has-session "*) exit ${opts.serverStays ? 0 : 1} ;;`,
      ...(opts.lateStatusWriter
        ? ['  *" list-panes "*) (sleep 0.3; echo 129 > "$TMUX_TMPDIR/tmux-$(id -u)/$2.status") >/dev/null 2>&1 & echo $!; exit 0 ;;']
        : []),
      'esac',
      'exit 0',
      '',
    ].join('\n'),
    { mode: 0o755 },
  );
  const r = spawnSync('sh', ['-c', command], { encoding: 'utf8', env: { PATH: `${dir}:${process.env.PATH}`, TMUX_TMPDIR: dir, REC: rec, HOME: dir } });
  const calls = existsSync(rec)
    ? readFileSync(rec, 'latin1')
        .split('\n')
        .filter(Boolean)
        .map((line) => line.split('\0').slice(0, -1))
    : [];
  const env = existsSync(`${rec}.env`) ? readFileSync(`${rec}.env`, 'utf8').trim() : '';
  const leftInSocketDir = readdirSync(socketDir);
  require('node:fs').rmSync(dir, { recursive: true, force: true });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, calls, env, leftInSocketDir };
}

// The vscode-free models behind the extension's UI (no 'vscode' import anywhere here).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { describeDestination } from '../../src/core/base/hostPort';
import { SessionError } from '../../src/core/session/errors';
import { emptyCounters } from '../../src/core/forward/types';
import { escapeMarkdown, formatBytes, formatDuration, formatRtt, formatSince, secondsLeft } from '../../src/vscode/format';
import { forwardConnectionLines, forwardDescription } from '../../src/vscode/forwardText';
import { parseForwardInput } from '../../src/vscode/forwardInput';
import { OutageHistory } from '../../src/vscode/outageHistory';
import { normalizeSettings, sessionDefaults } from '../../src/vscode/settingsModel';
import { dimLine, inputRefusedLine, lostLine, restoredLine } from '../../src/vscode/terminalText';
import { WorkspaceMemory, type MementoLike } from '../../src/vscode/workspaceMemory';

test('durations, RTTs and byte counts read naturally', () => {
  assert.equal(formatDuration(850), '850 ms');
  assert.equal(formatDuration(12_400), '12 s');
  assert.equal(formatDuration(184_000), '3 min 4 s');
  assert.equal(formatDuration(7_500_000), '2 h 5 min');
  assert.equal(formatDuration(3 * 86_400_000 + 4 * 3_600_000), '3 d 4 h');
  assert.equal(formatRtt(0.44), '0.4 ms');
  assert.equal(formatRtt(123.6), '124 ms');
  assert.equal(formatBytes(812), '812 B');
  assert.equal(formatBytes(1250), '1.2 KB');
  assert.equal(formatBytes(35 * 1024 * 1024), '35 MB');
  assert.equal(secondsLeft(1000, 0), 1);
  assert.equal(secondsLeft(1001, 0), 2);
  assert.equal(secondsLeft(0, 5), 0);
  assert.equal(escapeMarkdown('a*b_[c](d)'), 'a\\*b\\_\\[c\\]\\(d\\)');
});

test('a destination as the hosts view, the host picker and the status tooltip show it: port only when not 22, IPv6 bracketed', () => {
  assert.equal(describeDestination('db.example', 22, 'alice'), 'alice@db.example');
  assert.equal(describeDestination('db.example', 2222, 'alice'), 'alice@db.example:2222');
  assert.equal(describeDestination('db.example'), 'db.example');
  // Without brackets "::1:2222" reads as an address, not as port 2222 of ::1.
  assert.equal(describeDestination('::1', 2222, 'alice'), 'alice@[::1]:2222');
  assert.equal(describeDestination('::1', 22), '::1');
});

test('outage history records cause and length, newest first, bounded', () => {
  const h = new OutageHistory(2);
  h.observe({ kind: 'lost', reason: 'first', at: 1000 });
  h.observe({ kind: 'connected', since: 2000, rttMs: 1 }, 2000);
  h.observe({ kind: 'lost', reason: 'second', at: 5000 });
  assert.deepEqual(h.current, { start: 5000, cause: 'second' });
  h.observe({ kind: 'failed', error: new SessionError('auth-failed', 'denied'), at: 6000 });
  h.observe({ kind: 'lost', reason: 'third', at: 9000 });
  assert.deepEqual(h.outages, [
    { start: 9000, cause: 'third' },
    { start: 5000, end: 6000, cause: 'second; then: denied' },
  ]);
});

test('settings are clamped and become session defaults', () => {
  const s = normalizeSettings({ autoConnect: ['a', ' a ', 3, ''], configFile: '  ', keepaliveInterval: -5, keepaliveCountMax: 2.6, reconnectMaxDelay: 10 });
  assert.deepEqual(s.autoConnect, ['a']);
  assert.equal(s.configFile, undefined);
  assert.equal(s.keepaliveInterval, 0);
  assert.equal(s.keepaliveCountMax, 3);
  const d = sessionDefaults({ ...s, keepaliveInterval: 20, keepaliveCountMax: 4 });
  assert.equal(d.keepalive?.intervalMs, 20_000);
  assert.equal(d.keepalive?.countMax, 4);
  assert.equal(d.backoff?.maxMs, 10_000);
  assert.ok((d.backoff?.initialMs ?? 0) <= 10_000);
});

test('forward descriptions show state and counters, or why it failed', () => {
  assert.equal(forwardDescription({ kind: 'active' }, emptyCounters()), 'active');
  assert.equal(
    forwardDescription({ kind: 'active' }, { ...emptyCounters(), openConnections: 2, totalConnections: 5, bytesIn: 2048, bytesOut: 100 }),
    'active · 2 open · 5 total · 2 KB in · 100 B out',
  );
  assert.equal(forwardDescription({ kind: 'active' }, emptyCounters(), true), 'active · kept');
  assert.equal(forwardDescription({ kind: 'failed', reason: 'port in use' }, emptyCounters(), true), 'failed: port in use');
});

test('a forward tooltip says what was carried through outages and what kept means', () => {
  const kept = forwardConnectionLines({ ...emptyCounters(), openConnections: 1, totalConnections: 3, carriedConnections: 2 }, true);
  assert.deepEqual(kept.slice(0, 2), ['Connections: 1 open, 3 total', 'Carried through an outage: 2']);
  assert.match(kept[kept.length - 1], /^Kept: .*outlive drops and outages/);
  const plain = forwardConnectionLines(emptyCounters(), false);
  assert.equal(plain.length, 2);
  assert.match(plain[1], /^Not kept: a drop ends the open connections/);
});

test('terminal notes are single dim lines', () => {
  assert.equal(dimLine('x'), '\r\n\x1b[2mx\x1b[0m\r\n');
  for (const line of [lostLine('web', 'reset'), restoredLine('web', true, 'tmux', 2000), restoredLine('web', false, undefined, 1000), inputRefusedLine()]) {
    // eslint-disable-next-line no-control-regex -- the dim escape sequence is what is checked
    assert.match(line, /^\r\n\x1b\[2m[^\r\n]+\x1b\[0m\r\n$/);
  }
  assert.match(restoredLine('web', true, 'tmux', 2000), /reattached to the tmux session/);
  assert.match(restoredLine('web', false, undefined, 1000), /new shell.*Install tmux/);
  assert.match(restoredLine('web', false, undefined, 1000, false), /new shell.*sshKeepalive\.reattach is off/);
  assert.doesNotMatch(restoredLine('web', false, 'tmux', 1000), /Install tmux/);
});

test('workspace memory keeps user forwards and connected hosts', async () => {
  const store = new Map<string, unknown>();
  const memento: MementoLike = { get: <T>(k: string) => store.get(k) as T | undefined, update: async (k, v) => void store.set(k, v) };
  const m = new WorkspaceMemory(memento);
  const fwd = parseForwardInput('local', '8080:localhost:80');
  await m.addForward('web', fwd);
  await m.addForward('web', fwd);
  await m.setConnected('web', true);
  assert.deepEqual(m.forwards('web'), [fwd]);
  assert.deepEqual(m.connectedHosts(), ['web']);
  await m.removeForward('web', fwd);
  await m.setConnected('web', false);
  assert.deepEqual(m.forwards('web'), []);
  assert.deepEqual(store.get('sshKeepalive.workspace'), { version: 1, hosts: {} });
});

test('error locations: config errors from their fields or message, host key errors as data', async () => {
  const { configLocation } = await import('../../src/vscode/errorText');
  const { ConfigError } = await import('../../src/core/config/types');
  const { HostKeyVerifier } = await import('../../src/core/session/hostKeyPolicy');
  const { noPrompter } = await import('../../src/core/session/prompter');
  const { nullLogger } = await import('../../src/core/base/logger');
  const { utils } = await import('ssh2');
  const { usableEd25519 } = await import('../harness/keys');
  const { mkdtempSync, writeFileSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const blobOf = (pub: string) => {
    const key = utils.parseKey(pub);
    if (key instanceof Error) throw key;
    return key.getPublicSSH();
  };
  const file = join(mkdtempSync(join(tmpdir(), 'ska-loc-')), 'known_hosts');
  const pinned = blobOf(usableEd25519().public);
  writeFileSync(file, `# pinned\n\n[h]:2222 ssh-ed25519 ${pinned.toString('base64')}\n`);
  const verifier = new HostKeyVerifier({ host: 'h', port: 2222, knownHostsFiles: [file], strict: 'yes' }, noPrompter, nullLogger);
  const offered = blobOf(usableEd25519().public);
  const ok = await new Promise<boolean>((resolve) => verifier.verify(offered, resolve));
  assert.equal(ok, false);
  assert.equal(verifier.rejection?.code, 'host-key-changed');
  assert.deepEqual(verifier.rejection?.location, { file, line: 3 });
  assert.equal(verifier.rejection?.host, '[h]:2222');
  // A key that changes between reconnects points at the known_hosts line it contradicts: that
  // is the line to fix (a key approved with no known_hosts entry points at none, hostKeyRecheck).
  assert.equal(await new Promise<boolean>((resolve) => verifier.verify(pinned, resolve)), true);
  assert.equal(await new Promise<boolean>((resolve) => verifier.verify(offered, resolve)), false);
  assert.equal(verifier.rejection?.code, 'host-key-changed');
  assert.deepEqual(verifier.rejection?.location, { file, line: 3 });
  assert.deepEqual(configLocation(new ConfigError('/tmp/c:6: bad Port value "x"')), { file: '/tmp/c', line: 6 });
  assert.deepEqual(configLocation(new ConfigError('msg', '/etc/ssh/x', 2)), { file: '/etc/ssh/x', line: 2 });
  assert.equal(configLocation(new ConfigError('no location')), undefined);
});

test('formatSince: the clock on the same day, the date and minutes on another', () => {
  const at = new Date(2026, 11, 2, 9, 5, 7).getTime();
  assert.equal(formatSince(at, new Date(2026, 11, 2, 23, 0, 0).getTime()), '09:05:07');
  assert.equal(formatSince(at, new Date(2026, 11, 3, 0, 0, 1).getTime()), '2026-12-02 09:05');
});

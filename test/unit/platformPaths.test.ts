import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { makeContext } from '../../src/core/config/resolveContext';
import { resolveHost, WINDOWS_AGENT_PIPE } from '../../src/core/config/sshConfig';

/**
 * Windows path rules and agent defaults, run on any OS by passing the platform: the home
 * directory, ~/.ssh/config, known_hosts and IdentityFile defaults come out as Windows paths,
 * and an unset SSH_AUTH_SOCK means OpenSSH for Windows' agent pipe.
 */

const winHome = 'C:\\Users\\me';

test('Windows: defaults under %USERPROFILE%\\.ssh, and the OpenSSH agent pipe when SSH_AUTH_SOCK is unset', () => {
  const h = resolveHost('box', { platform: 'win32', homeDir: winHome, env: {}, localUser: 'me' });
  assert.deepEqual(h.userKnownHostsFiles, ['C:\\Users\\me\\.ssh\\known_hosts', 'C:\\Users\\me\\.ssh\\known_hosts2']);
  assert.equal(h.identityAgent, WINDOWS_AGENT_PIPE);
  assert.equal(WINDOWS_AGENT_PIPE, '\\\\.\\pipe\\openssh-ssh-agent');
  // A set SSH_AUTH_SOCK wins; an empty one means no agent, as on POSIX.
  assert.equal(resolveHost('box', { platform: 'win32', homeDir: winHome, env: { SSH_AUTH_SOCK: '\\\\.\\pipe\\other' } }).identityAgent, '\\\\.\\pipe\\other');
  assert.equal(resolveHost('box', { platform: 'win32', homeDir: winHome, env: { SSH_AUTH_SOCK: '' } }).identityAgent, undefined);
  // POSIX: unset means no agent.
  assert.equal(resolveHost('box', { platform: 'linux', homeDir: '/home/me', env: {} }).identityAgent, undefined);
});

test('Windows: ~ and relative paths in the config resolve against the Windows home; IdentityAgent pageant', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ska-winpaths-'));
  try {
    const config = join(dir, 'config');
    writeFileSync(
      config,
      [
        'Host box',
        '  IdentityFile ~/.ssh/id_box',
        '  IdentityFile ~\\keys\\second',
        '  IdentityFile relative_key',
        '  UserKnownHostsFile ~/.ssh/kh_box D:\\shared\\known_hosts',
        'Host pag',
        '  IdentityAgent Pageant',
        'Host lin',
        '  IdentityFile ~/.ssh/id_box',
        'Host sock',
        '  IdentityAgent SSH_AUTH_SOCK',
        '',
      ].join('\n'),
    );
    const h = resolveHost('box', { platform: 'win32', homeDir: winHome, configFile: config, env: {} });
    assert.deepEqual(h.identityFiles, ['C:\\Users\\me\\.ssh\\id_box', 'C:\\Users\\me\\keys\\second', 'C:\\Users\\me\\relative_key']);
    assert.deepEqual(h.userKnownHostsFiles, ['C:\\Users\\me\\.ssh\\kh_box', 'D:\\shared\\known_hosts']);
    assert.equal(resolveHost('pag', { platform: 'win32', homeDir: winHome, configFile: config, env: {} }).identityAgent, 'pageant');
    assert.equal(resolveHost('sock', { platform: 'win32', homeDir: winHome, configFile: config, env: {} }).identityAgent, WINDOWS_AGENT_PIPE);
    // The same config on Linux: POSIX paths.
    const l = resolveHost('lin', { platform: 'linux', homeDir: '/home/me', configFile: config, env: {} });
    assert.equal(l.identityFiles[0], '/home/me/.ssh/id_box');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('Windows: the default config file is %USERPROFILE%\\.ssh\\config, the system one and the global known_hosts under %PROGRAMDATA%\\ssh', () => {
  const env = { PROGRAMDATA: 'D:\\ProgramData' };
  const ctx = makeContext({ platform: 'win32', homeDir: winHome, env });
  assert.equal(ctx.configFile, 'C:\\Users\\me\\.ssh\\config');
  assert.equal(ctx.systemConfigFile, 'D:\\ProgramData\\ssh\\ssh_config');
  assert.equal(makeContext({ platform: 'win32', homeDir: winHome, env: {} }).systemConfigFile, 'C:\\ProgramData\\ssh\\ssh_config');
  assert.equal(makeContext({ platform: 'win32', homeDir: winHome, configFile: '~/.ssh/other', env }).configFile, 'C:\\Users\\me\\.ssh\\other');
  // Neither file exists here: the host resolves from defaults.
  const h = resolveHost('box', { platform: 'win32', homeDir: winHome, env, localUser: 'me' });
  assert.equal(h.hostName, 'box');
  assert.equal(h.user, 'me');
  assert.deepEqual(h.globalKnownHostsFiles, ['D:\\ProgramData\\ssh\\ssh_known_hosts', 'D:\\ProgramData\\ssh\\ssh_known_hosts2']);
});

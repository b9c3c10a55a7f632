import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { test } from 'node:test';
import { resolveHost } from '../../src/core/config/sshConfig';
import { ConfigError } from '../../src/core/config/types';
import { home } from '../harness/configHome';

/**
 * The values each multistate option takes (readconf.c's tables): a value ssh accepts must
 * not stop ssh-keepalive, and a value ssh refuses must stop it too, so that one config works
 * the same in both. Each line is checked with `ssh -G` beside `resolveHost`.
 */
const YES_NO = ['yes', 'no', 'true', 'false', 'Yes', 'maybe', ''];
const FLAGS = `batchmode checkhostip clearallforwardings compression enableescapecommandline enablesshkeysign
  exitonforwardfailure forkafterauthentication forwardx11 forwardx11trusted gatewayports gssapiauthentication
  gssapidelegatecredentials hashknownhosts hostbasedauthentication identitiesonly kbdinteractiveauthentication
  challengeresponseauthentication nohostauthenticationforlocalhost passwordauthentication permitlocalcommand
  proxyusefdpass stdinnull streamlocalbindunlink tcpkeepalive visualhostkey canonicalizefallbacklocal`
  .split(/\s+/)
  .filter((w) => w !== '');
const ENUMS: Record<string, string[]> = {
  addressfamily: ['inet', 'inet6', 'any', 'INET', 'yes', 'inet4'],
  canonicalizehostname: ['yes', 'no', 'always', 'none', 'Always', 'maybe'],
  controlmaster: ['yes', 'no', 'ask', 'auto', 'autoask', 'AUTO', 'maybe'],
  pubkeyauthentication: ['yes', 'no', 'unbound', 'host-bound', 'bound'],
  requesttty: ['yes', 'no', 'force', 'auto', 'Force', 'always'],
  sessiontype: ['none', 'subsystem', 'default', 'yes', 'shell'],
  stricthostkeychecking: ['yes', 'no', 'ask', 'accept-new', 'off', 'Accept-New', 'new'],
  tunnel: ['yes', 'no', 'point-to-point', 'ethernet', 'Ethernet', 'tun'],
  updatehostkeys: ['yes', 'no', 'ask', 'maybe'],
  verifyhostkeydns: ['yes', 'no', 'ask', 'maybe'],
  fingerprinthash: ['md5', 'sha1', 'sha256', 'SHA256', 'sha384', 'sha512', 'sha3', 'none'],
};

function sshAccepts(configFile: string, dir: string): boolean {
  // -N: ForkAfterAuthentication needs a command or -N (a usage error, not a config one).
  const r = spawnSync('ssh', ['-G', '-N', '-F', configFile, 'x'], { encoding: 'utf8', env: { PATH: process.env.PATH, HOME: dir } });
  assert.ok(r.status === 0 || r.status === 255, `ssh -G ran: ${r.error?.message ?? r.stderr}`);
  return r.status === 0;
}

function weAccept(config: string): boolean {
  try {
    resolveHost('x', home(config).opts);
    return true;
  } catch (err) {
    if (err instanceof ConfigError) return false;
    throw err;
  }
}

test('every value of a yes/no option, and of each multistate option, is accepted or refused as ssh -G does', () => {
  const cases: Array<[string, string]> = [
    ...FLAGS.flatMap((k) => YES_NO.map((v): [string, string] => [k, v])),
    ...Object.entries(ENUMS).flatMap(([k, values]) => values.map((v): [string, string] => [k, v])),
  ];
  const differ: string[] = [];
  for (const [keyword, value] of cases) {
    const config = `Host x\n  ${keyword} ${value}\n`;
    const { dir, ssh } = home(config);
    const theirs = sshAccepts(path.join(ssh, 'config'), dir);
    const ours = weAccept(config);
    if (theirs !== ours) differ.push(`${keyword} ${JSON.stringify(value)}: ssh ${theirs ? 'accepts' : 'refuses'}, we ${ours ? 'accept' : 'refuse'}`);
  }
  assert.deepEqual(differ, [], `${cases.length} lines checked`);
});

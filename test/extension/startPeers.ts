/**
 * Real peers for the extension tests, started from inside the extension host (a Node
 * process, so the harness's sshd and fault proxy work as in the integration tests).
 *
 * One OpenSSH sshd on loopback, one fault proxy in front of it, and an ssh_config that
 * names them under several aliases:
 *   lab        direct; host key known (StrictHostKeyChecking yes)
 *   autolab    the same server, for the autoConnect test
 *   flaky      through the fault proxy, 1 s keepalives: a blackhole is noticed in ~2 s
 *   newkey     host key unknown, StrictHostKeyChecking ask (known_hosts starts empty)
 *   changedkey known_hosts holds another key for the server (must be refused)
 *   locked     direct, with a passphrase-protected key (a copy, so a test can change its passphrase)
 *   labfwd     direct, with a LocalForward (on a free port: ssh refuses port 0 there) to the HTTP server below
 *   nosshd     a port nothing listens on (every attempt refused: a host that never connects)
 *   broken     a bad Port value (resolving it is a ConfigError)
 * an HTTP server on loopback that answers every GET with `httpBody`,
 * plus a second config file that cannot be parsed at all.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startFaultProxy, type FaultProxy } from '../../tools/peers/faultProxy';
import { freePort, startSshd, type SshdHandle } from '../../tools/peers/sshd';
import { startWebServer } from '../../tools/peers/webServer';

export interface Peers {
  sshd: SshdHandle;
  proxy: FaultProxy;
  dir: string;
  httpPort: number;
  /** The local port of labfwd's LocalForward. */
  labfwdPort: number;
  httpBody: string;
  /** The ssh_config to point sshKeepalive.configFile at. */
  configFile: string;
  /** A config that fails to parse (ConfigError from listHosts and resolveHost). */
  unparsableConfigFile: string;
  /** known_hosts of `newkey`; tests truncate it to make the key unknown again. */
  newKeyKnownHosts: string;
  /** The passphrase-protected key of `locked`; its passphrase is sshd.passphrase. */
  lockedKeyPath: string;
  changedKeyKnownHosts: string;
  /** Line `[127.0.0.1]:port ssh-ed25519 ...` of the real host key. */
  hostKeyLine(port: number): string;
  stop(): Promise<void>;
}

let started: Promise<Peers> | undefined;

/** Starts the peers once per extension host; later calls share them. */
export function startPeers(): Promise<Peers> {
  started ??= start();
  return started;
}

async function start(): Promise<Peers> {
  const sshd = await startSshd({ alias: 'lab' });
  const proxy = await startFaultProxy(sshd.host, sshd.port);
  const httpBody = 'hello through ssh';
  const web = await startWebServer(() => httpBody);
  const httpPort = web.port;
  const labfwdPort = await freePort();
  // Nothing listens there: every attempt is refused (a host that never connects).
  const nosshdPort = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sshka-ext-peers-'));
  const hostKeyLine = (port: number) => `[${sshd.host}]:${port} ${sshd.hostKeyPublicLine}`;

  const knownHosts = path.join(dir, 'known_hosts');
  fs.writeFileSync(knownHosts, `${hostKeyLine(sshd.port)}\n${hostKeyLine(proxy.port)}\n`);
  const newKeyKnownHosts = path.join(dir, 'known_hosts_new');
  fs.writeFileSync(newKeyKnownHosts, '');
  // Another ed25519 key under the server's name: a "changed" host key.
  const otherKey = path.join(dir, 'other_host_key');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'impostor', '-f', otherKey]);
  const otherPub = fs.readFileSync(`${otherKey}.pub`, 'utf8').trim().split(/\s+/).slice(0, 2).join(' ');
  const changedKeyKnownHosts = path.join(dir, 'known_hosts_changed');
  fs.writeFileSync(changedKeyKnownHosts, `# an old key of the test server\n[${sshd.host}]:${sshd.port} ${otherPub}\n`);

  const common = (knownHostsFile: string, strict: string) => [
    `  User ${sshd.user}`,
    `  IdentityFile ${sshd.clientKeyPath}`,
    '  IdentitiesOnly yes',
    `  UserKnownHostsFile ${knownHostsFile}`,
    `  StrictHostKeyChecking ${strict}`,
  ];
  const lockedKeyPath = path.join(dir, 'locked_key');
  fs.copyFileSync(sshd.encryptedClientKeyPath, lockedKeyPath);
  fs.copyFileSync(`${sshd.encryptedClientKeyPath}.pub`, `${lockedKeyPath}.pub`);
  fs.chmodSync(lockedKeyPath, 0o600);

  const configFile = path.join(dir, 'ssh_config');
  fs.writeFileSync(
    configFile,
    [
      'Host lab',
      `  HostName ${sshd.host}`,
      `  Port ${sshd.port}`,
      ...common(knownHosts, 'yes'),
      '',
      'Host autolab',
      `  HostName ${sshd.host}`,
      `  Port ${sshd.port}`,
      ...common(knownHosts, 'yes'),
      '',
      'Host flaky',
      `  HostName ${sshd.host}`,
      `  Port ${proxy.port}`,
      '  ServerAliveInterval 1',
      '  ServerAliveCountMax 2',
      ...common(knownHosts, 'yes'),
      '',
      'Host newkey',
      `  HostName ${sshd.host}`,
      `  Port ${sshd.port}`,
      ...common(newKeyKnownHosts, 'ask'),
      '',
      'Host changedkey',
      `  HostName ${sshd.host}`,
      `  Port ${sshd.port}`,
      ...common(changedKeyKnownHosts, 'ask'),
      '',
      'Host locked',
      `  HostName ${sshd.host}`,
      `  Port ${sshd.port}`,
      `  User ${sshd.user}`,
      `  IdentityFile ${lockedKeyPath}`,
      '  IdentitiesOnly yes',
      `  UserKnownHostsFile ${knownHosts}`,
      '  StrictHostKeyChecking yes',
      '',
      'Host labfwd',
      `  HostName ${sshd.host}`,
      `  Port ${sshd.port}`,
      `  LocalForward ${labfwdPort} 127.0.0.1:${httpPort}`,
      ...common(knownHosts, 'yes'),
      '',
      'Host nosshd',
      `  HostName ${sshd.host}`,
      `  Port ${nosshdPort}`,
      ...common(knownHosts, 'yes'),
      '',
      'Host broken',
      `  HostName ${sshd.host}`,
      '  Port notaport',
      '',
    ].join('\n'),
  );
  const unparsableConfigFile = path.join(dir, 'ssh_config_unparsable');
  fs.writeFileSync(unparsableConfigFile, 'Host oops\n  HostName "unterminated\n');

  let stopped: Promise<void> | undefined;
  const stop = () =>
    (stopped ??= (async () => {
      await proxy.close().catch(() => undefined);
      await web.close();
      await sshd.stop().catch(() => undefined);
      fs.rmSync(dir, { recursive: true, force: true });
    })());

  // The temp dir goes with the process even when nobody calls stop().
  process.once('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  // The runner ends code-server with SIGTERM to its process group: sshd runs in a group of
  // its own and would outlive the run. process.exit runs the harness's 'exit' cleanup.
  if (process.listenerCount('SIGTERM') === 0) {
    process.once('SIGTERM', () => process.exit(143));
  }

  return {
    sshd,
    proxy,
    dir,
    httpPort,
    labfwdPort,
    httpBody,
    configFile,
    unparsableConfigFile,
    newKeyKnownHosts,
    changedKeyKnownHosts,
    lockedKeyPath,
    hostKeyLine,
    stop,
  };
}

import { writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { knownHostsName } from '../../src/core/base/hostPort';

export interface ClientFilesSpec {
  dir: string;
  alias: string;
  host: string;
  port: number;
  user: string;
  clientKeyPath: string;
  /** "ssh-ed25519 AAAA..." of the server. */
  hostKeyPublicLine: string;
}

/**
 * What a client needs to reach a test server, the same for every server kind: a known_hosts
 * with the server's key, and an ssh_config whose `Host <alias>` block uses exactly that
 * (`ssh -F <sshConfigPath> <alias>` then works with strict host key checking).
 */
export async function writeClientFiles(spec: ClientFilesSpec): Promise<{ knownHostsPath: string; sshConfigPath: string }> {
  const knownHostsPath = path.join(spec.dir, 'known_hosts');
  await writeFile(knownHostsPath, `${knownHostsName(spec.host, spec.port)} ${spec.hostKeyPublicLine}\n`);
  const sshConfigPath = path.join(spec.dir, 'ssh_config');
  await writeFile(
    sshConfigPath,
    [
      `Host ${spec.alias}`,
      `  HostName ${spec.host}`,
      `  Port ${spec.port}`,
      `  User ${spec.user}`,
      `  IdentityFile ${quote(spec.clientKeyPath)}`,
      `  IdentitiesOnly yes`,
      `  UserKnownHostsFile ${quote(knownHostsPath)}`,
      `  StrictHostKeyChecking yes`,
      '',
    ].join('\n'),
  );
  return { knownHostsPath, sshConfigPath };
}

function quote(p: string): string {
  return /\s/.test(p) ? `"${p}"` : p;
}

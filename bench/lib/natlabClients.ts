import type { ChildProcess } from 'node:child_process';
import type { Lab } from '../../tools/peers/natlabSshd';
import { cliPath } from '../../tools/peers/repo';

/** The clients the natlab benches compare, each started in the lab's client namespace. */
export type NatlabClient = 'ssh-keepalive' | 'ssh-keepalive --no-keeper' | 'autossh -M0' | 'ssh';

/** Same liveness settings for every client: a dead path is noticed after about 6 s. */
export const serverAlive = { interval: 2, countMax: 3 };

const common = [
  '-N',
  '-o',
  `ServerAliveInterval=${serverAlive.interval}`,
  '-o',
  `ServerAliveCountMax=${serverAlive.countMax}`,
  '-o',
  'ConnectTimeout=10',
  '-o',
  'BatchMode=yes',
  '-o',
  'ExitOnForwardFailure=yes',
];

/**
 * Starts `client` with the common options, then `args` (forwards, tool-specific flags), then the
 * lab's alias. Its stdout and stderr are pipes: the caller reads or resumes them. The natlab
 * kills it on dispose.
 */
export function startNatlabClient(lab: Lab, client: NatlabClient, args: string[]): ChildProcess {
  const { natlab, sshd } = lab;
  const rest = ['-F', sshd.sshConfigPath, ...common, ...args, sshd.alias];
  switch (client) {
    case 'ssh-keepalive':
      return natlab.spawn(natlab.clientNs, process.execPath, [cliPath, ...rest]);
    case 'ssh-keepalive --no-keeper':
      return natlab.spawn(natlab.clientNs, process.execPath, [cliPath, '--no-keeper', ...rest]);
    case 'autossh -M0':
      // GATETIME 0: autossh restarts ssh even when the first connection fails early.
      return natlab.spawn(natlab.clientNs, 'autossh', ['-M', '0', ...rest], { env: { ...process.env, AUTOSSH_GATETIME: '0' } });
    case 'ssh':
      return natlab.spawn(natlab.clientNs, 'ssh', rest);
  }
}

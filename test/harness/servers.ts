import type { Availability } from '../../tools/peers/availability';
import { dropbearAvailability, startDropbear } from '../../tools/peers/dropbear';
import { sshdAvailability, startSshd, type SshdHandle } from '../../tools/peers/sshd';

/**
 * The SSH servers the core integration cases run against: one test body, every server.
 * Many routers, NAS boxes and container images run Dropbear, not OpenSSH.
 */
export interface TestServerKind {
  readonly name: 'OpenSSH' | 'Dropbear';
  availability(): Availability;
  start(opts?: { alias?: string; idleTimeoutSeconds?: number }): Promise<SshdHandle>;
  /** What a connection line in its log looks like (one per accepted TCP connection). */
  readonly connectionLog: RegExp;
}

export const testServers: readonly TestServerKind[] = [
  {
    name: 'OpenSSH',
    availability: sshdAvailability,
    start: (opts = {}) => startSshd({ alias: opts.alias }),
    connectionLog: /Connection from /g,
  },
  {
    name: 'Dropbear',
    availability: dropbearAvailability,
    start: (opts = {}) => startDropbear({ alias: opts.alias, extraArgs: opts.idleTimeoutSeconds ? ['-I', String(opts.idleTimeoutSeconds)] : [] }),
    connectionLog: /Child connection from /g,
  },
];

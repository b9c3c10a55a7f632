import { mkdir } from 'node:fs/promises';
import * as path from 'node:path';
import { writeClientFiles } from '../../tools/peers/clientFiles';
import { startDelayLine, type DelayLine } from '../../tools/peers/delayLine';
import { freePort, startSshd, type SshdHandle } from '../../tools/peers/sshd';
import type { ClientPath, Forward } from '../../test/harness/forwardClient';
import { startTargets, type Targets } from './targets';

/** Which server and path a figure runs over. */
export type PathKind = 'loopback' | 'loopback-aes128-gcm' | 'rtt50' | 'rtt150';

export const pathLabel: Record<PathKind, string> = {
  loopback: 'loopback',
  'loopback-aes128-gcm': 'loopback, both aes128-gcm',
  rtt50: '50 ms RTT',
  rtt150: '150 ms RTT',
};

/**
 * What every figure shares: one sshd with its defaults, one that offers only aes128-gcm (the
 * same-cipher control: ssh prefers chacha20-poly1305, ssh2 without its native binding
 * aes128-gcm), delay lines of 50 and 150 ms RTT in front of the first, and the target servers.
 * Started on first use, stopped by close().
 */
export class Rig {
  private sshd: SshdHandle | undefined;
  private sshdAes: SshdHandle | undefined;
  private readonly lines: DelayLine[] = [];
  private readonly paths = new Map<PathKind, Promise<ClientPath & { serverPort: number }>>();
  private targetsStarted: Promise<Targets> | undefined;

  targets(): Promise<Targets> {
    return (this.targetsStarted ??= startTargets());
  }

  path(kind: PathKind): Promise<ClientPath & { serverPort: number }> {
    let p = this.paths.get(kind);
    if (!p) {
      p = this.makePath(kind);
      this.paths.set(kind, p);
    }
    return p;
  }

  /** Forwards on fresh local ports to the echo (twice), source and sink targets. */
  async forwards(): Promise<{ echo: Forward; source: Forward; sink: Forward; echo2: Forward }> {
    const t = await this.targets();
    return {
      echo: { localPort: await freePort(), targetPort: t.echoPort },
      echo2: { localPort: await freePort(), targetPort: t.echoPort },
      source: { localPort: await freePort(), targetPort: t.sourcePort },
      sink: { localPort: await freePort(), targetPort: t.sinkPort },
    };
  }

  private async makePath(kind: PathKind): Promise<ClientPath & { serverPort: number }> {
    let server: SshdHandle;
    if (kind === 'loopback-aes128-gcm') {
      server = this.sshdAes ??= await startSshd({ alias: 'bench', extraConfig: ['Ciphers aes128-gcm@openssh.com'] });
    } else {
      server = this.sshd ??= await startSshd({ alias: 'bench' });
    }
    let port = server.port;
    if (kind === 'rtt50' || kind === 'rtt150') {
      const line = await startDelayLine({ targetHost: server.host, targetPort: server.port, oneWayMs: kind === 'rtt50' ? 25 : 75 });
      this.lines.push(line);
      port = line.port;
    }
    const dir = path.join(server.dir, `client-${kind}`);
    await mkdir(dir, { recursive: true });
    const files = await writeClientFiles({
      dir,
      alias: 'bench',
      host: '127.0.0.1',
      port,
      user: server.user,
      clientKeyPath: server.clientKeyPath,
      hostKeyPublicLine: server.hostKeyPublicLine,
    });
    return { configPath: files.sshConfigPath, alias: 'bench', serverPort: server.port };
  }

  async close(): Promise<void> {
    await Promise.all(this.lines.map((l) => l.close()));
    await (await this.targetsStarted)?.close();
    await this.sshd?.stop();
    await this.sshdAes?.stop();
  }
}

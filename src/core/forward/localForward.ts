import type { Socket } from 'node:net';
import type { Logger } from '../base/logger';
import { formatForwardSpec } from '../config/forwardSpec';
import type { ForwardSpec } from '../config/types';
import type { Session } from '../session/session';
import { openHeldChannel, type HoldOptions } from './heldChannel';
import type { KeeperSource } from './keptConnections';
import { ListeningForward } from './listeningForward';

export type LocalForwardOptions = HoldOptions;

export const defaultLocalForwardOptions: LocalForwardOptions = { holdMs: 60_000, channelOpenMs: 10_000 };

/**
 * ssh -L. The listening socket is bound once and stays bound across reconnects: a client
 * that connects during an outage is held (paused, up to holdMs) and served when the
 * session is back. Each connection is a user action, so a quiet session is probed first
 * and a dead one is found in about a second instead of interval x count.
 */
export class LocalForward extends ListeningForward {
  readonly kind = 'local' as const;

  constructor(
    readonly spec: ForwardSpec,
    session: Session,
    logger: Logger,
    private readonly options: LocalForwardOptions = defaultLocalForwardOptions,
    keeper?: KeeperSource,
  ) {
    super(spec, session, logger, keeper);
  }

  get label(): string {
    return `-L ${formatForwardSpec(this.spec)}`;
  }

  get id(): string {
    return `L ${formatForwardSpec(this.spec)}`;
  }

  protected async serve(socket: Socket, isClosed: () => boolean): Promise<void> {
    const target = { host: this.spec.host, port: this.spec.hostPort };
    const link = await this.keeperForClient();
    if (isClosed()) return;
    if (link) {
      // The keeper connects to the target from the server and holds that connection through
      // outages; a refusal comes back as a reset of this client.
      this.pipeKept(link, socket, link.mux.open({ kind: 'tcp-connect', ...target }), `connection to ${this.spec.host}:${this.spec.hostPort}`);
      return;
    }
    try {
      const { channel, conn } = await openHeldChannel(this.session, socket, target, this.options, isClosed);
      if (isClosed()) return channel.close();
      this.pipePlain(socket, channel, conn);
    } catch (err) {
      if (isClosed()) return;
      this.logRefusal(`${this.label}: closing a client: ${(err as Error).message}`);
      // Refused or unreachable: a reset, as the target's own refusal would be, never a clean end.
      socket.resetAndDestroy();
    }
  }
}

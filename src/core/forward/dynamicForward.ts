import type { Socket } from 'node:net';
import type { Logger } from '../base/logger';
import { formatDynamicSpec } from '../config/forwardSpec';
import type { DynamicForwardSpec } from '../config/types';
import type { Session } from '../session/session';
import { ChannelOpenError, openHeldChannel, type HoldOptions } from './heldChannel';
import type { KeeperLink } from '../keeper/keeperLink';
import type { KeeperSource } from './keptConnections';
import { ListeningForward } from './listeningForward';
import { negotiateSocks, SocksReply, type SocksNegotiation, type SocksReplyCode, type SocksRequest } from './socksServer';
import { formatHostPort } from '../base/hostPort';

export interface DynamicForwardOptions extends HoldOptions {
  /** A client must complete its SOCKS request within this long after connecting. */
  handshakeMs: number;
}

export const defaultDynamicForwardOptions: DynamicForwardOptions = { handshakeMs: 10_000, holdMs: 60_000, channelOpenMs: 10_000 };

/** Channel open failure reason codes (RFC 4254 section 5.1), as ssh2 puts them on `err.reason`. */
const SSH_OPEN_ADMINISTRATIVELY_PROHIBITED = 1;
const SSH_OPEN_CONNECT_FAILED = 2;

/**
 * The SOCKS reply for a failed direct-tcpip open. OpenSSH sends CONNECT_FAILED with
 * strerror() or the resolver's message as the description, so the text tells refused
 * from unreachable from unknown name.
 */
export function socksReplyForOpenError(err: { reason?: unknown; message?: string }): SocksReplyCode {
  const text = (err.message ?? '').toLowerCase();
  if (err.reason === SSH_OPEN_ADMINISTRATIVELY_PROHIBITED) return SocksReply.notAllowed;
  if (err.reason === SSH_OPEN_CONNECT_FAILED || text.includes('connect failed')) {
    if (text.includes('refused')) return SocksReply.connectionRefused;
    if (text.includes('network is unreachable')) return SocksReply.networkUnreachable;
    if (text.includes('timed out')) return SocksReply.ttlExpired;
    // "No route to host", "Name or service not known", "Temporary failure in name resolution"...
    return SocksReply.hostUnreachable;
  }
  return SocksReply.generalFailure;
}

function formatTarget(r: SocksRequest): string {
  return formatHostPort(r.host, r.port);
}

/**
 * ssh -D: a local SOCKS4/4a/5 proxy whose connections leave from the server. Like -L,
 * the listening socket stays bound across reconnects, and a request made during an
 * outage is held (no SOCKS reply yet, up to holdMs) and served once the session is back.
 */
export class DynamicForward extends ListeningForward {
  readonly kind = 'dynamic' as const;

  constructor(
    readonly spec: DynamicForwardSpec,
    session: Session,
    logger: Logger,
    private readonly options: DynamicForwardOptions = defaultDynamicForwardOptions,
    keeper?: KeeperSource,
  ) {
    super(spec, session, logger, keeper);
  }

  get label(): string {
    return `-D ${formatDynamicSpec(this.spec)}`;
  }

  get id(): string {
    return `D ${formatDynamicSpec(this.spec)}`;
  }

  protected async serve(socket: Socket, isClosed: () => boolean): Promise<void> {
    let negotiation: SocksNegotiation;
    try {
      negotiation = await negotiateSocks(socket, this.options.handshakeMs);
    } catch (err) {
      this.logger.debug(`${this.label}: ${(err as Error).message}`);
      return;
    }
    const target = formatTarget(negotiation.request);
    const link = await this.keeperForClient();
    if (isClosed()) return;
    if (link) return this.serveKept(link, socket, negotiation, target);
    try {
      const { channel, conn } = await openHeldChannel(this.session, socket, negotiation.request, this.options, isClosed);
      if (isClosed()) return channel.close();
      negotiation.reply(SocksReply.succeeded);
      this.pipePlain(socket, channel, conn);
    } catch (err) {
      if (isClosed()) return;
      const e = err instanceof ChannelOpenError ? err : new ChannelOpenError(String(err));
      this.logRefusal(`${this.label}: refusing a SOCKS request for ${target}: ${e.message}`);
      negotiation.reply(e.refusedByServer ? socksReplyForOpenError(e) : SocksReply.generalFailure);
    }
  }

  /**
   * The keeper connects to the target from the server: the SOCKS reply waits for its answer
   * (succeeded once connected, the refusal's code otherwise), and the connection is then held
   * through outages like a -L one. A request made during an outage waits for the path.
   */
  private serveKept(link: KeeperLink, socket: Socket, negotiation: SocksNegotiation, target: string): void {
    const stream = link.mux.open({ kind: 'tcp-connect', host: negotiation.request.host, port: negotiation.request.port });
    const settle = () => {
      answered.dispose();
      refused.dispose();
      socket.removeListener('close', gone);
    };
    const answered = stream.onDidOpen(() => {
      settle();
      negotiation.reply(SocksReply.succeeded);
      this.pipeKept(link, socket, stream, `connection to ${target}`);
    });
    const refused = stream.onDidReset((info) => {
      settle();
      this.logger.warn(`${this.label}: refusing a SOCKS request for ${target}: ${info.message || info.reason}`);
      // The refusal is the reply (then a plain close, so that it is read), as OpenSSH answers.
      negotiation.reply(socksReplyForKeeperReset(info.reason));
    });
    const gone = () => {
      settle();
      stream.reset('client-closed', 'the SOCKS client went away before the target answered');
    };
    socket.once('close', gone);
  }
}

/** The SOCKS reply for a keeper stream reset before it opened (keeper/keeper.py's reasons). */
export function socksReplyForKeeperReset(reason: string): SocksReplyCode {
  if (reason === 'refused') return SocksReply.connectionRefused;
  if (reason === 'resolve-failed' || reason === 'connect-failed') return SocksReply.hostUnreachable;
  return SocksReply.generalFailure;
}

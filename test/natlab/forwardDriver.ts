/**
 * A tiny driver for the natlab forward tests: runs the core (Session + ForwardRegistry) as a
 * process of its own, so that it can live in the client namespace while the test runs in
 * the host's. Prints one JSON object per line on stdout; logs go to stderr.
 *
 *   node forwardDriver.js --config FILE --alias HOST [--remote SPEC]... [--remote-reclaim SPEC]...
 *                         [--dynamic SPEC]... [--local SPEC]... [--keepalive MS:COUNT] [--retry INITIAL:MAX]
 *                         [--keeper PROGRAM_PATH]
 *
 * Events: {"event":"session","state":KIND,...}, {"event":"forward","id":ID,"state":KIND,"reason"?,"address"?},
 * {"event":"address","id":ID,"port":N}, {"event":"counters","id":ID,"open":N,"carried":N,...},
 * {"event":"ready"}, {"event":"error","message":...}. With --keeper the forwards ride the
 * session keeper (keeper/keeper.py at PROGRAM_PATH).
 * Ends (disposing everything) on SIGTERM, SIGINT or when stdin closes.
 */
import type { Logger } from '../../src/core/base/logger';
import { parseDynamicSpec, parseForwardSpec } from '../../src/core/config/forwardSpec';
import { resolveHost } from '../../src/core/config/sshConfig';
import { ForwardRegistry, type ForwardRequest } from '../../src/core/forward/registry';
import { readFileSync } from 'node:fs';
import { KeptRemoteForward } from '../../src/core/forward/keptRemoteForward';
import { RemoteForward } from '../../src/core/forward/remoteForward';
import { KeeperLink } from '../../src/core/keeper/keeperLink';
import type { Forward } from '../../src/core/forward/types';
import { defaultKeepaliveOptions } from '../../src/core/liveness/keepalive';
import { noPrompter } from '../../src/core/session/prompter';
import { Session, sessionOptionsFor } from '../../src/core/session/session';

function emit(e: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify({ ...e, t: Date.now() })}\n`);
}

const logger: Logger = {
  trace: () => undefined,
  debug: () => undefined,
  info: (m) => process.stderr.write(`info ${m}\n`),
  warn: (m) => process.stderr.write(`warn ${m}\n`),
  error: (m) => process.stderr.write(`error ${m}\n`),
};

function parseArgs(argv: string[]) {
  const out = { config: '', alias: '', requests: [] as ForwardRequest[], keepalive: [2000, 3], retry: [1000, 30_000], keeper: '' };
  for (let i = 0; i < argv.length; i++) {
    const value = argv[++i];
    if (value === undefined) throw new Error(`${argv[i - 1]} needs a value`);
    switch (argv[i - 1]) {
      case '--config':
        out.config = value;
        break;
      case '--alias':
        out.alias = value;
        break;
      case '--remote':
        out.requests.push({ kind: 'remote', spec: parseForwardSpec(value) });
        break;
      case '--remote-reclaim':
        out.requests.push({ kind: 'remote', spec: parseForwardSpec(value), reclaimStale: true });
        break;
      case '--dynamic':
        out.requests.push({ kind: 'dynamic', spec: parseDynamicSpec(value) });
        break;
      case '--local':
        out.requests.push({ kind: 'local', spec: parseForwardSpec(value) });
        break;
      case '--keepalive':
        out.keepalive = value.split(':').map(Number);
        break;
      case '--retry':
        out.retry = value.split(':').map(Number);
        break;
      case '--keeper':
        out.keeper = value;
        break;
      default:
        throw new Error(`unknown argument ${argv[i - 1]}`);
    }
  }
  if (!out.config || !out.alias) throw new Error('--config and --alias are required');
  return out;
}

function forwardEvent(f: Forward): Record<string, unknown> {
  const s = f.state;
  return { event: 'forward', id: f.id, kind: f.kind, state: s.kind, ...('reason' in s ? { reason: s.reason } : {}), address: f.address ?? null };
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const host = resolveHost(args.alias, { configFile: args.config, env: { ...process.env, SSH_AUTH_SOCK: undefined } });
  const [intervalMs, countMax] = args.keepalive;
  const session = new Session(host, sessionOptionsFor(host, { keepalive: { ...defaultKeepaliveOptions, intervalMs, countMax } }), {
    prompter: noPrompter,
    logger,
  });
  let link: KeeperLink | undefined;
  const program = args.keeper ? readFileSync(args.keeper, 'utf8') : '';
  const keeper = args.keeper
    ? () => Promise.resolve((link ??= new KeeperLink(session, { program, name: `natlab-${process.pid}`, idleSeconds: 600, logger })))
    : undefined;
  const registry = new ForwardRegistry(session, logger, {
    keeper,
    remote: { retry: { initialMs: args.retry[0], maxMs: args.retry[1], factor: 2, minMs: Math.min(500, args.retry[0]) } },
  });
  session.onDidChangeState((s) => {
    const detail: Record<string, unknown> = {};
    if (s.kind === 'connected') Object.assign(detail, { rttMs: s.rttMs ?? null, restoredAfterMs: s.restoredAfterMs ?? null });
    if (s.kind === 'lost') detail.reason = s.reason;
    if (s.kind === 'waiting') detail.lastError = s.lastError;
    if (s.kind === 'failed') detail.reason = s.error.message;
    emit({ event: 'session', state: s.kind, ...detail });
  });
  registry.onDidChange((e) => {
    if (e.type === 'state' || e.type === 'added') emit(forwardEvent(e.forward));
    if (e.type === 'added') {
      const f = e.forward;
      f.onDidChangeCounters((c) =>
        emit({ event: 'counters', id: f.id, kept: f.kept, open: c.openConnections, total: c.totalConnections, carried: c.carriedConnections }),
      );
    }
    if (e.type === 'added' && (e.forward instanceof RemoteForward || e.forward instanceof KeptRemoteForward)) {
      const f = e.forward;
      f.onDidChangeAddress(({ port, address }) => emit({ event: 'address', id: f.id, port, address }));
    }
  });

  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    // The keeper ends what it holds on the server first (it needs the connection for that).
    void (link?.shutdown(1000) ?? Promise.resolve(false)).finally(() => {
      link?.dispose();
      registry.dispose();
      session.dispose();
      // Give the cancel-tcpip-forward and the disconnect a moment to leave.
      setTimeout(() => process.exit(0), 200);
    });
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.stdin.on('end', stop);
  process.stdin.resume();

  await session.start();
  for (const request of args.requests) await registry.add(request);
  emit({ event: 'ready', forwards: registry.list().map(forwardEvent) });
}

main().catch((err) => {
  emit({ event: 'error', message: (err as Error).message });
  process.exit(1);
});

/**
 * The soak's engine under test: a Session with the session keeper, a -L, a -D and a -R forward
 * and a kept shell, composed as the CLI and the extension host compose them, run in the natlab's
 * client namespace (the soak itself runs in the host's). Driven by JSON lines:
 *
 *   argv[2]  JSON SoakDriverConfig
 *   stdin    {"op":"write","data":"..."} | {"op":"stats"} | {"op":"snapshot","path":"..."} (a heap snapshot, to find a leak)
 *   stdout   {"event":"session","state":KIND,"restoredAfterMs"?} | {"event":"forward","id","kind","state"} |
 *            {"event":"data","data":"..."} | {"event":"stats",...ResourceCounts} | {"event":"ready"} |
 *            {"event":"error","message":"..."}
 *   stderr   the session's log (info and up)
 *
 * Must run with --expose-gc: `stats` collects garbage first, so the heap figure is what is live.
 * Closing stdin (or SIGTERM) disposes everything and exits.
 */
import { readdirSync } from 'node:fs';
import { writeHeapSnapshot } from 'node:v8';
import { createInterface } from 'node:readline';
import { liveListenerCount } from '../../src/core/base/event';
import type { Logger } from '../../src/core/base/logger';
import { parseDynamicSpec, parseForwardSpec } from '../../src/core/config/forwardSpec';
import { resolveHost } from '../../src/core/config/sshConfig';
import { ForwardRegistry } from '../../src/core/forward/registry';
import { KeeperLink } from '../../src/core/keeper/keeperLink';
import { noPrompter } from '../../src/core/session/prompter';
import { Session, sessionOptionsFor } from '../../src/core/session/session';
import { KeptShell } from '../../src/core/shell/keptShell';
import { keeperProgramText } from '../harness/keeperPeer';
import { installTimerCensus, pendingTimerKinds, pendingTimers } from './timerCensus';

installTimerCensus();

export interface SoakDriverConfig {
  configFile: string;
  alias: string;
  /** Names the keeper and the shell on the server. */
  id: string;
  /** Forwards and the shell ride the session keeper (the product's default where python3 runs). */
  keeper: boolean;
  local: string;
  dynamic: string;
  remote: string;
  /** Take the -R port back from a stale sshd session (the reclaim setting). */
  reclaimRemote: boolean;
}

export interface ResourceCounts {
  /** Entries of /proc/self/fd. */
  fds: number;
  /** process.getActiveResourcesInfo(), counted by kind (Timeout, TCPSocketWrap, ...). */
  resources: Record<string, number>;
  /** Pending timers, referenced or not (timerCensus.ts). */
  timers: number;
  /** The pending timers by period and callback: what to look at when `timers` grows. */
  timerKinds: Record<string, number>;
  /** Listeners on every core Emitter in the process. */
  listeners: number;
  /** process.memoryUsage().heapUsed after a full GC, bytes. */
  heapUsed: number;
  rss: number;
}

const out = (event: Record<string, unknown>) => process.stdout.write(`${JSON.stringify({ ...event, t: Date.now() })}\n`);

const logger: Logger = {
  trace: () => undefined,
  debug: () => undefined,
  info: (m) => process.stderr.write(`info: ${m}\n`),
  warn: (m) => process.stderr.write(`warn: ${m}\n`),
  error: (m) => process.stderr.write(`error: ${m}\n`),
};

function countResources(): ResourceCounts {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run the soak driver with --expose-gc');
  gc();
  const resources: Record<string, number> = {};
  for (const r of process.getActiveResourcesInfo()) resources[r] = (resources[r] ?? 0) + 1;
  const mem = process.memoryUsage();
  return {
    fds: readdirSync('/proc/self/fd').length,
    resources,
    timers: pendingTimers(),
    timerKinds: pendingTimerKinds(),
    listeners: liveListenerCount(),
    heapUsed: mem.heapUsed,
    rss: mem.rss,
  };
}

async function main(): Promise<void> {
  const config = JSON.parse(process.argv[2] ?? '{}') as SoakDriverConfig;
  // No agent: the lab's key comes from the generated ssh_config only.
  const host = resolveHost(config.alias, { configFile: config.configFile, env: { ...process.env, SSH_AUTH_SOCK: undefined } });
  const session = new Session(host, sessionOptionsFor(host), { prompter: noPrompter, logger });
  session.onDidChangeState((s) => out({ event: 'session', state: s.kind, ...(s.kind === 'connected' ? { restoredAfterMs: s.restoredAfterMs ?? null } : {}) }));
  const link = config.keeper ? new KeeperLink(session, { program: keeperProgramText(), name: `soak-${config.id}`, idleSeconds: 3600, logger }) : undefined;
  const registry = new ForwardRegistry(session, logger, { keeper: link ? () => Promise.resolve(link) : undefined });
  registry.onDidChange((e) => {
    if (e.type === 'state' || e.type === 'added') out({ event: 'forward', id: e.forward.id, kind: e.forward.kind, state: e.forward.state.kind });
  });
  const shell = new KeptShell(session, link, { term: 'xterm-256color', cols: 100, rows: 30, reattach: true, id: config.id }, { logger });
  shell.onDidData((data) => out({ event: 'data', data }));

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      await shell.close({ keepRemote: false });
      await link?.shutdown(2000);
      link?.dispose();
      registry.dispose();
      session.dispose();
    })().finally(() => process.exit(0)));
  process.on('SIGTERM', () => void close());
  const lines = createInterface({ input: process.stdin });
  lines.on('close', () => void close());
  lines.on('line', (line) => {
    if (!line.trim()) return;
    const cmd = JSON.parse(line) as { op: 'write'; data: string } | { op: 'stats' } | { op: 'snapshot'; path: string };
    if (cmd.op === 'write') shell.write(cmd.data);
    else if (cmd.op === 'snapshot') out({ event: 'snapshot', path: writeHeapSnapshot(cmd.path) });
    else out({ event: 'stats', ...countResources() });
  });

  await session.start();
  await registry.add({ kind: 'local', spec: parseForwardSpec(config.local) });
  await registry.add({ kind: 'dynamic', spec: parseDynamicSpec(config.dynamic) });
  await registry.add({ kind: 'remote', spec: parseForwardSpec(config.remote), reclaimStale: config.reclaimRemote });
  await shell.start();
  out({ event: 'ready' });
}

main().catch((err: Error) => {
  out({ event: 'error', message: err.stack ?? String(err) });
  process.exit(1);
});

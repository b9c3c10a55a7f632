import { randomBytes } from 'node:crypto';
import { DisposableStore } from './core/base/disposable';
import { NetworkChangeDetector, WakeDetector } from './core/base/environment';
import { ConfigError, type ResolvedHost } from './core/config/types';
import { ForwardRegistry } from './core/forward/registry';
import { KeeperLink } from './core/keeper/keeperLink';
import { keeperProgram } from './core/keeper/program';
import type { Forward } from './core/forward/types';
import { SessionError } from './core/session/errors';
import { noPrompter } from './core/session/prompter';
import { Session, sessionOptionsFor } from './core/session/session';
import { eventForAttemptFailure, eventForLiveness, eventForTuner, eventsForState, writeEvent } from './cli/events';
import { IntervalLearner } from './core/liveness/intervalLearner';
import { KeepaliveTuner } from './core/liveness/keepaliveTuner';
import { defaultLearnedFile, fileStore } from './core/liveness/learnedPathStore';
import { LivenessWatcher } from './core/liveness/livenessWatcher';
import { isYes, optionValue, parseArgs, usage, UsageError, type CliArgs } from './cli/args';
import { addAll, announceAllocatedPorts, forwardFailure, forwardRequests } from './cli/forwards';
import { runInteractiveShell } from './cli/interactiveShell';
import { runOneOff } from './cli/oneOff';
import { parseStdioForward, runStdioForward, type StdioTarget } from './cli/stdioForward';
import type { KeeperSource } from './core/forward/keptConnections';
import { stderrLogger } from './cli/stderrLogger';
import { createTtyPrompter } from './cli/ttyPrompter';
import { printConfig } from './cli/printConfig';
import { resolveDestination } from './cli/resolveDestination';

const exitFatal = 255;

function die(message: string, code = exitFatal): never {
  process.stderr.write(`ssh-keepalive: ${message}\n`);
  process.exit(code);
}

async function main(): Promise<number> {
  let args: CliArgs;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (err) {
    if (err instanceof UsageError) die(`${err.message}\n${usage}`);
    throw err;
  }
  if (args.help) {
    process.stdout.write(`${usage}\n`);
    return 0;
  }
  if (args.version) {
    process.stdout.write('ssh-keepalive 0.1.0\n');
    return 0;
  }
  const logger = stderrLogger(args.verbose, args.quiet);
  let host: ResolvedHost;
  let requests: ReturnType<typeof forwardRequests>;
  let stdioTarget: StdioTarget | undefined;
  try {
    const resolved = resolveDestination(args);
    host = resolved.host;
    for (const n of host.notes ?? []) logger[n.level](n.message);
    if (args.printConfig) {
      process.stdout.write(printConfig(host, resolved.config));
      return 0;
    }
    requests = forwardRequests(args, host);
    if (args.stdioForward !== undefined) stdioTarget = parseStdioForward(args.stdioForward);
  } catch (err) {
    if (err instanceof ConfigError || err instanceof UsageError) die(err.message);
    throw err;
  }
  for (const u of host.unsupported) logger.warn(`${u.option} ${u.value}${u.source ? ` (${u.source})` : ''}: ${u.reason}`);

  const batch = isYes(optionValue(args, 'BatchMode'));
  const exitOnForwardFailure = isYes(optionValue(args, 'ExitOnForwardFailure'));
  const prompter = batch || !process.stdin.isTTY ? noPrompter : createTtyPrompter();
  const store = new DisposableStore();
  const wake = store.add(new WakeDetector());
  const network = store.add(new NetworkChangeDetector());
  const intervalLearner = new IntervalLearner(fileStore(defaultLearnedFile(), (m) => logger.warn(m)));
  const sessionOptions = sessionOptionsFor(host, args.maxAttempts !== undefined ? { maxAttempts: args.maxAttempts } : {});
  const configuredIntervalMs = sessionOptions.keepalive.intervalMs;
  // Opt-in: measure this network's idle timeout on disposable flows and refresh the NAT under it.
  const keepaliveTuner = args.learnKeepalive ? store.add(new KeepaliveTuner(intervalLearner, () => configuredIntervalMs)) : undefined;
  const session = new Session(host, sessionOptions, {
    prompter,
    logger,
    onDidWake: wake.onDidWake,
    onDidChangeNetwork: network.onDidChange,
    // A connection that dies while idle teaches a keepalive interval the path survives, kept
    // per network in the user's state directory for later runs.
    intervalLearner,
    keepaliveTuner,
  });
  if (keepaliveTuner) {
    store.add(
      keepaliveTuner.onDidTune((e) => {
        if (e.kind === 'learned' || e.kind === 'dropped' || e.kind === 'unavailable') logger.info(e.message);
        else logger.debug(e.message);
        if (args.events) writeEvent(eventForTuner(host.alias, e));
      }),
    );
  }
  if (args.events) {
    store.add(session.onDidChangeState((s) => eventsForState(host.alias, s).forEach(writeEvent)));
    store.add(session.onDidFailAttempt((f) => writeEvent(eventForAttemptFailure(host.alias, f))));
  }
  // The CLI always uses its session (a shell or forwards): silence past the alive window is probed at once.
  const liveness = store.add(new LivenessWatcher(session, { inUse: () => true }));
  if (args.events) store.add(liveness.onDidChange((l) => writeEvent(eventForLiveness(host.alias, l))));
  // Losses and restores are logged by the session itself (warn / info): no second line here.

  // The session keeper of this run, made on first use (the shell, a forward's first client,
  // -W): its secret lives only in this process, so nothing else can attach; it is ended when
  // this run ends (and exits by itself an hour after a crash).
  let keeperLink: KeeperLink | undefined;
  const keeper: KeeperSource | undefined = args.keeper
    ? () =>
        Promise.resolve(
          (keeperLink ??= new KeeperLink(session, { program: keeperProgram, name: `cli-${randomBytes(6).toString('hex')}`, idleSeconds: 3600, logger })),
        )
    : undefined;

  let shuttingDown = false;
  const shutdown = (code: number) => {
    if (shuttingDown) return;
    shuttingDown = true;
    // The keeper ends what it still holds (shells, forwarded connections) with this run.
    void (keeperLink?.shutdown(2000) ?? Promise.resolve(false)).finally(() => {
      keeperLink?.dispose();
      registry.dispose();
      session.dispose();
      store.dispose();
      // Let the `closed` event flush before exiting.
      setImmediate(() => process.exit(code));
    });
  };
  const registry = new ForwardRegistry(session, logger, { keeper });
  if (args.events) {
    registry.onDidChange(({ type, forward: f }) => {
      if (type === 'removed') return;
      const st = f.state;
      writeEvent({
        event: 'forward',
        host: host.alias,
        time: new Date().toISOString(),
        forward: f.label,
        state: st.kind,
        ...('reason' in st ? { reason: st.reason } : {}),
        ...(f.address ? { address: f.address } : {}),
        kept: f.kept,
      });
      if (type === 'added') {
        f.onDidChangeCounters((c) =>
          writeEvent({
            event: 'forward-counters',
            host: host.alias,
            time: new Date().toISOString(),
            forward: f.label,
            kept: f.kept,
            open: c.openConnections,
            total: c.totalConnections,
            carried: c.carriedConnections,
            bytesIn: c.bytesIn,
            bytesOut: c.bytesOut,
          }),
        );
      }
    });
  }
  const failIfAsked = (forwards: Forward[]) => {
    for (const f of forwards) {
      const why = forwardFailure(f);
      if (!why) continue;
      // The registry has already printed why a forward `failed`: say each reason once.
      const alreadyPrinted = f.state.kind === 'failed';
      if (exitOnForwardFailure) {
        process.stderr.write(`ssh-keepalive: ${alreadyPrinted ? `${f.label} could not start` : why}; exiting (ExitOnForwardFailure)\n`);
        shutdown(exitFatal);
        return true;
      }
      if (!alreadyPrinted) logger.warn(why);
    }
    return false;
  };
  // An interactive shell's tmux session is kept when the terminal goes away (SIGHUP), so
  // it can be attached again; it is ended on an explicit SIGINT/SIGTERM.
  let onSignalShell: ((keepRemote: boolean) => Promise<void>) | undefined;
  const onSignal = (code: number, keepRemote: boolean) => {
    // The shell's tmux session is ended through the session, so close it first (bounded).
    const closing = onSignalShell?.(keepRemote) ?? Promise.resolve();
    void Promise.race([closing, new Promise((r) => setTimeout(r, 2000))]).finally(() => shutdown(args.noCommand ? 0 : code));
  };
  process.on('SIGINT', () => onSignal(130, false));
  process.on('SIGTERM', () => onSignal(143, false));
  process.on('SIGHUP', () => onSignal(129, true));

  // Local listeners are bound before connecting, so early clients are held, not refused.
  if (failIfAsked(await addAll(registry, requests.local))) return exitFatal;

  // The session's retry timers are unref'd: without a listener nothing else would keep the
  // process alive between attempts, and it exited 0 in silence during the first backoff.
  const holdOpen = setInterval(() => undefined, 1 << 30);
  try {
    await session.start();
    clearInterval(holdOpen);
  } catch (err) {
    clearInterval(holdOpen);
    const message = err instanceof SessionError ? err.message : String(err);
    registry.dispose();
    session.dispose();
    store.dispose();
    die(message);
  }

  const remotes = await addAll(registry, requests.remote);
  remotes.forEach((f) => announceAllocatedPorts(f, (line) => process.stderr.write(`${line}\n`)));
  if (failIfAsked(remotes)) return exitFatal;

  if (stdioTarget) {
    // ssh -W: stdin/stdout are the connection; the process ends with it.
    const code = await runStdioForward(session, stdioTarget, { keeper, logger });
    shutdown(code);
    return code;
  }

  if (args.noCommand) {
    // Runs until a signal; the session reconnects by itself. Its timers are unref'd and a -R
    // (or a forward-less) run has no socket of its own while the path is down: without this
    // handle the process would exit 0 in silence at the first outage.
    const stayAlive = setInterval(() => undefined, 2 ** 31 - 1);
    store.add({ dispose: () => clearInterval(stayAlive) });
    // An error that retrying cannot fix (a changed host key, a revoked login) ends it as it
    // would end ssh: said once, 255.
    store.add(
      session.onDidChangeState((s) => {
        if (s.kind !== 'failed') return;
        if (args.keepListeners) {
          process.stderr.write(`ssh-keepalive: ${s.error.message}\nssh-keepalive: not reconnecting; the local ports stay bound (--keep-listeners)\n`);
          return;
        }
        process.stderr.write(`ssh-keepalive: ${s.error.message}\n`);
        shutdown(exitFatal);
      }),
    );
    await new Promise<void>(() => undefined);
    return 0;
  }
  const command = args.command.length ? args.command.join(' ') : undefined;
  const pty = args.disableTty ? false : args.forceTty ? true : command === undefined && !!process.stdin.isTTY;
  if (command === undefined && pty) {
    // The interactive shell outlives outages (the session keeper, else tmux reattach when the host has it).
    const shellKeeper = await keeper?.();
    const run = runInteractiveShell(session, { alias: host.alias, reattach: args.reattach ?? true, logger, keeper: shellKeeper });
    onSignalShell = (keepRemote) => run.then(({ shell }) => shell.close({ keepRemote: keepRemote && !shellKeeper }));
    const { code, shell } = await run;
    await shell.close();
    shutdown(code);
    return code;
  }
  const code = await runOneOff(session, { command, pty });
  shutdown(code);
  return code;
}

main().then(
  () => undefined,
  (err) => die(`internal error: ${(err as Error).stack ?? err}`),
);

/**
 * Runs a Session and a RemoteShell inside the natlab's client namespace (the test itself runs
 * in the host's namespace and cannot reach the lab's addresses), driven by JSON lines:
 *
 *   argv[2]  JSON DriverConfig
 *   stdin    {"op":"write","data":"..."} | {"op":"exec","tag":"t","command":"..."} |
 *            {"op":"resize","cols":N,"rows":N} | {"op":"close","keepRemote":bool}
 *   stdout   {"event":"state","state":ShellState} | {"event":"session","state":"..."} |
 *            {"event":"data","data":"..."} | {"event":"write","ok":bool} |
 *            {"event":"drop","bytes":N} | {"event":"held","bytes":N} | {"event":"discard",...} | {"event":"exec","tag":"t","code":N,"stdout":"..."} |
 *            {"event":"started","remoteSession":"..."} | {"event":"error","message":"..."} |
 *            {"event":"closed"}
 *   stderr   the session's log
 *
 * Closing stdin closes everything and exits.
 */
import { createInterface } from 'node:readline';
import type { Logger } from '../../src/core/base/logger';
import { resolveHost } from '../../src/core/config/sshConfig';
import { noPrompter } from '../../src/core/session/prompter';
import { Session, sessionOptionsFor } from '../../src/core/session/session';
import { describeState } from '../../src/core/session/state';
import { KeeperLink } from '../../src/core/keeper/keeperLink';
import { KeptShell } from '../../src/core/shell/keptShell';
import { execCapture } from '../../src/core/shell/remoteExec';
import { keeperProgramText } from '../harness/keeperPeer';

export interface DriverConfig {
  configFile: string;
  alias: string;
  id: string;
  reattach: boolean;
  cols?: number;
  rows?: number;
  env?: Record<string, string>;
  /** Run the shell on the session keeper (default false: tmux or a plain shell). */
  keeper?: boolean;
}

export type DriverCommand =
  | { op: 'write'; data: string }
  | { op: 'exec'; tag: string; command: string }
  | { op: 'resize'; cols: number; rows: number }
  | { op: 'close'; keepRemote?: boolean };

const out = (event: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(event)}\n`);

const logger: Logger = {
  trace: () => undefined,
  debug: (m) => process.stderr.write(`debug: ${m}\n`),
  info: (m) => process.stderr.write(`info: ${m}\n`),
  warn: (m) => process.stderr.write(`warn: ${m}\n`),
  error: (m) => process.stderr.write(`error: ${m}\n`),
};

async function main(): Promise<void> {
  const config = JSON.parse(process.argv[2] ?? '{}') as DriverConfig;
  // No agent: the lab's key comes from the generated ssh_config only.
  const host = resolveHost(config.alias, { configFile: config.configFile, env: { ...process.env, SSH_AUTH_SOCK: undefined } });
  const session = new Session(host, sessionOptionsFor(host), { prompter: noPrompter, logger });
  session.onDidChangeState((s) => out({ event: 'session', state: s.kind, text: describeState(s) }));
  const link = config.keeper ? new KeeperLink(session, { program: keeperProgramText(), name: `natlab-${config.id}`, idleSeconds: 300, logger }) : undefined;
  const shell = new KeptShell(
    session,
    link,
    { term: 'xterm-256color', cols: config.cols ?? 100, rows: config.rows ?? 30, reattach: config.reattach, id: config.id, env: config.env },
    { logger },
  );
  shell.onDidChangeState((state) => out({ event: 'state', state }));
  shell.onDidData((data) => out({ event: 'data', data }));
  shell.onDidDropInput((d) => out({ event: 'drop', bytes: d.bytes }));
  shell.onDidHoldInput((h) => out({ event: 'held', bytes: h.bytes }));
  shell.onDidDiscardInput((d) => out({ event: 'discard', bytes: d.bytes, why: d.why }));

  let closing: Promise<void> | undefined;
  const close = (keepRemote = false) =>
    (closing ??= (async () => {
      await shell.close({ keepRemote });
      await link?.shutdown(2000);
      link?.dispose();
      session.dispose();
      out({ event: 'closed' });
    })());

  const lines = createInterface({ input: process.stdin });
  lines.on('line', (line) => {
    if (!line.trim()) return;
    let cmd: DriverCommand;
    try {
      cmd = JSON.parse(line) as DriverCommand;
    } catch {
      out({ event: 'error', message: `not JSON: ${line}` });
      return;
    }
    switch (cmd.op) {
      case 'write':
        out({ event: 'write', ok: shell.write(cmd.data) });
        break;
      case 'resize':
        shell.resize(cmd.cols, cmd.rows);
        break;
      case 'exec': {
        const client = session.client;
        if (!client) {
          out({ event: 'exec', tag: cmd.tag, code: null, stdout: '', error: 'not connected' });
          break;
        }
        const tag = cmd.tag;
        execCapture(client, cmd.command, 10_000).then(
          (r) => out({ event: 'exec', tag, code: r.code, stdout: r.stdout, stderr: r.stderr }),
          (err: Error) => out({ event: 'exec', tag, code: null, stdout: '', error: err.message }),
        );
        break;
      }
      case 'close':
        void close(cmd.keepRemote);
        break;
    }
  });
  lines.on('close', () => void close().then(() => process.exit(0)));

  try {
    await shell.start();
    out({ event: 'started', remoteSession: shell.remoteSessionName });
  } catch (err) {
    out({ event: 'error', message: (err as Error).message });
  }
}

main().catch((err: Error) => {
  out({ event: 'error', message: err.stack ?? String(err) });
  process.exit(1);
});

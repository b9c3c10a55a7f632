import { createHash, randomBytes } from 'node:crypto';
import type { Client, ClientChannel } from 'ssh2';
import { withDeadline } from '../base/deadline';
import { KeeperError, textField } from './errors';

/**
 * Starting the keeper on the server: one exec whose stdin carries a header line, the program
 * text and the secret. A tiny bootstrap (on the command line, no secrets in it) checks the
 * program's sha256, stores it by that hash, and runs its boot(): start detached, or report the
 * keeper of that name already running.
 */
const BOOTSTRAP = [
  'import sys,json,hashlib',
  'r=sys.stdin.buffer',
  'h=json.loads(r.readline(65536).decode())',
  "p=r.read(h['len'])",
  "ok=hashlib.sha256(p).hexdigest()==h['sha256']",
  'ok or (sys.stdout.write(json.dumps({"ok":False,"error":"bad-input","message":"program hash mismatch"})+"\\n"),sys.exit(1))',
  "g={'__name__':'ssh_keepalive_keeper'}",
  "exec(compile(p,'keeper.py','exec'),g)",
  "sys.exit(g['boot'](h,p,r))",
].join('\n');

export interface KeeperStartOptions {
  /** The text of keeper/keeper.py. */
  program: string;
  /** Names this keeper on the server (its socket, lock and state files): letters, digits, - and _, up to 40. */
  name: string;
  /** From newKeeperSecret(); it only travels on stdin and inside the protocol. */
  secret: string;
  /** Exit after this many seconds with no client attached; default a day. */
  idleSeconds?: number;
  /** Replay bound per stream on the keeper's side; default 8 MiB. */
  streamBound?: number;
  /** Directory for program, lock, state and socket (tests); default $XDG_RUNTIME_DIR or ~/.cache. */
  dir?: string;
  /** The interpreter to run; default python3 from the server's PATH. */
  python?: string;
  timeoutMs?: number;
}

/** Where a running keeper is. */
export interface KeeperLocation {
  readonly socket: string;
  /** The stored copy of the program (runs the exec relay). */
  readonly program: string;
  readonly pid: number;
  /** False when a keeper of that name was already running. */
  readonly started: boolean;
  readonly python: string;
  readonly pythonCommand: string;
}

export function newKeeperSecret(): string {
  return randomBytes(32).toString('hex');
}

export function bootstrapCommand(python = 'python3'): string {
  const code = Buffer.from(BOOTSTRAP, 'utf8').toString('base64');
  // -I: ignore PYTHON* variables and the user's site dir; base64 keeps every shell's quoting out of it.
  return `${python} -I -c "import base64;exec(base64.b64decode('${code}'))"`;
}

export async function startKeeper(client: Client, o: KeeperStartOptions): Promise<KeeperLocation> {
  const program = Buffer.from(o.program, 'utf8');
  const header = {
    len: program.length,
    sha256: createHash('sha256').update(program).digest('hex'),
    name: o.name,
    idle: o.idleSeconds ?? 86400,
    ...(o.streamBound ? { bound: o.streamBound } : {}),
    ...(o.dir ? { dir: o.dir } : {}),
  };
  const python = o.python ?? 'python3';
  const result = await execWithInput(
    client,
    bootstrapCommand(python),
    [Buffer.from(JSON.stringify(header) + '\n'), program, Buffer.from(o.secret + '\n')],
    o.timeoutMs ?? 15_000,
  );
  const lastLine = result.stdout.trim().split('\n').pop() ?? '';
  let reply: Record<string, unknown> | undefined;
  try {
    reply = JSON.parse(lastLine) as Record<string, unknown>;
  } catch {
    reply = undefined;
  }
  if (!reply) {
    if (result.code === 127 || /python3?: (command )?not found|No such file/.test(result.stderr)) {
      throw new KeeperError('no-python', `the server has no ${python} (${result.stderr.trim() || `exit ${result.code}`})`);
    }
    if (/SyntaxError|invalid syntax/.test(result.stderr)) {
      throw new KeeperError('no-python', `${python} on the server is too old for the keeper: ${lastStderrLine(result.stderr)}`);
    }
    throw new KeeperError('start-failed', `keeper start: exit ${result.code}: ${lastStderrLine(result.stderr) || 'no reply'}`);
  }
  if (reply.ok !== true) {
    const reason = reply.error === 'python-too-old' ? 'no-python' : 'start-failed';
    throw new KeeperError(reason, `keeper start: ${String(reply.error)}: ${String(reply.message)}`);
  }
  return {
    socket: String(reply.socket),
    program: String(reply.program),
    pid: Number(reply.pid),
    started: reply.started === true,
    python: textField(reply.python, ''),
    pythonCommand: python,
  };
}

function lastStderrLine(stderr: string): string {
  return stderr.trim().split('\n').pop() ?? '';
}

interface ExecResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs a command, writes `input` to its stdin, collects its output (bounded), under one
 * deadline for the whole run; a channel opened after the deadline is destroyed at once.
 */
export function execWithInput(client: Client, command: string, input: Buffer[], timeoutMs: number): Promise<ExecResult> {
  let channel: ClientChannel | undefined;
  return withDeadline<ExecResult>(
    (done, isSettled) =>
      client.exec(command, (err, ch) => {
        if (err) return done(new KeeperError('start-failed', `keeper start: exec refused: ${err.message}`));
        // Answered after the deadline: nobody waits for it; do not start a keeper through it.
        if (isSettled()) return void ch.destroy();
        channel = ch;
        let stdout = '';
        let stderr = '';
        const cap = 64 * 1024;
        ch.on('data', (d: Buffer) => {
          if (stdout.length < cap) stdout += d.toString('utf8');
        });
        ch.stderr.on('data', (d: Buffer) => {
          if (stderr.length < cap) stderr += d.toString('utf8');
        });
        let code: number | null = null;
        ch.on('exit', (c: number | null) => {
          code = c;
        });
        ch.on('close', () => done(null, { code, stdout, stderr }));
        for (const b of input) ch.write(b);
        ch.end();
      }),
    {
      timeoutMs,
      onTimeout: () => {
        channel?.destroy();
        return new KeeperError('timeout', `keeper start: no answer within ${timeoutMs} ms`);
      },
    },
  );
}

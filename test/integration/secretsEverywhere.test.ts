import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { cliPath } from '../../tools/peers/repo';
import { sshdAvailability, startSshd, type SshdHandle } from '../../tools/peers/sshd';
import { until } from '../harness/bounded';
import { startMiniServer, type MiniServer } from '../harness/miniServer';
import { requireOrSkip } from '../harness/skip';

/**
 * The CLI as shipped (dist/cli.js), asked for secrets on its terminal at the most verbose
 * level it has (-vvv: trace) and with --events: no password, key passphrase or
 * keyboard-interactive answer, right or wrong, appears on stdout, stderr (the log, the
 * events, the final error message), on the terminal, or in any file the run wrote under its
 * HOME, XDG directories, TMPDIR or the system temp directory. test/unit/secrets.test.ts
 * checks the same of the core's log lines, events and errors; this is the whole product.
 *
 * The passphrase-protected key logs in to a real OpenSSH sshd. Password and
 * keyboard-interactive logins use the in-process ssh2 server: the harness sshd runs without
 * PAM as the user running the tests, who has no password to give (and giving root one is not
 * a test's business).
 */

const tag = randomBytes(4).toString('hex');
const password = `pw-Right-${tag}`;
const wrongPassword = `pw-Wrong-${tag}`;
const otp = `otp-Right-${tag}`;
const wrongOtp = `otp-Wrong-${tag}`;
const wrongPassphrase = `pp-Wrong-${tag}`;

let sshd: SshdHandle | undefined;
let pw: MiniServer;
let kbd: MiniServer;
let configDir: string;
let configPath: string;
const started = Date.now();

before(async () => {
  [pw, kbd] = await Promise.all([startMiniServer({ password }), startMiniServer({ password: otp, kbdInteractive: true })]);
  if (sshdAvailability().ok) sshd = await startSshd();
  configDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ska-secrets-cfg-'));
  configPath = path.join(configDir, 'ssh_config');
  const mini = (alias: string, s: MiniServer) => [
    `Host ${alias}`,
    '  HostName 127.0.0.1',
    `  Port ${s.port}`,
    '  User tester',
    `  UserKnownHostsFile ${s.knownHostsPath}`,
    '  StrictHostKeyChecking yes',
  ];
  const lines = [...mini('pw', pw), ...mini('kbd', kbd)];
  if (sshd) {
    lines.push(
      'Host keyed',
      `  HostName ${sshd.host}`,
      `  Port ${sshd.port}`,
      `  User ${sshd.user}`,
      `  IdentityFile ${sshd.encryptedClientKeyPath}`,
      '  IdentitiesOnly yes',
      `  UserKnownHostsFile ${sshd.knownHostsPath}`,
      '  StrictHostKeyChecking yes',
    );
  }
  fs.writeFileSync(configPath, lines.join('\n') + '\n');
});
after(async () => {
  await Promise.all([pw?.close(), kbd?.close(), sshd?.stop()]);
  if (configDir) fs.rmSync(configDir, { recursive: true, force: true });
});

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  /** What the terminal showed (the CLI's stdout and stderr go to files; this is the echo). */
  terminal: string;
  /** Every file written under the run's HOME, XDG directories and TMPDIR: path and content. */
  files: Array<{ path: string; text: string }>;
}

/** Answers each prompt the CLI prints, in order. */
const PROMPT = /(?:'s password: |Enter passphrase for key '[^']*': |Verification code: )/g;

/** Single-quotes for sh. */
const sq = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/**
 * Runs `node dist/cli.js ...args` with its stdin on a pseudo-terminal (util-linux `script`),
 * so it asks as it would a person; stdout and stderr go to files. Each prompt that appears
 * on stderr gets the next answer, typed only once the prompt is there (echo is off by then).
 */
async function runOnTty(args: string[], answers: string[]): Promise<Run> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ska-secrets-run-'));
  const dirs = ['home', 'state', 'config', 'cache', 'data', 'runtime', 'tmp'].map((d) => path.join(root, d));
  for (const d of dirs) fs.mkdirSync(d, { mode: 0o700 });
  const [home, state, config, cache, data, runtime, tmp] = dirs;
  const out = path.join(root, 'stdout');
  const err = path.join(root, 'stderr');
  const command = `exec ${[process.execPath, cliPath, ...args].map(sq).join(' ')} >${sq(out)} 2>${sq(err)}`;
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    LANG: 'C',
    TERM: 'dumb',
    HOME: home,
    XDG_STATE_HOME: state,
    XDG_CONFIG_HOME: config,
    XDG_CACHE_HOME: cache,
    XDG_DATA_HOME: data,
    XDG_RUNTIME_DIR: runtime,
    TMPDIR: tmp,
    SHELL: '/bin/sh',
  };
  const child = spawn('script', ['-qfec', command, '/dev/null'], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  let terminal = '';
  child.stdout.on('data', (d: Buffer) => (terminal += d.toString()));
  child.stderr.on('data', (d: Buffer) => (terminal += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  let done = false;
  void exited.then(() => (done = true));
  const readErr = () => (fs.existsSync(err) ? fs.readFileSync(err, 'utf8') : '');
  let answered = 0;
  try {
    await until(
      () => {
        const asked = readErr().match(PROMPT)?.length ?? 0;
        while (answered < asked) {
          assert.ok(answered < answers.length, `asked more than the ${answers.length} answers given; stderr:\n${readErr()}`);
          child.stdin.write(`${answers[answered++]}\r`);
        }
        return done;
      },
      20_000,
      `the CLI ${args.join(' ')} to finish`,
    );
  } finally {
    if (!done) child.kill('SIGKILL');
  }
  const code = await exited;
  const files: Run['files'] = [];
  for (const f of walk(root)) {
    if (f === out || f === err) continue;
    files.push({ path: f, text: fs.readFileSync(f).toString('latin1') });
  }
  const run = { code, stdout: fs.readFileSync(out, 'utf8'), stderr: readErr(), terminal, files };
  fs.rmSync(root, { recursive: true, force: true });
  assert.equal(answered, answers.length, `every answer was asked for; stderr:\n${run.stderr}`);
  return run;
}

/** Regular files under `dir` (symlinks not followed), optionally only those changed since `since`. */
function* walk(dir: string, since = 0): Generator<string> {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return; // gone or not ours to read
  }
  for (const e of entries) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) yield* walk(p, since);
    else if (e.isFile()) {
      try {
        const st = fs.statSync(p);
        if (st.mtimeMs >= since && st.size <= 16 * 1024 * 1024) yield p;
      } catch {
        // removed meanwhile by another process
      }
    }
  }
}

/** A secret as it could leak: as typed, and base64 or hex encoded. */
function forms(secret: string): string[] {
  const b = Buffer.from(secret);
  return [secret, b.toString('base64').replace(/=+$/, ''), b.toString('hex')];
}

function assertClean(run: Run, secrets: string[], what: string): void {
  const places: Array<[string, string]> = [
    ['stdout', run.stdout],
    ['stderr (log, events, error message)', run.stderr],
    ['the terminal', run.terminal],
    ...run.files.map((f): [string, string] => [`file ${f.path}`, f.text]),
  ];
  for (const secret of secrets) {
    for (const form of forms(secret)) {
      for (const [where, text] of places) {
        assert.ok(!text.includes(form), `${what}: the secret ${JSON.stringify(secret)} (as ${JSON.stringify(form)}) is in ${where}`);
      }
    }
  }
}

/** The events printed with --events (JSON lines on stderr). */
function events(run: Run): Array<{ event: string }> {
  return run.stderr
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { event: string });
}

const verbose = ['-vvv', '--events', '-F'];
const runs: Array<{ run: Run; what: string }> = [];

test('a password, wrong then right, appears nowhere the CLI writes', async () => {
  const run = await runOnTty([...verbose, configPath, 'pw', 'echo', 'done'], [wrongPassword, password]);
  assert.equal(run.code, 0, `the login succeeded; stderr:\n${run.stderr}`);
  assert.match(run.stdout, /ran echo done/);
  // -vvv is the CLI's most verbose level (trace; nothing logs below debug today).
  assert.match(run.stderr, /debug: trying password/, 'debug lines were logged (else the log proves little)');
  assert.ok(
    events(run).some((e) => e.event === 'connected'),
    'a connected event was printed',
  );
  assertClean(run, [password, wrongPassword], 'password login');
  runs.push({ run, what: 'password login' });
});

test('a refused password, three times wrong, is not in the error message or anywhere else', async () => {
  const wrong = [`${wrongPassword}-1`, `${wrongPassword}-2`, `${wrongPassword}-3`];
  const run = await runOnTty([...verbose, configPath, 'pw', 'true'], wrong);
  assert.notEqual(run.code, 0, 'the login failed');
  assert.ok(
    events(run).some((e) => e.event === 'failed'),
    `a failed event was printed; stderr:\n${run.stderr}`,
  );
  assertClean(run, wrong, 'refused password login');
  runs.push({ run, what: 'refused password login' });
});

test('a keyboard-interactive answer, wrong or right, appears nowhere the CLI writes', async () => {
  const bad = await runOnTty([...verbose, configPath, 'kbd', 'true'], [wrongOtp]);
  assert.notEqual(bad.code, 0, 'the wrong code was refused');
  assert.ok(
    events(bad).some((e) => e.event === 'failed'),
    `a failed event was printed; stderr:\n${bad.stderr}`,
  );
  assertClean(bad, [wrongOtp, otp], 'refused keyboard-interactive login');
  const good = await runOnTty([...verbose, configPath, 'kbd', 'echo', 'done'], [otp]);
  assert.equal(good.code, 0, `the login succeeded; stderr:\n${good.stderr}`);
  assert.match(good.stdout, /ran echo done/);
  assertClean(good, [wrongOtp, otp], 'keyboard-interactive login');
  runs.push({ run: bad, what: 'refused keyboard-interactive login' }, { run: good, what: 'keyboard-interactive login' });
});

test('a key passphrase, wrong then right, appears nowhere the CLI writes (real sshd)', async (t) => {
  if (!requireOrSkip(t, sshdAvailability())) return;
  const run = await runOnTty([...verbose, configPath, 'keyed', 'echo', 'done'], [wrongPassphrase, sshd!.passphrase]);
  assert.equal(run.code, 0, `the login succeeded; stderr:\n${run.stderr}`);
  assert.match(run.stdout, /^done$/m);
  assertClean(run, [wrongPassphrase, sshd!.passphrase], 'passphrase login');
  runs.push({ run, what: 'passphrase login' });
});

test('no file written anywhere under the temp directory during these runs holds a secret', () => {
  assert.ok(runs.length > 0, 'the login tests ran first');
  // The harness key's passphrase is fixed (its source is copied around /tmp by other tools):
  // it is searched for in each run's own directories above; here only the ones made for this run.
  const secrets = [password, wrongPassword, otp, wrongOtp, wrongPassphrase];
  let checked = 0;
  for (const f of walk(os.tmpdir(), started)) {
    let text: string;
    try {
      text = fs.readFileSync(f).toString('latin1');
    } catch {
      continue; // removed meanwhile, or a socket or fifo
    }
    checked++;
    for (const s of secrets) for (const form of forms(s)) assert.ok(!text.includes(form), `the secret ${JSON.stringify(s)} is in ${f}`);
  }
  assert.ok(checked > 0, 'the walk saw the files these runs wrote');
});

/**
 * Differential test: every case of test/fixtures/ssh-config-corpus is resolved by
 * OpenSSH (`ssh -G`) and by `ssh-keepalive -G`, and the options ssh-keepalive uses are
 * compared field by field. Both run as an unprivileged test user whose passwd home is a
 * directory the test fills, because ssh takes `~`, %d and %u from the password database.
 * Each case is a directory: `config` (read with -F, so /etc/ssh/ssh_config stays out),
 * other files copied next to it into ~/.ssh, `_home/` copied into ~, and `case.json`:
 * the destinations to resolve, deliberate differences (each with its reason; the field
 * must really differ, so the list cannot go stale) and a warning ssh-keepalive must print.
 *
 * Beyond -G's text, the resolved identity files and ProxyJump hops (what ssh-keepalive
 * connects with) are compared with what ssh itself would use: identity paths expanded by
 * ssh (as a ControlPath, which takes the same `~` and tokens), hops resolved by running
 * `ssh -G` with the arguments ssh passes to its ProxyJump child.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { requireOrSkip } from '../harness/skip';
import { expandProxyTokens, first, lastHopArgs, parseG, type GOutput } from '../harness/sshGOutput';
import { createTestUser, testUserAvailability, type TestUser } from '../harness/testUser';

const repoRoot = path.join(__dirname, '..', '..', '..');
const cliPath = path.join(repoRoot, 'dist', 'cli.js');
const outSrc = path.join(repoRoot, 'out', 'src');
const corpus = path.join(repoRoot, 'test', 'fixtures', 'ssh-config-corpus');

/** The options ssh-keepalive uses, as `ssh -G` names them. */
const FIELDS = [
  'host',
  'user',
  'hostname',
  'port',
  'identitiesonly',
  'stricthostkeychecking',
  'serveralivecountmax',
  'serveraliveinterval',
  'hostkeyalias',
  'identityagent',
  'dynamicforward',
  'localforward',
  'remoteforward',
  'identityfile',
  'userknownhostsfile',
  'connecttimeout',
  'proxyjump',
  'proxycommand',
];

/**
 * Deliberate differences that hold for every case:
 * - Where the config is silent, ssh-keepalive keeps alive by default (its reason to exist):
 *   ServerAliveInterval 15 s instead of ssh's 0 (off), and a 15 s ConnectTimeout where
 *   ssh waits for the system's TCP timeout ("none").
 * - Default keys ssh2 cannot use (id_ecdsa_sk, id_ed25519_sk, id_xmss) and DSA (off in
 *   OpenSSH's own algorithm defaults) are skipped with a debug line; -G still prints
 *   ssh's default list, so only the resolved identity files differ.
 */
const SSH_DEFAULTS: Record<string, { ssh: string; ours: string; reason: string }> = {
  serveraliveinterval: { ssh: '0', ours: '15', reason: 'unset ServerAliveInterval: ssh-keepalive probes every 15 s, ssh never' },
  serveralivecountmax: { ssh: '3', ours: '3', reason: 'same default' },
  connecttimeout: { ssh: 'none', ours: '15', reason: "unset ConnectTimeout: ssh-keepalive gives up after 15 s, ssh waits for the system's TCP timeout" },
};
const DEFAULT_KEYS = ['id_rsa', 'id_ecdsa', 'id_ecdsa_sk', 'id_ed25519', 'id_ed25519_sk', 'id_xmss', 'id_dsa'];
const UNUSABLE_DEFAULT_KEYS = new Set(['id_ecdsa_sk', 'id_ed25519_sk', 'id_xmss', 'id_dsa']);

interface Deliberate {
  run: string;
  field: string;
  reason: string;
}

interface CaseSpec {
  runs: string[][];
  deliberate?: Deliberate[];
  warning?: string;
  /** For a config both refuse: what each must say (ssh's reason and ours). */
  refusal?: { ssh: string; ours: string };
}

let user: TestUser | undefined;
/** Copies of dist/cli.js and out/src the test user can read (the checkout may sit in a private home). */
let staged: { cli: string; src: string; dir: string } | undefined;
const tally = { runs: 0, agreeing: 0, deliberate: [] as string[] };

before(() => {
  if (!testUserAvailability().ok || !fs.existsSync(cliPath)) return;
  user = createTestUser();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ska-sshg-bin-'));
  fs.chmodSync(dir, 0o755);
  fs.copyFileSync(cliPath, path.join(dir, 'cli.js'));
  fs.cpSync(outSrc, path.join(dir, 'src'), { recursive: true });
  staged = { cli: path.join(dir, 'cli.js'), src: path.join(dir, 'src'), dir };
});
after(() => {
  user?.dispose();
  if (staged) fs.rmSync(staged.dir, { recursive: true, force: true });
});

function copyTree(from: string, to: string, skip: (name: string) => boolean): void {
  for (const name of fs.readdirSync(from)) {
    if (skip(name)) continue;
    const src = path.join(from, name);
    const dst = path.join(to, name);
    if (fs.statSync(src).isDirectory()) {
      fs.mkdirSync(dst, { recursive: true, mode: 0o755 });
      copyTree(src, dst, () => false);
    } else {
      fs.copyFileSync(src, dst);
      fs.chmodSync(dst, 0o644);
    }
  }
}

/** A fresh home holding the case's files; returns the -F path. */
function installCase(u: TestUser, dir: string): string {
  for (const name of fs.readdirSync(u.home)) fs.rmSync(path.join(u.home, name), { recursive: true, force: true });
  const ssh = path.join(u.home, '.ssh');
  fs.mkdirSync(ssh, { mode: 0o755 });
  copyTree(dir, ssh, (name) => name === 'case.json' || name === '_home');
  if (fs.existsSync(path.join(dir, '_home'))) copyTree(path.join(dir, '_home'), u.home, () => false);
  return path.join(ssh, 'config');
}

interface Outcome {
  ok: boolean;
  g: GOutput;
  stderr: string;
}

function runG(u: TestUser, command: 'ssh' | 'ours', args: string[]): Outcome {
  const r = command === 'ssh' ? u.run('ssh', ['-G', ...args]) : u.run(process.execPath, [staged!.cli, '-G', ...args]);
  if (r.error) throw new Error(`${command} -G ${args.join(' ')} did not finish: ${r.error.message}`);
  return { ok: r.status === 0, g: parseG(r.stdout), stderr: r.stderr };
}

/** What ssh-keepalive connects with, from its resolver, run as the test user. */
interface OursResolved {
  identityFiles: string[];
  proxyJump: Array<Record<string, unknown>>;
  proxyCommand?: string;
}

function oursResolved(u: TestUser, args: string[]): OursResolved {
  const script = `
    const { parseArgs } = require(${JSON.stringify(path.join(staged!.src, 'cli', 'args.js'))});
    const { resolveDestination } = require(${JSON.stringify(path.join(staged!.src, 'cli', 'resolveDestination.js'))});
    const { host } = resolveDestination(parseArgs(JSON.parse(process.argv[1])));
    process.stdout.write(JSON.stringify({ identityFiles: host.identityFiles, proxyJump: host.proxyJump, proxyCommand: host.proxyCommand }));`;
  const r = u.run(process.execPath, ['-e', script, JSON.stringify(args)]);
  assert.equal(r.status, 0, `ssh-keepalive resolver failed for ${args.join(' ')}: ${r.stderr}`);
  return JSON.parse(r.stdout) as OursResolved;
}

/** An IdentityFile template expanded by ssh itself: ControlPath takes the same `~`, ${VAR} and tokens. */
function sshExpand(u: TestUser, args: string[], template: string): string {
  const r = runG(u, 'ssh', ['-o', `ControlPath=${template}`, ...args]);
  const expanded = first(r.g, 'controlpath');
  assert.ok(r.ok && expanded !== undefined, `ssh could not expand ${template}: ${r.stderr}`);
  return path.resolve(u.home, expanded);
}

/** The hops ssh goes through for a destination, each as ssh -G resolves it. */
function sshChain(u: TestUser, configArgs: string[], args: string[], depth = 0): GOutput[] {
  assert.ok(depth < 10, `ProxyJump chain too deep for ${args.join(' ')}`);
  const target = runG(u, 'ssh', [...configArgs, ...args]);
  const jump = first(target.g, 'proxyjump');
  if (!target.ok || jump === undefined || jump === 'none') return [];
  const hopArgs = lastHopArgs(expandProxyTokens(jump, target.g));
  const hop = runG(u, 'ssh', [...configArgs, ...hopArgs]);
  assert.ok(hop.ok, `ssh -G ${hopArgs.join(' ')} failed: ${hop.stderr}`);
  return [...sshChain(u, configArgs, hopArgs, depth + 1), hop.g];
}

function compareRun(u: TestUser, config: string, args: string[], spec: CaseSpec, label: string): string[] {
  const problems: string[] = [];
  const configArgs = ['-F', config];
  const ssh = runG(u, 'ssh', [...configArgs, ...args]);
  const ours = runG(u, 'ours', [...configArgs, ...args]);
  if (!ssh.ok || !ours.ok) {
    if (ssh.ok !== ours.ok) {
      problems.push(
        `ssh ${ssh.ok ? 'accepts' : 'rejects'} the config, ssh-keepalive ${ours.ok ? 'accepts' : 'rejects'} it: ${ssh.stderr.trim()} | ${ours.stderr.trim()}`,
      );
    } else {
      // Both refuse: they must blame the same line.
      const sshLine = /line (\d+)/.exec(ssh.stderr)?.[1];
      const ourLine = /config:(\d+)/.exec(ours.stderr)?.[1];
      if (sshLine !== ourLine)
        problems.push(`both refuse, but ssh blames line ${sshLine} and ssh-keepalive line ${ourLine}: ${ssh.stderr.trim()} | ${ours.stderr.trim()}`);
      if (!spec.refusal) problems.push('both refuse the config: give the reasons each must state in case.json "refusal"');
      else if (!ssh.stderr.includes(spec.refusal.ssh) || !ours.stderr.includes(spec.refusal.ours)) {
        problems.push(`both refuse, but not for the listed reason ${JSON.stringify(spec.refusal)}: ${ssh.stderr.trim()} | ${ours.stderr.trim()}`);
      }
    }
    return problems;
  }
  const run = args.join(' ');
  for (const field of FIELDS) {
    const a = ssh.g.get(field) ?? [];
    const b = ours.g.get(field) ?? [];
    const deliberate = spec.deliberate?.find((d) => d.field === field && d.run === run);
    const same = JSON.stringify(a) === JSON.stringify(b);
    const def = SSH_DEFAULTS[field];
    if (deliberate) {
      if (same) problems.push(`${field}: listed as a deliberate difference but both print ${JSON.stringify(a)}; remove it from case.json`);
      else tally.deliberate.push(`${label}: ${field} ssh ${JSON.stringify(a)} / ssh-keepalive ${JSON.stringify(b)}: ${deliberate.reason}`);
    } else if (!same && !(def && a.length === 1 && a[0] === def.ssh && b.length === 1 && b[0] === def.ours)) {
      problems.push(`${field}: ssh ${JSON.stringify(a)}, ssh-keepalive ${JSON.stringify(b)}`);
    }
  }
  if (spec.warning && !ours.stderr.includes(spec.warning)) problems.push(`no warning containing ${JSON.stringify(spec.warning)} on stderr: ${ours.stderr}`);

  // What ssh-keepalive connects with.
  const resolved = oursResolved(u, [...configArgs, ...args]);
  const templates = ssh.g.get('identityfile') ?? [];
  // ssh prints its default list when no IdentityFile applies; it then skips missing files.
  const usingDefaults = JSON.stringify(templates) === JSON.stringify(DEFAULT_KEYS.map((k) => `~/.ssh/${k}`));
  const wantIdentities = templates
    .map((t) => sshExpand(u, [...configArgs, ...args], t))
    .filter((f) => !usingDefaults || (fs.existsSync(f) && !UNUSABLE_DEFAULT_KEYS.has(path.basename(f))));
  if (JSON.stringify(resolved.identityFiles) !== JSON.stringify(wantIdentities)) {
    problems.push(`identity files: ssh would use ${JSON.stringify(wantIdentities)}, ssh-keepalive ${JSON.stringify(resolved.identityFiles)}`);
  }
  const chain = sshChain(u, configArgs, args);
  const ourChain = resolved.proxyJump.map((h) => ({ host: h.alias, hostname: h.hostName, port: String(h.port), user: h.user }));
  const sshHops = chain.map((g) => ({ host: first(g, 'host'), hostname: first(g, 'hostname'), port: first(g, 'port'), user: first(g, 'user') }));
  if (JSON.stringify(ourChain) !== JSON.stringify(sshHops)) {
    problems.push(`ProxyJump hops: ssh ${JSON.stringify(sshHops)}, ssh-keepalive ${JSON.stringify(ourChain)}`);
  }
  // The command ssh would run: its -G text with sshconnect.c's tokens filled in.
  const sshCommand = first(ssh.g, 'proxycommand');
  const wantCommand = sshCommand === undefined || sshCommand === 'none' ? undefined : expandProxyTokens(sshCommand, ssh.g);
  if (resolved.proxyCommand !== wantCommand) {
    problems.push(`ProxyCommand: ssh would run ${JSON.stringify(wantCommand)}, ssh-keepalive ${JSON.stringify(resolved.proxyCommand)}`);
  }
  return problems;
}

const cases = fs
  .readdirSync(corpus)
  .filter((name) => fs.existsSync(path.join(corpus, name, 'case.json')))
  .sort();

for (const name of cases) {
  test(`ssh -G and ssh-keepalive -G agree: ${name}`, (t) => {
    if (!requireOrSkip(t, testUserAvailability)) return;
    assert.ok(fs.existsSync(cliPath), `${cliPath} missing: run npm run build`);
    assert.ok(user && staged, 'test user or staged copies of the CLI were not set up');
    const u = user;
    const spec = JSON.parse(fs.readFileSync(path.join(corpus, name, 'case.json'), 'utf8')) as CaseSpec;
    const config = installCase(u, path.join(corpus, name));
    const failures: string[] = [];
    for (const args of spec.runs) {
      const label = `${name}: ${args.join(' ')}`;
      const problems = compareRun(u, config, args, spec, label);
      tally.runs++;
      if (problems.length === 0) tally.agreeing++;
      else failures.push(`${label}\n    ${problems.join('\n    ')}`);
    }
    for (const d of spec.deliberate ?? []) {
      assert.ok(
        spec.runs.some((r) => r.join(' ') === d.run),
        `${name}: deliberate difference for unknown run "${d.run}"`,
      );
    }
    assert.deepEqual(failures, [], `ssh and ssh-keepalive read ${name} differently:\n  ${failures.join('\n  ')}`);
  });
}

test('ssh -G differential: summary', (t) => {
  if (!requireOrSkip(t, testUserAvailability)) return;
  t.diagnostic(`${tally.agreeing}/${tally.runs} runs agree (${cases.length} cases)`);
  for (const d of tally.deliberate) t.diagnostic(`deliberate: ${d}`);
  for (const [field, d] of Object.entries(SSH_DEFAULTS)) if (d.ssh !== d.ours) t.diagnostic(`deliberate (every case): ${field}: ${d.reason}`);
  t.diagnostic('deliberate (every case): default keys of types ssh2 cannot use (id_*_sk, id_xmss) and DSA are skipped');
  assert.ok(tally.runs > 0, 'no runs compared');
});

/**
 * code-server (VS Code's web workbench + a Node extension host) for the extension tests, the
 * demo and the e2e story: installed once by scripts/install-code-server.sh into .vscode-test/
 * (cached), a throwaway profile (user data, extensions, workspace) in a temp folder, a .vsix
 * installed with --install-extension, and the server in a process group of its own so that
 * stop() takes the extension host (and the SSH sessions it holds) with it.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { codeServerVersion, extensionId, repoRoot } from './repo';

const entry = path.join(repoRoot, '.vscode-test', `code-server-${codeServerVersion}`, 'out', 'node', 'entry.js');

export interface Profile {
  root: string;
  userData: string;
  extensions: string;
  workspace: string;
  config: string;
  /** Removes the temp folder. */
  remove(): void;
}

/** Installs code-server into .vscode-test/ unless the cached install is complete. */
export function ensureCodeServer(): void {
  const r = spawnSync('bash', [path.join(repoRoot, 'scripts', 'install-code-server.sh')], {
    stdio: ['ignore', 2, 2],
    env: { ...process.env, CODE_SERVER_VERSION: codeServerVersion },
  });
  if (r.status !== 0) throw new Error(`scripts/install-code-server.sh failed (exit ${r.status ?? r.signal})`);
}

/** Settings every test or demo profile gets: no trust prompt, no tips, no network; text terminals in the DOM. */
export function baseSettings(): Record<string, unknown> {
  return JSON.parse(fs.readFileSync(path.join(repoRoot, 'tools', 'peers', 'code-server-settings.json'), 'utf8')) as Record<string, unknown>;
}

export function makeProfile(prefix: string, settings: Record<string, unknown>, workspaceReadme: string): Profile {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  const p: Profile = {
    root,
    userData: path.join(root, 'user-data'),
    extensions: path.join(root, 'extensions'),
    workspace: path.join(root, 'workspace'),
    config: path.join(root, 'code-server.yaml'),
    remove: () => fs.rmSync(root, { recursive: true, force: true }),
  };
  for (const d of [path.join(p.userData, 'User'), p.extensions, p.workspace, path.join(root, 'xdg-data'), path.join(root, 'xdg-cache')])
    fs.mkdirSync(d, { recursive: true });
  fs.writeFileSync(settingsFile(p), JSON.stringify({ ...baseSettings(), ...settings }, null, 2));
  // Keeps code-server from creating ~/.config/code-server/config.yaml.
  fs.writeFileSync(p.config, 'auth: none\n');
  fs.writeFileSync(path.join(p.workspace, 'README.md'), workspaceReadme);
  return p;
}

const settingsFile = (p: Profile) => path.join(p.userData, 'User', 'settings.json');

function serverEnv(p: Profile, extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  // XDG_* keep code-server's logs and state (and @vscode/deviceid's id) out of the real home;
  // no extension marketplace (code-server defaults to open-vsx.org; there is no internet).
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    XDG_DATA_HOME: path.join(p.root, 'xdg-data'),
    XDG_CACHE_HOME: path.join(p.root, 'xdg-cache'),
    EXTENSIONS_GALLERY: '{}',
    ...extra,
  };
  // code-server reads these and they would override our flags.
  for (const k of ['PORT', 'PASSWORD', 'HASHED_PASSWORD', 'GITHUB_TOKEN', 'VSCODE_IPC_HOOK_CLI', 'VSCODE_PROXY_URI', 'ELECTRON_RUN_AS_NODE']) delete env[k];
  return env;
}

/**
 * `code-server --install-extension <vsix>` into the profile, then checks it is listed. Warns
 * when the installed manifest cannot run in code-server: its web workbench has no local (UI)
 * extension host, so an extension whose extensionKind is only ["ui"] is not run at all (a
 * development-path extension is exempt, so a normal test run would not show it).
 */
export function installVsix(p: Profile, vsix: string, warn: (line: string) => void = (l) => console.error(l)): void {
  if (!fs.existsSync(vsix)) throw new Error(`${vsix} is missing: run \`npm run package\` first`);
  const cli = (args: string[]) =>
    spawnSync(process.execPath, [entry, '--config', p.config, '--user-data-dir', p.userData, '--extensions-dir', p.extensions, ...args], {
      env: serverEnv(p, {}),
      encoding: 'utf8',
      timeout: 180_000,
    });
  const r = cli(['--force', '--install-extension', vsix]);
  if (r.status !== 0) throw new Error(`--install-extension failed (exit ${r.status}): ${r.stdout}${r.stderr}`);
  const listed = cli(['--list-extensions']);
  if (
    !listed.stdout
      .split(/\r?\n/)
      .map((l) => l.trim().toLowerCase())
      .includes(extensionId.toLowerCase())
  ) {
    throw new Error(`${extensionId} is not listed after --install-extension: ${listed.stdout}${listed.stderr}`);
  }
  const dir = fs.readdirSync(p.extensions).find((n) => n.toLowerCase().startsWith(`${extensionId.toLowerCase()}-`));
  const manifest = dir ? (JSON.parse(fs.readFileSync(path.join(p.extensions, dir, 'package.json'), 'utf8')) as { extensionKind?: string | string[] }) : {};
  const kinds = ([] as string[]).concat(manifest.extensionKind ?? []);
  const settings = JSON.parse(fs.readFileSync(settingsFile(p), 'utf8')) as { 'remote.extensionKind'?: Record<string, unknown> };
  if (kinds.length && !kinds.includes('workspace') && !settings['remote.extensionKind']?.[extensionId]) {
    warn(
      `WARNING: ${vsix} declares extensionKind ${JSON.stringify(kinds)}; in code-server only "workspace" extensions run, ` +
        `so the installed extension will not be found. Use ["ui","workspace"] in package.json, or set "remote.extensionKind": {"${extensionId}": ["workspace"]}.`,
    );
  }
}

export interface CodeServer {
  readonly port: number;
  /** The address to open: the workbench with the profile's workspace folder. */
  readonly url: string;
  /** SIGTERM to the process group, SIGKILL to what is left after 5 s. Idempotent. */
  stop(): Promise<void>;
  /** SIGKILL to the process group at once, for a process 'exit' handler (which cannot wait). */
  kill(): void;
}

export interface StartOptions {
  profile: Profile;
  port: number;
  /** Inherited by the extension host. */
  env?: NodeJS.ProcessEnv;
  /** Run inside this network namespace (root). */
  netns?: string;
  logFile: string;
  /** Also copy code-server's output to stderr. */
  echo?: boolean;
  readyTimeoutMs?: number;
}

/** Starts code-server; resolves once it says it is listening. */
export async function startCodeServer(o: StartOptions): Promise<CodeServer> {
  if (!fs.existsSync(entry)) throw new Error(`code-server is not installed at ${entry} (bash scripts/install-code-server.sh)`);
  const args = [
    entry,
    '--config',
    o.profile.config,
    '--auth',
    'none',
    '--bind-addr',
    `127.0.0.1:${o.port}`,
    '--disable-telemetry',
    '--disable-update-check',
    '--disable-workspace-trust',
    '--disable-getting-started-override',
    '--ignore-last-opened',
    '--user-data-dir',
    o.profile.userData,
    '--extensions-dir',
    o.profile.extensions,
    o.profile.workspace,
  ];
  const [cmd, argv] = o.netns ? ['ip', ['netns', 'exec', o.netns, process.execPath, ...args]] : [process.execPath, args];
  const log = fs.openSync(o.logFile, 'w');
  // Own process group: stop() signals the whole tree (server, extension host, pty host).
  const child = spawn(cmd, argv, { cwd: o.profile.workspace, env: serverEnv(o.profile, o.env ?? {}), stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const { stop, kill } = stopper(child, log);
  try {
    await new Promise<void>((resolve, reject) => {
      let text = '';
      const timeoutMs = o.readyTimeoutMs ?? 60_000;
      const finish = (err?: Error) => {
        clearTimeout(timer);
        if (err) reject(err);
        else resolve();
      };
      const timer = setTimeout(() => finish(new Error(`code-server not listening after ${timeoutMs} ms; see ${o.logFile}`)), timeoutMs);
      const onData = (b: Buffer) => {
        try {
          fs.writeSync(log, b);
        } catch {
          // log closed by stop()
        }
        if (o.echo) process.stderr.write(b);
        if (text.length < 65536) text += b.toString('utf8');
        if (/HTTP server listening on/.test(text)) finish();
      };
      child.stdout.on('data', onData);
      child.stderr.on('data', onData);
      child.once('error', (err) => finish(err));
      child.once('exit', (code, sig) => finish(new Error(`code-server exited (${code ?? sig}) before listening; see ${o.logFile}`)));
    });
  } catch (err) {
    await stop();
    throw err;
  }
  const url = `http://127.0.0.1:${o.port}/?folder=${encodeURIComponent(o.profile.workspace)}`;
  return { port: o.port, url, stop, kill };
}

function stopper(child: ChildProcess, log: number): { stop: () => Promise<void>; kill: () => void } {
  let stopped: Promise<void> | undefined;
  const signal = (sig: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, sig);
    } catch {
      // already gone
    }
  };
  const closeLog = () => {
    try {
      fs.closeSync(log);
    } catch {
      // closed
    }
  };
  const stop = () =>
    (stopped ??= (async () => {
      if (child.exitCode === null && child.signalCode === null) {
        const gone = new Promise<void>((r) => child.once('exit', () => r()));
        signal('SIGTERM');
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([gone, new Promise<void>((r) => (timer = setTimeout(r, 5000)))]);
        clearTimeout(timer);
      }
      // Stragglers of the group (the extension host may outlive the server by a moment).
      signal('SIGKILL');
      closeLog();
    })());
  const kill = () => {
    signal('SIGKILL');
    closeLog();
  };
  return { stop, kill };
}

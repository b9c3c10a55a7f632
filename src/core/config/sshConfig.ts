/**
 * Resolves a host alias into everything needed to connect, as `ssh -G alias` would,
 * from ~/.ssh/config (and its Includes) plus command-line overrides. ssh2 reads no
 * ssh_config at all, so this is what makes a user's existing config work.
 *
 * Executes nothing itself. A ProxyCommand is only expanded here (run per connection by
 * session/proxyCommand.ts); LocalCommand, Match exec and friends are reported in
 * `unsupported` instead.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { formatSource } from './configFile';
import { evaluateConfig, type EffectiveConfig, type Setting } from './configEval';
import { collectForwards } from './configForwards';
import { checkTokensForCommand } from './commandTokens';
import { expandEnv, expandPercent, expandTilde } from './expand';
import { boundedDuration, parseCount, parsePort, parseStrictHostKeyChecking, parseYesNo, withSource } from './optionValues';
import { resolveJumps } from './proxyJump';
import { makeContext, type ResolveContext, type ResolveOptions } from './resolveContext';
import { unsupportedOptions } from './unsupportedOptions';
import { ConfigError, type ResolvedHost, type UnsupportedOption } from './types';

export type { EffectiveConfig } from './configEval';
export { listHosts, type HostListEntry } from './hostList';
export { parseJumpSpec, type JumpSpec } from './proxyJump';
export type { ResolveOptions } from './resolveContext';

const DEFAULT_PORT = 22;
/**
 * ssh's default IdentityFile list, in its order (readconf.c fill_default_options). Keys
 * of the types marked unusable cannot be used with ssh2 (security keys, XMSS) or are off
 * in OpenSSH's defaults (DSA): when such a file exists it is skipped with a debug line.
 */
export const DEFAULT_IDENTITIES: ReadonlyArray<{ name: string; usable: boolean }> = [
  { name: 'id_rsa', usable: true },
  { name: 'id_ecdsa', usable: true },
  { name: 'id_ecdsa_sk', usable: false },
  { name: 'id_ed25519', usable: true },
  { name: 'id_ed25519_sk', usable: false },
  { name: 'id_xmss', usable: false },
  { name: 'id_dsa', usable: false },
];

/**
 * Host names and users end up in known_hosts lines, log lines and (for ssh) shell
 * commands: refuse anything with whitespace or control characters, and a leading '-'
 * that a command line would read as an option.
 */
function checkName(kind: string, value: string, where: string): void {
  // eslint-disable-next-line no-control-regex
  if (value === '' || value.startsWith('-') || /[\s\x00-\x1f\x7f]/.test(value)) {
    throw new ConfigError(`${where}: invalid ${kind} "${value}"`);
  }
}

export function resolveHost(alias: string, options: ResolveOptions = {}): ResolvedHost {
  return resolveHostWithConfig(alias, options).host;
}

/** The resolution plus the raw effective settings it came from (for `ssh-keepalive -G`). */
export function resolveHostWithConfig(alias: string, options: ResolveOptions = {}): { host: ResolvedHost; config: EffectiveConfig } {
  const ctx = makeContext(options);
  return resolveIn(ctx, alias, options.overrides ?? [], [alias.toLowerCase()]);
}

function resolveIn(
  ctx: ResolveContext,
  alias: string,
  overrides: ReadonlyArray<readonly [string, string]>,
  jumpStack: string[],
): { host: ResolvedHost; config: EffectiveConfig } {
  checkName('host', alias, 'ssh destination');
  const config = evaluateConfig({
    configFile: ctx.configFile,
    systemConfigFile: ctx.systemConfigFile,
    systemDir: ctx.systemDir,
    homeDir: ctx.homeDir,
    alias,
    localUser: ctx.localUser,
    overrides,
    cache: ctx.cache,
    paths: ctx.paths,
  });

  const hostNameSetting = config.get('hostname');
  const hostName = config.hostName;
  if (hostNameSetting) checkName('HostName', hostName, formatSource(hostNameSetting.source));
  const portSetting = config.get('port');
  const port = portSetting ? parsePort(portSetting) : DEFAULT_PORT;
  const userSetting = config.get('user');
  const user = userSetting?.text ?? ctx.localUser;
  if (userSetting) checkName('User', user, formatSource(userSetting.source));
  const hostKeyAlias = config.get('hostkeyalias')?.text.toLowerCase();
  const proxyJumpSetting = config.get('proxyjump');
  const jumpText = proxyJumpSetting && proxyJumpSetting.text.toLowerCase() !== 'none' ? proxyJumpSetting.text : '';

  // %-tokens of ssh_config(5) "TOKENS", fixed once host, port and user are known.
  // %C is OpenSSH 9.2's: SHA-1 of %l%h%p%r. (9.6 and later append the ProxyJump host, so
  // a ControlPath or known_hosts file named with %C differs there for jumped hosts.)
  // %j (9.6) is accepted as an extension: the ProxyJump text.
  const localHost = os.hostname();
  const tokens: Record<string, string> = {
    C: createHash('sha1').update(`${localHost}${hostName}${port}${user}`).digest('hex'),
    d: ctx.homeDir,
    h: hostName,
    i: String(process.getuid?.() ?? ''),
    j: jumpText,
    k: hostKeyAlias ?? alias,
    L: localHost.split('.')[0],
    l: localHost,
    n: alias,
    p: String(port),
    r: user,
    u: ctx.localUser,
  };
  const expandPath = (setting: Setting, value: string): string => {
    try {
      const where = formatSource(setting.source);
      const p = expandPercent(expandEnv(expandTilde(value, ctx.homeDir, where, ctx.paths), ctx.env, where), tokens, where);
      // ssh leaves relative paths to the cwd; an extension host's cwd means nothing, so
      // config paths are taken from the home directory and command-line ones from the cwd.
      return ctx.paths.resolve(setting.source.file === 'command line' ? process.cwd() : ctx.homeDir, p);
    } catch (err) {
      throw err instanceof ConfigError ? err : withSource(setting, err);
    }
  };

  const identityFiles = unique(config.getAll('identityfile').map((s) => expandPath(s, s.text)));
  if (config.getAll('identityfile').length === 0) {
    for (const { name, usable } of DEFAULT_IDENTITIES) {
      const file = ctx.paths.join(ctx.homeDir, '.ssh', name);
      if (!fs.existsSync(file)) continue;
      if (usable) identityFiles.push(file);
      else config.note({ level: 'debug', message: `default identity ${file} skipped: its key type cannot be used here` });
    }
  }
  const certificateFiles = unique(config.getAll('certificatefile').map((s) => expandPath(s, s.text)));
  const identitiesOnlySetting = config.get('identitiesonly');
  const identitiesOnly = identitiesOnlySetting ? parseYesNo(identitiesOnlySetting) : false;
  const identityAgent = resolveAgent(config.get('identityagent'), ctx.env, ctx.platform, expandPath);

  const warn = (message: string) => config.note({ level: 'warn', message });
  const connectTimeoutSetting = config.get('connecttimeout');
  let connectTimeout: number | undefined;
  if (connectTimeoutSetting && connectTimeoutSetting.text.toLowerCase() !== 'none') {
    connectTimeout = boundedDuration(connectTimeoutSetting, warn) || undefined;
  }
  const aliveSetting = config.get('serveraliveinterval');
  const countSetting = config.get('serveralivecountmax');
  const strictSetting = config.get('stricthostkeychecking');

  const knownHostsSetting = config.get('userknownhostsfile');
  let userKnownHostsFiles: string[];
  if (!knownHostsSetting) {
    userKnownHostsFiles = [ctx.paths.join(ctx.homeDir, '.ssh', 'known_hosts'), ctx.paths.join(ctx.homeDir, '.ssh', 'known_hosts2')];
  } else if (knownHostsSetting.args.length === 1 && knownHostsSetting.args[0].toLowerCase() === 'none') {
    userKnownHostsFiles = [];
  } else {
    userKnownHostsFiles = unique(knownHostsSetting.args.map((a) => expandPath(knownHostsSetting, a)));
  }

  const globalSetting = config.get('globalknownhostsfile');
  let globalKnownHostsFiles: string[];
  if (!globalSetting) {
    globalKnownHostsFiles = [ctx.paths.join(ctx.systemDir, 'ssh_known_hosts'), ctx.paths.join(ctx.systemDir, 'ssh_known_hosts2')];
  } else if (globalSetting.args.length === 1 && globalSetting.args[0].toLowerCase() === 'none') {
    globalKnownHostsFiles = [];
  } else {
    globalKnownHostsFiles = unique(globalSetting.args.map((a) => expandPath(globalSetting, a)));
  }
  const hashSetting = config.get('hashknownhosts');
  const hashKnownHosts = hashSetting ? parseYesNo(hashSetting) : false;

  const unsupported: UnsupportedOption[] = [...config.unsupported, ...unsupportedOptions(config)];
  const forwards = collectForwards(config, unsupported);

  const proxyCommand = resolveProxyCommand(config.get('proxycommand'), { alias, hostName, port, user, hostKeyAlias: config.get('hostkeyalias')?.text });

  const jumpTokens = { h: hostName, n: alias, p: String(port), r: user };
  const proxyJump = proxyJumpSetting
    ? resolveJumps(proxyJumpSetting, jumpTokens, jumpStack, unsupported, (hop, hopOverrides, stack) => {
        const resolved = resolveIn(ctx, hop, hopOverrides, stack);
        // A hop usually reads the same files: say only what is new about it.
        for (const n of resolved.host.notes ?? []) {
          if (!config.notes.some((own) => own.message === n.message)) config.note({ ...n, message: `jump host "${hop}": ${n.message}` });
        }
        return resolved.host;
      })
    : [];

  const host: ResolvedHost = {
    alias,
    hostName,
    port,
    user,
    identityFiles,
    identitiesOnly,
    identityAgent,
    ...(certificateFiles.length ? { certificateFiles } : {}),
    proxyJump,
    ...(proxyCommand !== undefined ? { proxyCommand } : {}),
    connectTimeout,
    serverAliveInterval: aliveSetting ? boundedDuration(aliveSetting, warn) : undefined,
    serverAliveCountMax: countSetting ? parseCount(countSetting) : undefined,
    strictHostKeyChecking: strictSetting ? parseStrictHostKeyChecking(strictSetting) : 'ask',
    userKnownHostsFiles,
    globalKnownHostsFiles,
    hashKnownHosts,
    hostKeyAlias,
    ...forwards,
    unsupported,
    notes: config.notes,
  };
  return { host, config };
}

/**
 * ProxyCommand as sshconnect.c expand_proxy_command() builds it: the line as written,
 * %h %k %n %p %r %% expanded (no ~ or ${VAR}: the shell does that; "exec " is put in
 * front where it is run). The values
 * expanded into it pass OpenSSH's CVE-2023-51385 checks first.
 */
function resolveProxyCommand(
  setting: Setting | undefined,
  v: { alias: string; hostName: string; port: number; user: string; hostKeyAlias?: string },
): string | undefined {
  if (!setting || setting.raw.toLowerCase() === 'none') return undefined;
  const where = formatSource(setting.source);
  if (setting.raw === '-') throw new ConfigError(`${where}: "ProxyCommand -" (the connection on stdin/stdout) is not supported`);
  try {
    checkTokensForCommand(v, 'ProxyCommand');
  } catch (err) {
    throw withSource(setting, err);
  }
  const tokens = { h: v.hostName, k: v.hostKeyAlias ?? v.alias, n: v.alias, p: String(v.port), r: v.user };
  return expandPercent(setting.raw, tokens, `${where}: ProxyCommand`);
}

function unique(list: string[]): string[] {
  return [...new Set(list)];
}

/** Where OpenSSH for Windows' agent service listens; its ssh uses it when SSH_AUTH_SOCK is unset. */
export const WINDOWS_AGENT_PIPE = '\\\\.\\pipe\\openssh-ssh-agent';

/**
 * IdentityAgent: "none", "SSH_AUTH_SOCK" (read that variable), "$VAR" (read VAR), or a
 * socket path. Unset means SSH_AUTH_SOCK, as ssh does; an empty variable means no agent.
 * On Windows an unset SSH_AUTH_SOCK means the OpenSSH agent's named pipe (as ssh.exe does),
 * and `pageant` (any case) is PuTTY's Pageant, which ssh2 1.17 can talk to.
 */
function resolveAgent(
  setting: Setting | undefined,
  env: NodeJS.ProcessEnv,
  platform: NodeJS.Platform,
  expandPath: (s: Setting, v: string) => string,
): string | undefined {
  const windows = platform === 'win32';
  const fromEnv = (name: string): string | undefined => env[name] || undefined;
  const sshAuthSock = (): string | undefined => (windows && env.SSH_AUTH_SOCK === undefined ? WINDOWS_AGENT_PIPE : fromEnv('SSH_AUTH_SOCK'));
  if (!setting) return sshAuthSock();
  const value = setting.text;
  if (value.toLowerCase() === 'none') return undefined;
  if (value === 'SSH_AUTH_SOCK') return sshAuthSock();
  if (windows && value.toLowerCase() === 'pageant') return 'pageant';
  if (value.startsWith('$') && !value.startsWith('${')) return fromEnv(value.slice(1));
  return expandPath(setting, value);
}

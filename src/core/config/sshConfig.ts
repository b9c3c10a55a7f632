/**
 * Resolves a host alias into everything needed to connect, as `ssh -G alias` would,
 * from ~/.ssh/config (and its Includes) plus command-line overrides. ssh2 reads no
 * ssh_config at all, so this is what makes a user's existing config work.
 *
 * Never executes anything from the config: ProxyCommand, LocalCommand, Match exec and
 * friends are reported in `unsupported` instead.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { formatSource } from './configFile';
import { evaluateConfig, type Setting } from './configEval';
import { collectForwards } from './configForwards';
import { expandEnv, expandPercent, expandTilde } from './expand';
import {
  parseCount,
  parseDuration,
  parsePort,
  parseStrictHostKeyChecking,
  parseYesNo,
  withSource,
} from './optionValues';
import { resolveJumps } from './proxyJump';
import { makeContext, type ResolveContext, type ResolveOptions } from './resolveContext';
import { unsupportedOptions } from './unsupportedOptions';
import { ConfigError, type ResolvedHost, type UnsupportedOption } from './types';

export { listHosts, type HostListEntry } from './hostList';
export { parseJumpSpec, type JumpSpec } from './proxyJump';
export type { ResolveOptions } from './resolveContext';

const DEFAULT_PORT = 22;
/** Tried in this order when no IdentityFile is given; modern key types first. */
const DEFAULT_IDENTITIES = ['id_ed25519', 'id_ecdsa', 'id_rsa'];

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
  const ctx = makeContext(options);
  return resolveIn(ctx, alias, options.overrides ?? [], [alias.toLowerCase()]);
}

function resolveIn(
  ctx: ResolveContext,
  alias: string,
  overrides: ReadonlyArray<readonly [string, string]>,
  jumpStack: string[],
): ResolvedHost {
  checkName('host', alias, 'ssh destination');
  const config = evaluateConfig({
    configFile: ctx.configFile,
    homeDir: ctx.homeDir,
    alias,
    localUser: ctx.localUser,
    overrides,
    cache: ctx.cache,
  });

  const hostNameSetting = config.get('hostname');
  const hostName = hostNameSetting ? expandSetting(hostNameSetting, { h: alias }) : alias;
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
  // %C follows current OpenSSH (%l%h%p%r%j); releases up to 9.2 hashed %l%h%p%r only.
  const localHost = os.hostname();
  const tokens: Record<string, string> = {
    C: createHash('sha1').update(`${localHost}${hostName}${port}${user}${jumpText}`).digest('hex'),
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
      const p = expandPercent(expandEnv(expandTilde(value, ctx.homeDir, where), ctx.env, where), tokens, where);
      // ssh leaves relative paths to the cwd; an extension host's cwd means nothing, so
      // config paths are taken from the home directory and command-line ones from the cwd.
      return path.resolve(setting.source.file === 'command line' ? process.cwd() : ctx.homeDir, p);
    } catch (err) {
      throw err instanceof ConfigError ? err : withSource(setting, err);
    }
  };

  const identityFiles = unique(config.getAll('identityfile').map((s) => expandPath(s, s.text)));
  if (config.getAll('identityfile').length === 0) {
    for (const name of DEFAULT_IDENTITIES) {
      const file = path.join(ctx.homeDir, '.ssh', name);
      if (fs.existsSync(file)) identityFiles.push(file);
    }
  }
  const identitiesOnlySetting = config.get('identitiesonly');
  const identitiesOnly = identitiesOnlySetting ? parseYesNo(identitiesOnlySetting) : false;
  const identityAgent = resolveAgent(config.get('identityagent'), ctx.env, expandPath);

  const connectTimeoutSetting = config.get('connecttimeout');
  let connectTimeout: number | undefined;
  if (connectTimeoutSetting && connectTimeoutSetting.text.toLowerCase() !== 'none') {
    connectTimeout = parseDuration(connectTimeoutSetting) || undefined;
  }
  const aliveSetting = config.get('serveraliveinterval');
  const countSetting = config.get('serveralivecountmax');
  const strictSetting = config.get('stricthostkeychecking');

  const knownHostsSetting = config.get('userknownhostsfile');
  let userKnownHostsFiles: string[];
  if (!knownHostsSetting) {
    userKnownHostsFiles = [path.join(ctx.homeDir, '.ssh', 'known_hosts'), path.join(ctx.homeDir, '.ssh', 'known_hosts2')];
  } else if (knownHostsSetting.args.length === 1 && knownHostsSetting.args[0].toLowerCase() === 'none') {
    userKnownHostsFiles = [];
  } else {
    userKnownHostsFiles = unique(knownHostsSetting.args.map((a) => expandPath(knownHostsSetting, a)));
  }

  const unsupported: UnsupportedOption[] = [...config.unsupported, ...unsupportedOptions(config)];
  const forwards = collectForwards(config, unsupported);

  const proxyJump = proxyJumpSetting
    ? resolveJumps(proxyJumpSetting, jumpStack, unsupported, (hop, hopOverrides, stack) => resolveIn(ctx, hop, hopOverrides, stack))
    : [];

  return {
    alias,
    hostName,
    port,
    user,
    identityFiles,
    identitiesOnly,
    identityAgent,
    proxyJump,
    connectTimeout,
    serverAliveInterval: aliveSetting ? parseDuration(aliveSetting) : undefined,
    serverAliveCountMax: countSetting ? parseCount(countSetting) : undefined,
    strictHostKeyChecking: strictSetting ? parseStrictHostKeyChecking(strictSetting) : 'ask',
    userKnownHostsFiles,
    hostKeyAlias,
    ...forwards,
    unsupported,
  };
}

function expandSetting(setting: Setting, tokens: Record<string, string>): string {
  return expandPercent(setting.text, tokens, formatSource(setting.source));
}

function unique(list: string[]): string[] {
  return [...new Set(list)];
}

/**
 * IdentityAgent: "none", "SSH_AUTH_SOCK" (read that variable), "$VAR" (read VAR), or a
 * socket path. Unset means SSH_AUTH_SOCK, as ssh does; an empty variable means no agent.
 */
function resolveAgent(
  setting: Setting | undefined,
  env: NodeJS.ProcessEnv,
  expandPath: (s: Setting, v: string) => string,
): string | undefined {
  const fromEnv = (name: string): string | undefined => env[name] || undefined;
  if (!setting) return fromEnv('SSH_AUTH_SOCK');
  const value = setting.text;
  if (value.toLowerCase() === 'none') return undefined;
  if (value === 'SSH_AUTH_SOCK') return fromEnv('SSH_AUTH_SOCK');
  if (value.startsWith('$') && !value.startsWith('${')) return fromEnv(value.slice(1));
  return expandPath(setting, value);
}

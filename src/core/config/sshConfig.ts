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
import { formatSource, type ConfigNode } from './configFile';
import { evaluateConfig, includeTargets, loadFile, type EffectiveConfig, type Setting } from './configEval';
import { expandEnv, expandPercent, expandTilde } from './expand';
import { UnsupportedForwardError, parseDynamicSpec, parseForwardDirective, sameForward, ALL_INTERFACES } from './forwardSpec';
import {
  parseCount,
  parseDuration,
  parsePort,
  parseStrictHostKeyChecking,
  parseYesNo,
  withSource,
} from './optionValues';
import { isConcretePattern, splitPatternList } from './patterns';
import { unsupportedOptions } from './unsupportedOptions';
import {
  ConfigError,
  type DynamicForwardSpec,
  type ForwardSpec,
  type JumpHost,
  type ResolvedHost,
  type UnsupportedOption,
} from './types';

export interface ResolveOptions {
  /** Default ~/.ssh/config; a missing file is an empty config. */
  configFile?: string;
  /** Default os.homedir(). Used for ~, %d, ~/.ssh defaults and relative Includes. */
  homeDir?: string;
  /** For SSH_AUTH_SOCK and ${VAR} expansion. Default process.env. */
  env?: NodeJS.ProcessEnv;
  /** Default os.userInfo().username. */
  localUser?: string;
  /**
   * From the command line (-o Key=Value, -p, -l, -i, -L ...): read before the file, so
   * with ssh's "first obtained value wins" they take precedence.
   */
  overrides?: Array<[string, string]>;
}

export interface HostListEntry {
  alias: string;
  hostName?: string;
  user?: string;
  port?: number;
  /** The file whose Host line names the alias. */
  file: string;
}

const DEFAULT_PORT = 22;
/** Hops in one ProxyJump chain, nested chains included; ssh has no limit but loops are fatal there too. */
const MAX_JUMP_DEPTH = 10;
/** Tried in this order when no IdentityFile is given; modern key types first. */
const DEFAULT_IDENTITIES = ['id_ed25519', 'id_ecdsa', 'id_rsa'];

interface Context {
  configFile: string;
  homeDir: string;
  env: NodeJS.ProcessEnv;
  localUser: string;
  cache: Map<string, ConfigNode[] | undefined>;
}

function makeContext(options: ResolveOptions): Context {
  const homeDir = options.homeDir ?? os.homedir();
  const configFile = options.configFile
    ? path.resolve(expandTilde(options.configFile, homeDir, 'configFile'))
    : path.join(homeDir, '.ssh', 'config');
  return {
    configFile,
    homeDir,
    env: options.env ?? process.env,
    localUser: options.localUser ?? defaultLocalUser(options.env ?? process.env),
    cache: new Map(),
  };
}

function defaultLocalUser(env: NodeJS.ProcessEnv): string {
  try {
    return os.userInfo().username;
  } catch {
    // userInfo() throws when the uid has no passwd entry (some containers).
    return env.USER ?? env.USERNAME ?? 'root';
  }
}

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
  return resolveIn(ctx, alias, options.overrides ?? [], [alias.toLowerCase()], false);
}

function resolveIn(
  ctx: Context,
  alias: string,
  overrides: ReadonlyArray<readonly [string, string]>,
  jumpStack: string[],
  ignoreProxyJump: boolean,
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
  const proxyJumpSetting = ignoreProxyJump ? undefined : config.get('proxyjump');
  const jumpText = proxyJumpSetting && proxyJumpSetting.text.toLowerCase() !== 'none' ? proxyJumpSetting.text : '';

  // %-tokens of ssh_config(5) "TOKENS", fixed once host, port and user are known.
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

  const proxyJump = proxyJumpSetting ? resolveJumps(ctx, proxyJumpSetting, jumpStack, unsupported) : [];

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

function collectForwards(
  config: EffectiveConfig,
  unsupported: UnsupportedOption[],
): Pick<ResolvedHost, 'localForwards' | 'remoteForwards' | 'dynamicForwards'> {
  const clearSetting = config.get('clearallforwardings');
  if (clearSetting && parseYesNo(clearSetting)) return { localForwards: [], remoteForwards: [], dynamicForwards: [] };
  const gatewaySetting = config.get('gatewayports');
  // GatewayPorts yes: a local listener without an explicit address binds to all interfaces.
  const defaultBind = gatewaySetting && parseYesNo(gatewaySetting) ? ALL_INTERFACES : undefined;

  const parseEach = <T>(keyword: string, parse: (s: Setting) => T, same: (a: T, b: T) => boolean): T[] => {
    const out: T[] = [];
    for (const setting of config.getAll(keyword)) {
      let spec: T;
      try {
        spec = parse(setting);
      } catch (err) {
        if (err instanceof UnsupportedForwardError) {
          unsupported.push({ option: setting.name, value: setting.text, source: formatSource(setting.source), reason: err.message });
          continue;
        }
        throw withSource(setting, err);
      }
      if (!out.some((o) => same(o, spec))) out.push(spec);
    }
    return out;
  };
  const withDefaultBind = <T extends { bindAddress?: string }>(spec: T): T =>
    spec.bindAddress === undefined && defaultBind !== undefined ? { ...spec, bindAddress: defaultBind } : spec;

  const localForwards: ForwardSpec[] = parseEach('localforward', (s) => withDefaultBind(parseForwardDirective(s.text, 'local')), sameForward);
  const remoteForwards: ForwardSpec[] = parseEach('remoteforward', (s) => parseForwardDirective(s.text, 'remote'), sameForward);
  const dynamicForwards: DynamicForwardSpec[] = parseEach(
    'dynamicforward',
    (s) => withDefaultBind(parseDynamicSpec(s.text)),
    (a, b) => a.bindAddress === b.bindAddress && a.bindPort === b.bindPort,
  );
  return { localForwards, remoteForwards, dynamicForwards };
}

interface JumpSpec {
  user?: string;
  host: string;
  port?: number;
}

/** `[user@]host[:port]` or `ssh://[user@]host[:port]`, IPv6 in brackets. */
export function parseJumpSpec(text: string): JumpSpec {
  const badSpec = (why: string): ConfigError =>
    new ConfigError(`bad ProxyJump entry "${text}": ${why}; expected [user@]host[:port]`);
  let rest = text.trim();
  if (/^ssh:\/\//i.test(rest)) rest = rest.slice(6).replace(/\/$/, '');
  let user: string | undefined;
  const at = rest.lastIndexOf('@');
  if (at >= 0) {
    user = rest.slice(0, at);
    rest = rest.slice(at + 1);
    if (user === '') throw badSpec('empty user');
  }
  let host: string;
  let portText: string | undefined;
  if (rest.startsWith('[')) {
    const close = rest.indexOf(']');
    if (close < 0) throw badSpec('unclosed [');
    host = rest.slice(1, close);
    const after = rest.slice(close + 1);
    if (after.startsWith(':')) portText = after.slice(1);
    else if (after !== '') throw badSpec(`unexpected "${after}"`);
  } else {
    const parts = rest.split(':');
    if (parts.length > 2) throw badSpec('IPv6 addresses must be in [brackets]');
    host = parts[0];
    portText = parts[1];
  }
  if (host === '') throw badSpec('empty host');
  let port: number | undefined;
  if (portText !== undefined) {
    if (!/^\d{1,5}$/.test(portText) || Number(portText) < 1 || Number(portText) > 65535) {
      throw badSpec(`port "${portText}" is not a number from 1 to 65535`);
    }
    port = Number(portText);
  }
  return { user, host, port };
}

/**
 * `ProxyJump a,b`: ssh reaches b through a (`ssh -J a -W target b`), so b's own
 * ProxyJump is overridden by the chain while a, contacted directly, may bring its own
 * chain. Each hop is otherwise resolved through the config like any host, with the
 * user/port from the ProxyJump entry taking precedence (-l/-p for that hop).
 */
function resolveJumps(ctx: Context, setting: Setting, stack: string[], unsupported: UnsupportedOption[]): JumpHost[] {
  if (setting.text.toLowerCase() === 'none') return [];
  let specs: JumpSpec[];
  try {
    specs = setting.text.split(',').map(parseJumpSpec);
  } catch (err) {
    throw withSource(setting, err);
  }
  const chain: JumpHost[] = [];
  specs.forEach((spec, index) => {
    const key = spec.host.toLowerCase();
    if (stack.includes(key)) {
      throw withSource(setting, new Error(`ProxyJump loop: ${[...stack, key].join(' -> ')} (add "ProxyJump none" to the jump host)`));
    }
    if (stack.length >= MAX_JUMP_DEPTH) {
      throw withSource(setting, new Error(`ProxyJump chain deeper than ${MAX_JUMP_DEPTH} hops: ${stack.join(' -> ')}`));
    }
    const hopOverrides: Array<[string, string]> = [];
    if (spec.user !== undefined) hopOverrides.push(['User', spec.user]);
    if (spec.port !== undefined) hopOverrides.push(['Port', String(spec.port)]);
    const hop = resolveIn(ctx, spec.host, hopOverrides, [...stack, key], index > 0);
    if (index === 0) chain.push(...hop.proxyJump);
    for (const u of hop.unsupported) unsupported.push({ ...u, reason: `jump host "${spec.host}": ${u.reason}` });
    chain.push({
      alias: hop.alias,
      hostName: hop.hostName,
      port: hop.port,
      user: hop.user,
      identityFiles: hop.identityFiles,
      identitiesOnly: hop.identitiesOnly,
      identityAgent: hop.identityAgent,
      hostKeyAlias: hop.hostKeyAlias,
      userKnownHostsFiles: hop.userKnownHostsFiles,
      strictHostKeyChecking: hop.strictHostKeyChecking,
      connectTimeout: hop.connectTimeout,
    });
  });
  if (chain.length > MAX_JUMP_DEPTH) {
    throw withSource(setting, new Error(`ProxyJump chain longer than ${MAX_JUMP_DEPTH} hops`));
  }
  return chain;
}

/**
 * Concrete Host aliases (no wildcard, no negation) across the config and its Includes,
 * in file order, for a host picker. Each is looked up through the config for HostName,
 * User and Port; an alias whose lookup fails is still listed, without those fields.
 */
export function listHosts(options: ResolveOptions = {}): HostListEntry[] {
  const ctx = makeContext(options);
  const seen = new Set<string>();
  const entries: HostListEntry[] = [];
  const visited = new Set<string>();
  const walk = (file: string): void => {
    if (visited.has(file)) return; // cycles and repeats: each file once
    visited.add(file);
    for (const node of loadFile(file, ctx.cache) ?? []) {
      if (node.kind === 'include') {
        for (const target of includeTargets(node, ctx.homeDir)) walk(target);
      } else if (node.kind === 'host') {
        for (const pattern of node.args.flatMap(splitPatternList)) {
          if (!isConcretePattern(pattern) || seen.has(pattern.toLowerCase())) continue;
          seen.add(pattern.toLowerCase());
          entries.push({ alias: pattern, file });
        }
      }
    }
  };
  walk(ctx.configFile);
  for (const entry of entries) {
    try {
      const config = evaluateConfig({
        configFile: ctx.configFile,
        homeDir: ctx.homeDir,
        alias: entry.alias,
        localUser: ctx.localUser,
        overrides: options.overrides ?? [],
        cache: ctx.cache,
      });
      const hostName = config.get('hostname');
      if (hostName) entry.hostName = expandSetting(hostName, { h: entry.alias });
      const user = config.get('user');
      if (user) entry.user = user.text;
      const port = config.get('port');
      if (port) entry.port = parsePort(port);
    } catch {
      // A broken block must not hide the other hosts; connecting will report the error.
    }
  }
  return entries;
}

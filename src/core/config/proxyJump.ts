/**
 * ProxyJump: parsing `[user@]host[:port]` lists and turning them into a flat chain of
 * resolved hops, with the loop and depth checks that keep a config from recursing forever.
 */
import type { Setting } from './configEval';
import { formatSource } from './configFile';
import { expandPercent } from './expand';
import { portFromText } from './servicePort';
import { withSource } from './optionValues';
import { ConfigError, type JumpHost, type ResolvedHost, type UnsupportedOption } from './types';

/** Hops in one chain, nested chains included; ssh has no limit but loops are fatal there too. */
const MAX_JUMP_DEPTH = 10;

/** Resolves one hop through the config, with `overrides` as its command line. */
export type HopResolver = (alias: string, overrides: Array<[string, string]>, stack: string[]) => ResolvedHost;

export interface JumpSpec {
  user?: string;
  host: string;
  port?: number;
}

/** The tokens ssh_config(5) allows in ProxyJump, from the target host. */
export interface JumpTokens {
  /** %h: the target's host name. */
  h: string;
  /** %n: the target as given on the command line. */
  n: string;
  /** %p: the target's port. */
  p: string;
  /** %r: the target's user. */
  r: string;
}

/**
 * ssh turns ProxyJump into `ssh [-l user] [-p port] [-J earlier] -W [%h]:%p last` and
 * expands that whole command like a ProxyCommand, so %%, %h, %n, %p and %r in any hop
 * take the target's values (`ProxyJump %r@bastion`, `jump@gw.%h:2200`).
 */
export function expandJumpTokens(text: string, tokens: JumpTokens, where: string): string {
  return expandPercent(text, { ...tokens }, where);
}

/** `[user@]host[:port]` or `ssh://[user@]host[:port]`, IPv6 in brackets. */
export function parseJumpSpec(text: string): JumpSpec {
  const badSpec = (why: string): ConfigError => new ConfigError(`bad ProxyJump entry "${text}": ${why}; expected [user@]host[:port]`);
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
    port = portFromText(portText);
    if (port === undefined || port < 1) throw badSpec(`port "${portText}" is not a number from 1 to 65535 or a service name`);
  }
  return { user, host, port };
}

/**
 * `ProxyJump a,b`: ssh reaches b through a (`ssh -J a -W target b`), so b's own
 * ProxyJump is overridden by the chain while a, contacted directly, may bring its own
 * chain. Each hop is otherwise resolved through the config like any host, with the
 * user/port from the ProxyJump entry taking precedence (-l/-p for that hop).
 */
export function resolveJumps(setting: Setting, tokens: JumpTokens, stack: string[], unsupported: UnsupportedOption[], resolveHop: HopResolver): JumpHost[] {
  if (setting.text.toLowerCase() === 'none') return [];
  const text = expandJumpTokens(setting.text, tokens, `${formatSource(setting.source)}: ${setting.name}`);
  let specs: JumpSpec[];
  try {
    specs = text.split(',').map(parseJumpSpec);
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
    // ssh reaches a later hop with `-J <earlier hops>`: that command-line ProxyJump comes
    // first, so the hop's own ProxyJump and ProxyCommand never apply. The chain itself
    // is assembled here, hence "none".
    if (index > 0) hopOverrides.push(['ProxyJump', 'none']);
    let hop: ResolvedHost;
    try {
      hop = resolveHop(spec.host, hopOverrides, [...stack, key]);
    } catch (err) {
      // An error that names no file (an invalid hop name) is this line's fault: say which line.
      throw err instanceof ConfigError && err.file !== undefined ? err : withSource(setting, err);
    }
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
      ...(hop.certificateFiles ? { certificateFiles: hop.certificateFiles } : {}),
      hostKeyAlias: hop.hostKeyAlias,
      userKnownHostsFiles: hop.userKnownHostsFiles,
      globalKnownHostsFiles: hop.globalKnownHostsFiles,
      hashKnownHosts: hop.hashKnownHosts,
      strictHostKeyChecking: hop.strictHostKeyChecking,
      connectTimeout: hop.connectTimeout,
      ...(hop.proxyCommand !== undefined ? { proxyCommand: hop.proxyCommand } : {}),
    });
  });
  if (chain.length > MAX_JUMP_DEPTH) {
    throw withSource(setting, new Error(`ProxyJump chain longer than ${MAX_JUMP_DEPTH} hops`));
  }
  return chain;
}

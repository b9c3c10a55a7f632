/**
 * `ssh-keepalive -G`: the effective configuration in `ssh -G`'s format (lower-case
 * keywords, one per line, ssh's value formats and order) for the options ssh-keepalive
 * uses, so that `diff <(ssh -G host) <(ssh-keepalive -G host)` shows where the two read
 * a config differently. Like ssh, IdentityFile and ProxyJump are printed as configured
 * (`~` and tokens unexpanded) and UserKnownHostsFile and IdentityAgent expanded.
 */
import { bracketIPv6 } from '../base/hostPort';
import type { EffectiveConfig } from './configEval';
import { DEFAULT_IDENTITIES } from './sshConfig';
import type { DynamicForwardSpec, ForwardSpec, ResolvedHost, StrictHostKeyChecking } from './types';
import { parseJumpSpec } from './proxyJump';

/** What ssh-keepalive uses where the config is silent (its own defaults, not ssh's). */
export interface EffectiveTimers {
  /** Seconds; 0 = off. */
  serverAliveInterval: number;
  serverAliveCountMax: number;
  /** Seconds. */
  connectTimeout: number;
}

/** readconf.c's multistate table prints the first name of a value: yes is "true", no and off are "false". */
const STRICT_NAMES: Record<StrictHostKeyChecking, string> = {
  yes: 'true',
  no: 'false',
  off: 'false',
  ask: 'ask',
  'accept-new': 'accept-new',
};

function bracket(host: string): string {
  return `[${host}]`;
}

function listenSide(spec: { bindAddress?: string; bindPort: number }): string {
  return spec.bindAddress === undefined ? String(spec.bindPort) : `${bracket(spec.bindAddress)}:${spec.bindPort}`;
}

function forwardLine(keyword: string, spec: ForwardSpec): string {
  return `${keyword} ${listenSide(spec)} ${bracket(spec.host)}:${spec.hostPort}`;
}

function dynamicLine(spec: DynamicForwardSpec): string {
  return `dynamicforward ${listenSide(spec)}`;
}

/** dump_client_config(): the hops before the last as written, the last one re-assembled from its parts. */
function proxyJumpValue(text: string): string {
  const comma = text.lastIndexOf(',');
  const last = parseJumpSpec(text.slice(comma + 1));
  const host = bracketIPv6(last.host);
  const formatted = `${last.user !== undefined ? `${last.user}@` : ''}${host}${last.port !== undefined ? `:${last.port}` : ''}`;
  return comma < 0 ? formatted : `${text.slice(0, comma)},${formatted}`;
}

function identityAgentValue(config: EffectiveConfig, host: ResolvedHost): string | undefined {
  const setting = config.get('identityagent');
  if (!setting) return undefined;
  const value = setting.text;
  // ssh prints these as written: they name a variable, not a path.
  if (value.toLowerCase() === 'none' || value === 'SSH_AUTH_SOCK' || (value.startsWith('$') && !value.startsWith('${'))) return value;
  return host.identityAgent ?? 'none';
}

export function formatSshG(host: ResolvedHost, config: EffectiveConfig, timers: EffectiveTimers): string {
  const lines: string[] = [
    `host ${host.alias}`,
    `user ${host.user}`,
    `hostname ${host.hostName}`,
    `port ${host.port}`,
    `identitiesonly ${host.identitiesOnly ? 'yes' : 'no'}`,
    `stricthostkeychecking ${STRICT_NAMES[host.strictHostKeyChecking]}`,
    `serveralivecountmax ${host.serverAliveCountMax ?? timers.serverAliveCountMax}`,
    `serveraliveinterval ${host.serverAliveInterval ?? timers.serverAliveInterval}`,
  ];
  if (host.hostKeyAlias !== undefined) lines.push(`hostkeyalias ${host.hostKeyAlias}`);
  const agent = identityAgentValue(config, host);
  if (agent !== undefined) lines.push(`identityagent ${agent}`);
  lines.push(...host.dynamicForwards.map(dynamicLine));
  lines.push(...host.localForwards.map((f) => forwardLine('localforward', f)));
  lines.push(...host.remoteForwards.map((f) => forwardLine('remoteforward', f)));
  const identities = config.getAll('identityfile').map((s) => s.text);
  const shown = identities.length > 0 ? identities : DEFAULT_IDENTITIES.map((d) => `~/.ssh/${d.name}`);
  lines.push(...shown.map((f) => `identityfile ${f}`));
  lines.push(`userknownhostsfile ${host.userKnownHostsFiles.length > 0 ? host.userKnownHostsFiles.join(' ') : 'none'}`);
  const global = host.globalKnownHostsFiles ?? [];
  lines.push(`globalknownhostsfile ${global.length > 0 ? global.join(' ') : 'none'}`);
  lines.push(`hashknownhosts ${host.hashKnownHosts ? 'yes' : 'no'}`);
  lines.push(`connecttimeout ${host.connectTimeout ?? timers.connectTimeout}`);
  const jump = config.get('proxyjump');
  if (jump && jump.text.toLowerCase() !== 'none') lines.push(`proxyjump ${proxyJumpValue(jump.text)}`);
  // As ssh prints it: as written, tokens unexpanded.
  const command = config.get('proxycommand');
  if (host.proxyCommand !== undefined && command) lines.push(`proxycommand ${command.raw}`);
  return `${lines.join('\n')}\n`;
}

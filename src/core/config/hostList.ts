/**
 * The host aliases a config names, for a quick pick. Listing is lenient where resolving
 * is strict: one broken block must not hide every other host.
 */
import { evaluateConfig, includeTargets, loadFile } from './configEval';
import { parsePort } from './optionValues';
import { isConcretePattern } from './patterns';
import { makeContext, type ResolveOptions } from './resolveContext';

export interface HostListEntry {
  alias: string;
  hostName?: string;
  user?: string;
  port?: number;
  /** The file whose Host line names the alias. */
  file: string;
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
    const nodes = loadFile(file, ctx.cache);
    for (const node of Array.isArray(nodes) ? nodes : []) {
      if (node.kind === 'include') {
        for (const target of includeTargets(node, ctx.homeDir)) walk(target);
      } else if (node.kind === 'host') {
        for (const pattern of node.args) {
          if (!isConcretePattern(pattern) || seen.has(pattern)) continue;
          seen.add(pattern);
          entries.push({ alias: pattern, file });
        }
      }
    }
  };
  if (ctx.configFile) walk(ctx.configFile);
  for (const entry of entries) {
    try {
      const config = evaluateConfig({
        configFile: ctx.configFile,
        systemConfigFile: ctx.systemConfigFile,
        systemDir: ctx.systemDir,
        homeDir: ctx.homeDir,
        alias: entry.alias,
        localUser: ctx.localUser,
        overrides: options.overrides ?? [],
        cache: ctx.cache,
      });
      if (config.get('hostname')) entry.hostName = config.hostName;
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

/**
 * Evaluates ssh_config files for one host the way ssh's readconf.c does: lines are read
 * in order (command-line overrides first), Host/Match switch whether the following
 * options apply, and for most options the first value obtained wins. Result: the raw
 * effective settings with their file:line, before any expansion or validation
 * (sshConfig.ts does that). Nothing here executes anything.
 */
import * as path from 'node:path';
import { formatSource, readConfigFile, type ConfigNode, type Source } from './configFile';
import { expandTilde } from './expand';
import { canonicalHostName, configuredHostName } from './hostName';
import { globPaths } from './includeGlob';
import { checkOptionLine } from './keywords';
import { matchPattern, matchPatternList, splitPatternList } from './patterns';
import { ConfigError, type ConfigNote, type UnsupportedOption } from './types';

/** OpenSSH's READCONF_MAX_DEPTH: Include nesting beyond this is an error. */
const MAX_INCLUDE_DEPTH = 16;

/** Options where every occurrence counts, in order, instead of the first one winning. */
const ACCUMULATING = new Set(['identityfile', 'certificatefile', 'localforward', 'remoteforward', 'dynamicforward']);

export interface Setting {
  /** Keyword as written, for messages. */
  name: string;
  text: string;
  args: string[];
  source: Source;
}

export interface EvalInput {
  /** Absolute path of the top-level config file (missing = empty); undefined for none (`-F none`). */
  configFile: string | undefined;
  /**
   * The system-wide config (/etc/ssh/ssh_config), read after the user's as ssh does;
   * undefined when skipped (ssh skips it with -F).
   */
  systemConfigFile?: string;
  /** Where relative Includes of the system config point (/etc/ssh). */
  systemDir?: string;
  homeDir: string;
  /** The host as typed: Host patterns and `Match originalhost` match against it. */
  alias: string;
  localUser: string;
  /** `-o Key=Value` style settings, applied before the file. */
  overrides: ReadonlyArray<readonly [string, string]>;
  /** Parsed files, shared across the evaluations of one resolution (ProxyJump hops). */
  cache: Map<string, LoadedFile>;
}

/** The effective settings for one host. */
export class EffectiveConfig {
  private readonly first = new Map<string, Setting>();
  private readonly all = new Map<string, Setting[]>();
  readonly unsupported: UnsupportedOption[] = [];
  /** Warnings and debug lines about the config (not errors: ssh accepts what they describe). */
  readonly notes: ConfigNote[] = [];
  /** Set by `Match final` (negated or not): ssh then reads the files a second time. */
  wantFinalPass = false;
  /**
   * The host name ssh connects to, fixed after the first pass (HostName with %h expanded,
   * lowercased or, for an address, canonicalised). The final pass matches `Host` lines
   * against it, and a HostName read in the final pass no longer applies (ssh.c).
   */
  hostName = '';

  get(keyword: string): Setting | undefined {
    return this.first.get(keyword);
  }

  getAll(keyword: string): Setting[] {
    return this.all.get(keyword) ?? [];
  }

  apply(keyword: string, setting: Setting): void {
    if (ACCUMULATING.has(keyword)) {
      const list = this.all.get(keyword) ?? [];
      // ssh drops exact duplicates (add_identity_file, add_local_forward); the final
      // pass re-reads every file, so without this everything would appear twice.
      if (!list.some((s) => s.text === setting.text)) list.push(setting);
      this.all.set(keyword, list);
      return;
    }
    // ProxyJump and ProxyCommand share one slot: whichever comes first wins (readconf.c).
    if (keyword === 'proxycommand' && this.first.has('proxyjump')) return;
    if (keyword === 'proxyjump' && this.first.has('proxycommand')) return;
    if (!this.first.has(keyword)) this.first.set(keyword, setting);
  }

  note(entry: ConfigNote): void {
    if (!this.notes.some((n) => n.message === entry.message)) this.notes.push(entry);
  }

  report(entry: UnsupportedOption): void {
    if (!this.unsupported.some((u) => u.option === entry.option && u.source === entry.source && u.value === entry.value)) {
      this.unsupported.push(entry);
    }
  }
}

/** Where a relative Include points: ~/.ssh for user configs, /etc/ssh for the system's (ssh_config(5)). */
export function includePattern(arg: string, homeDir: string, where: string, includeDir = path.join(homeDir, '.ssh')): string {
  const expanded = expandTilde(arg, homeDir, where);
  return path.isAbsolute(expanded) ? expanded : path.join(includeDir, expanded);
}

export type LoadedFile = ConfigNode[] | 'directory' | undefined;

/** A file's nodes; undefined when missing, 'directory' for a directory (ssh reads it as empty). */
export function loadFile(file: string, cache: Map<string, LoadedFile>): LoadedFile {
  if (!cache.has(file)) cache.set(file, readConfigFile(file));
  return cache.get(file);
}

export function evaluateConfig(input: EvalInput): EffectiveConfig {
  const config = new EffectiveConfig();
  const runPass = (finalPass: boolean, hostForPatterns: string): void => {
    applyOverrides(config, input.overrides);
    const start = { active: true, neverMatch: false, finalPass, hostForPatterns, stack: [] };
    if (input.configFile) evalFile(input, config, input.configFile, { ...start, includeDir: path.join(input.homeDir, '.ssh') });
    if (input.systemConfigFile) {
      evalFile(input, config, input.systemConfigFile, { ...start, includeDir: input.systemDir ?? path.dirname(input.systemConfigFile) });
    }
  };
  runPass(false, input.alias);
  config.hostName = canonicalHostName(configuredHostName(config.get('hostname'), input.alias));
  // ssh.c fixes options.hostname before re-reading, so a HostName read in the final pass
  // never applies: config.hostName is not computed again.
  if (config.wantFinalPass) runPass(true, config.hostName);
  return config;
}

function applyOverrides(config: EffectiveConfig, overrides: EvalInput['overrides']): void {
  overrides.forEach(([key, value], i) => {
    const keyword = key.toLowerCase();
    const source = { file: 'command line', line: i + 1 };
    if (keyword === 'host' || keyword === 'match' || keyword === 'include') {
      throw new ConfigError(`${key} cannot be given as a command-line option`);
    }
    if (value.trim() === '') throw new ConfigError(`Command-line option ${key} has no value`);
    const args = value.trim().split(/\s+/);
    checkOptionLine({ keyword, name: key, args, source }, config.get('ignoreunknown')?.text);
    config.apply(keyword, { name: key, text: value.trim(), args, source });
  });
}

interface Scope {
  /** Whether options currently apply (the enclosing Host/Match matched). */
  active: boolean;
  /** Inside an Include from an inactive block: nothing in the file may match (SSHCONF_NEVERMATCH). */
  neverMatch: boolean;
  finalPass: boolean;
  /** What `Host` lines match: the alias as typed, in the final pass the fixed host name. */
  hostForPatterns: string;
  /** Files being read, outermost first: for cycle detection. */
  stack: string[];
  /** Where a relative Include points: ~/.ssh in user files, /etc/ssh in the system's (ssh_config(5)). */
  includeDir: string;
}

function evalFile(input: EvalInput, config: EffectiveConfig, file: string, scope: Scope): void {
  const nodes = loadFile(file, input.cache);
  if (nodes === 'directory') {
    config.note({
      level: 'warn',
      message: `${file} is a directory; ssh reads it as an empty file (to include the files in it, write ${path.join(file, '*')})`,
    });
    return;
  }
  if (!nodes) return;
  const stack = [...scope.stack, file];
  let active = scope.active;
  for (const node of nodes) {
    switch (node.kind) {
      case 'host':
        warnAboutCommas(node.args, node.source, config);
        active = !scope.neverMatch && hostMatches(node.args, scope.hostForPatterns);
        break;
      case 'match':
        active = matchLine(node.args, node.source, input, config, scope.finalPass) && !scope.neverMatch;
        break;
      case 'include':
        // Read even when inactive (ssh does: errors show up regardless of the host),
        // but then nothing inside can match. The included file's own Host/Match lines
        // do not leak out: `active` here is untouched by the recursion.
        for (const target of includeTargets(node, input.homeDir, scope.includeDir)) {
          if (stack.includes(target)) {
            throw new ConfigError(`${formatSource(node.source)}: Include cycle: ${[...stack, target].join(' -> ')}`, node.source.file, node.source.line);
          }
          if (stack.length >= MAX_INCLUDE_DEPTH) {
            throw new ConfigError(`${formatSource(node.source)}: Includes nested deeper than ${MAX_INCLUDE_DEPTH} levels`, node.source.file, node.source.line);
          }
          evalFile(input, config, target, {
            ...scope,
            active,
            neverMatch: scope.neverMatch || !active,
            stack,
          });
        }
        break;
      case 'option':
        // ssh judges every line it reads, in a matching block or not.
        checkOptionLine(node, config.get('ignoreunknown')?.text);
        if (active) config.apply(node.keyword, { name: node.name, text: node.text, args: node.args, source: node.source });
        break;
    }
  }
}

export function includeTargets(node: Extract<ConfigNode, { kind: 'include' }>, homeDir: string, includeDir?: string): string[] {
  const where = formatSource(node.source);
  return node.args.flatMap((arg) => globPaths(includePattern(arg, homeDir, where, includeDir)));
}

/**
 * `Host` line: whitespace-separated patterns, matched case-sensitively (readconf.c uses
 * match_pattern(), not the lowercasing match_hostname()); a comma is an ordinary
 * character there. A matching `!pattern` vetoes.
 */
export function hostMatches(args: readonly string[], host: string): boolean {
  let matched = false;
  for (const arg of args) {
    const negated = arg.startsWith('!');
    if (!matchPattern(host, negated ? arg.slice(1) : arg, 'exact-case')) continue;
    if (negated) return false;
    matched = true;
  }
  return matched;
}

/** `Host a,b` names one host called "a,b" to ssh, which is almost never what was meant. */
function warnAboutCommas(args: readonly string[], source: Source, config: EffectiveConfig): void {
  for (const arg of args.filter((a) => a.includes(','))) {
    config.note({
      level: 'warn',
      message: `${formatSource(source)}: Host pattern "${arg}" contains a comma, which ssh reads as part of one name (it matches no host); separate patterns with spaces: Host ${arg
        .split(',')
        .filter((p) => p !== '')
        .join(' ')}`,
      source: formatSource(source),
    });
  }
}

const UNEVALUATED_CRITERIA = new Set(['localnetwork', 'version', 'sessiontype', 'command']);

/**
 * `Match` line. `exec` is never run and a few criteria are not evaluated: a block using
 * them is treated as not matching and, when its other criteria would match, reported.
 */
function matchLine(args: readonly string[], source: Source, input: EvalInput, config: EffectiveConfig, finalPass: boolean): boolean {
  const where = formatSource(source);
  const bad = (msg: string): ConfigError => new ConfigError(`${where}: Match: ${msg}`, source.file, source.line);
  let result = true;
  const skipped: Array<{ criterion: string; value: string }> = [];
  // Criteria seen before the current one: readconf.c lets "all" follow at most one.
  let attributes = 0;
  let i = 0;
  while (i < args.length) {
    const attr = args[i++];
    // Every criterion may be negated (readconf.c match_cfg_line).
    const negate = attr.startsWith('!');
    const name = (negate ? attr.slice(1) : attr).toLowerCase();
    if (name === 'all') {
      if (attributes > 1 || i < args.length) throw bad(`"${attr}" cannot be combined with other criteria`);
      if (result) result = !negate;
      break;
    }
    attributes++;
    let ok: boolean;
    if (name === 'canonical' || name === 'final') {
      if (name === 'final') config.wantFinalPass = true;
      // Without hostname canonicalization, "canonical" and "final" hold only in the final pass.
      ok = finalPass;
    } else {
      const value = args[i++];
      if (value === undefined) throw bad(`"${attr}" needs an argument`);
      const patterns = splitPatternList(value);
      switch (name) {
        case 'host':
          ok = matchPatternList(finalPass ? config.hostName : currentHostName(config, input.alias), patterns) === 'match';
          break;
        case 'originalhost':
          ok = matchPatternList(input.alias, patterns) === 'match';
          break;
        case 'user':
          ok = matchPatternList(config.get('user')?.text ?? input.localUser, patterns, 'exact-case') === 'match';
          break;
        case 'localuser':
          ok = matchPatternList(input.localUser, patterns, 'exact-case') === 'match';
          break;
        case 'tagged':
          ok = matchPatternList(config.get('tag')?.text ?? '', patterns, 'exact-case') === 'match';
          break;
        case 'exec':
          skipped.push({ criterion: 'exec', value });
          continue;
        default:
          if (UNEVALUATED_CRITERIA.has(name)) {
            skipped.push({ criterion: name, value });
            continue;
          }
          throw bad(`unknown criterion "${attr}"`);
      }
    }
    if (negate) ok = !ok;
    if (!ok) result = false;
  }
  if (skipped.length === 0) return result;
  if (result) {
    for (const s of skipped) {
      config.report({
        option: `Match ${s.criterion}`,
        value: s.value,
        source: where,
        reason:
          s.criterion === 'exec'
            ? 'Match exec is never run (it would execute a command); this Match block is ignored'
            : `Match ${s.criterion} is not evaluated; this Match block is ignored`,
      });
    }
  }
  return false;
}

/** In the first pass `Match host` sees HostName once set (with %h expanded, case kept), else the alias. */
function currentHostName(config: EffectiveConfig, alias: string): string {
  return configuredHostName(config.get('hostname'), alias);
}

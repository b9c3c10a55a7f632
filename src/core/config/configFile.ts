/**
 * Reads one ssh_config file into a flat list of nodes with file:line, using the
 * "ssh-config" library's parser. We evaluate the nodes ourselves (sshConfig.ts) because
 * the library's compute() has no Include, keeps no line numbers, matches `?` as "zero
 * or one" and may spawn processes (Match exec, nslookup for CanonicalizeHostname).
 */
import * as fs from 'node:fs';
import { LineType, parse, type Line } from 'ssh-config';
import { ConfigError } from './types';

export interface Source {
  file: string;
  line: number;
}

export type ConfigNode =
  | { kind: 'host'; args: string[]; source: Source }
  | { kind: 'match'; args: string[]; source: Source }
  | { kind: 'include'; args: string[]; source: Source }
  | {
      kind: 'option';
      /** Lower-cased: keywords are case-insensitive. */
      keyword: string;
      /** As written, for messages. */
      name: string;
      /** The whole value as one string (quotes removed). */
      text: string;
      /** The value split into arguments, quote-aware. */
      args: string[];
      source: Source;
    };

export function formatSource(source: Source): string {
  return `${source.file}:${source.line}`;
}

type Value = string | Array<{ val: string; separator: string; quoted?: boolean }>;

function argsOf(value: Value, quoted: boolean | undefined): string[] {
  if (Array.isArray(value)) return value.map((v) => v.val);
  if (quoted) return [value];
  return value.split(/\s+/).filter((w) => w !== '');
}

function textOf(value: Value): string {
  return Array.isArray(value) ? value.map((v) => v.val).join(' ') : value;
}

function countNewlines(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) === 10) n++;
  return n;
}

/** Parse config text. `file` is only used in messages and sources. */
export function parseConfigText(text: string, file: string): ConfigNode[] {
  let parsed: Line[];
  try {
    parsed = parse(text);
  } catch (err) {
    throw locateParseError(text, file, err);
  }
  const nodes: ConfigNode[] = [];
  // The library keeps every byte in before/after, so counting newlines in document
  // order (the order stringify() writes) recovers each directive's line number.
  let newlines = 0;
  const visit = (line: Line): void => {
    newlines += countNewlines(line.before);
    if (line.type === LineType.DIRECTIVE && line.param) {
      const source: Source = { file, line: newlines + 1 };
      // A keyword alone on its line makes the library read on into the next line as
      // part of the keyword; either way the directive has no value, which ssh rejects.
      const name = line.param.split(/[\r\n]/)[0];
      const args = /[\r\n]/.test(line.param) ? [] : argsOf(line.value, line.quoted);
      if (args.length === 0) {
        throw new ConfigError(`${formatSource(source)}: "${name}" has no value`, file, source.line);
      }
      const keyword = name.toLowerCase();
      if (keyword === 'host' || keyword === 'match' || keyword === 'include') {
        nodes.push({ kind: keyword, args, source });
      } else {
        nodes.push({ kind: 'option', keyword, name: line.param, text: textOf(line.value), args, source });
      }
    }
    newlines += countNewlines(line.after);
    if ('config' in line) for (const child of line.config) visit(child);
  };
  for (const line of parsed) visit(line);
  return nodes;
}

/**
 * The library's errors carry no position. Parsing line by line finds the first line
 * that fails on its own, which is where the problem is (quotes never span lines).
 */
function locateParseError(text: string, file: string, err: unknown): ConfigError {
  const reason = err instanceof Error ? err.message : String(err);
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    try {
      parse(lines[i]);
    } catch (lineErr) {
      const why = lineErr instanceof TypeError ? 'missing value' : lineErr instanceof Error ? lineErr.message : reason;
      return new ConfigError(`${file}:${i + 1}: cannot parse "${lines[i].trim()}": ${why}`, file, i + 1);
    }
  }
  return new ConfigError(`${file}: cannot parse ssh config: ${reason}`, file);
}

/**
 * Read and parse a file; undefined when it does not exist (ssh treats a missing config
 * or a vanished Include target as empty). Any other read error is fatal, as in ssh.
 */
export function readConfigFile(file: string): ConfigNode[] | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    const why = code === 'EISDIR' ? 'it is a directory' : code === 'EACCES' ? 'permission denied' : (err as Error).message;
    throw new ConfigError(`Cannot read ssh config file ${file}: ${why}`, file);
  }
  return parseConfigText(text, file);
}

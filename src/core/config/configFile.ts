/**
 * Reads one ssh_config file into a flat list of nodes with file:line, splitting each line
 * exactly as OpenSSH's readconf.c does: the keyword ends at whitespace or one `=`, and the
 * rest is split by argv_split() (whitespace-separated words, `"` and `'` quotes removed,
 * `\` escaping a quote, a backslash or a space, `#` at the start of a word ending the
 * line). Every keyword gets its arguments unquoted the same way, so `LocalForward "8080"
 * "db:80"` and `Include "conf d/q.conf"` mean what they mean to ssh. The nodes are
 * evaluated in configEval.ts; nothing here executes anything.
 */
import * as fs from 'node:fs';
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
      /** The arguments joined by single spaces (quotes removed). */
      text: string;
      /** The value split into arguments, quotes removed, as ssh's argv_split(). */
      args: string[];
      /** The value exactly as written (quotes and a trailing comment kept): ProxyCommand takes the line as is, as readconf.c does. */
      raw: string;
      source: Source;
    };

export function formatSource(source: Source): string {
  return `${source.file}:${source.line}`;
}

/** readconf.c's WHITESPACE plus the form feed it also strips at the end of a line. */
const TRAILING_SPACE = ' \t\r\n\f';

/**
 * The line without its trailing blanks. A loop, not /[ \t\r\n\f]+$/: that regex tries
 * every blank as a start, so a long run of blanks before a word took quadratic time.
 */
function trimTrailingSpace(line: string): string {
  let end = line.length;
  while (end > 0 && TRAILING_SPACE.includes(line[end - 1])) end--;
  return line.slice(0, end);
}
const KEYWORD = /^[ \t\r\n]*([^ \t\r\n="]*)/;

/**
 * misc.c argv_split() with terminate_on_comment: undefined when a quote is not closed
 * (ssh: "invalid quotes").
 */
export function splitArgs(s: string): string[] | undefined {
  const out: string[] = [];
  let i = 0;
  while (i < s.length) {
    if (s[i] === ' ' || s[i] === '\t') {
      i++;
      continue;
    }
    if (s[i] === '#') break;
    let arg = '';
    let quote = '';
    for (; i < s.length; i++) {
      const c = s[i];
      if (c === '\\') {
        const next = s[i + 1];
        if (next === "'" || next === '"' || next === '\\' || (quote === '' && next === ' ')) {
          arg += next;
          i++;
        } else {
          arg += c; // an unrecognised escape stays as written
        }
      } else if (quote === '' && (c === ' ' || c === '\t')) {
        break;
      } else if (quote === '' && (c === '"' || c === "'")) {
        quote = c;
      } else if (quote !== '' && c === quote) {
        quote = '';
      } else {
        arg += c;
      }
    }
    if (quote !== '') return undefined;
    out.push(arg);
  }
  return out;
}

/** Parse config text. `file` is only used in messages and sources. */
export function parseConfigText(text: string, file: string): ConfigNode[] {
  const nodes: ConfigNode[] = [];
  const lines = text.split('\n');
  lines.forEach((raw, index) => {
    const source: Source = { file, line: index + 1 };
    const line = trimTrailingSpace(raw);
    const keywordMatch = KEYWORD.exec(line);
    const name = keywordMatch?.[1] ?? '';
    if (name === '' || name.startsWith('#')) return;
    // strdelim(): one '=' may separate the keyword from its value, with or without spaces.
    const rest = line.slice(keywordMatch![0].length).replace(/^[ \t\r\n]*(=[ \t\r\n]*)?/, '');
    const args = rest === '' ? [] : splitArgs(rest);
    if (args === undefined) {
      throw new ConfigError(`${formatSource(source)}: cannot parse "${raw.trim()}": invalid quotes`, file, source.line);
    }
    if (args.length === 0) {
      throw new ConfigError(`${formatSource(source)}: "${name}" has no value`, file, source.line);
    }
    const keyword = name.toLowerCase();
    if (keyword === 'host' || keyword === 'match' || keyword === 'include') {
      nodes.push({ kind: keyword, args, source });
    } else {
      nodes.push({ kind: 'option', keyword, name, text: args.join(' '), args, raw: rest, source });
    }
  });
  return nodes;
}

/**
 * The largest config file (or Include target) read: 4 MiB. A generated inventory of
 * 40,000 Host blocks fits; the parser holds a file's text and nodes in memory (~30x its
 * size), so a runaway input (a log file included by a glob, `-F /dev/zero`) must be
 * refused before it is read, with a message, rather than exhaust memory.
 */
export const MAX_CONFIG_BYTES = 4 * 1024 * 1024;

/** Reads `fd` to its end, or throws `tooBig()` past MAX_CONFIG_BYTES. */
function readBounded(fd: number, tooBig: () => Error): string {
  const chunks: Buffer[] = [];
  let total = 0;
  const chunk = Buffer.alloc(64 * 1024);
  for (;;) {
    const n = fs.readSync(fd, chunk, 0, chunk.length, null);
    if (n === 0) break;
    total += n;
    if (total > MAX_CONFIG_BYTES) throw tooBig();
    chunks.push(Buffer.from(chunk.subarray(0, n)));
  }
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * Read and parse a file. Undefined when it does not exist (ssh treats a missing config
 * or a vanished Include target as empty); 'directory' for a directory, which ssh reads as
 * an empty file (the caller warns). Any other read error is fatal, as in ssh, and so is
 * a device other than /dev/null (/dev/zero never ends) or more than MAX_CONFIG_BYTES. A pipe
 * (`-F <(...)`) is read to its end, as ssh reads it.
 */
export function readConfigFile(file: string): ConfigNode[] | 'directory' | undefined {
  let text: string;
  let fd: number | undefined;
  const tooBig = (size: string) =>
    new ConfigError(`Cannot read ssh config file ${file}: it is ${size} bytes; config files over ${MAX_CONFIG_BYTES} bytes (4 MiB) are refused`, file);
  try {
    if (fs.statSync(file).isFIFO()) {
      // `-F <(generate-config)`: read the pipe as ssh does (a blocking open waits for its
      // writer), to its end, but bounded. The pipe is opened once: closing a first reader
      // while the writer is done would throw away what it wrote.
      fd = fs.openSync(file, 'r');
      text = readBounded(fd, () => tooBig('more than 4194304'));
      return parseConfigText(text, file);
    }
    // O_NONBLOCK: a file that turned into a FIFO since the stat must not block the open.
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    const stat = fs.fstatSync(fd);
    if (stat.isDirectory()) return 'directory';
    // `-F /dev/null` is the usual way to say "no config": it reads as empty.
    if (stat.isCharacterDevice() && fs.realpathSync(file) === '/dev/null') return [];
    if (!stat.isFile()) {
      throw new ConfigError(`Cannot read ssh config file ${file}: not a regular file`, file);
    } else {
      if (stat.size > MAX_CONFIG_BYTES) throw tooBig(String(stat.size));
      // Bounded too: a file that grows after fstat.
      text = readBounded(fd, () => tooBig('more than 4194304'));
    }
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    if (code === 'EISDIR') return 'directory';
    const why = code === 'EACCES' ? 'permission denied' : (err as Error).message;
    throw new ConfigError(`Cannot read ssh config file ${file}: ${why}`, file);
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
  return parseConfigText(text, file);
}

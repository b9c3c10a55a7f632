/**
 * Parsing of port-forward specifications as ssh -L/-R/-D and LocalForward /
 * RemoteForward / DynamicForward take them (ssh(1), ssh_config(5); field splitting
 * follows OpenSSH's parse_fwd_field so that the same strings mean the same thing).
 */
import { bracketIPv6 } from '../base/hostPort';
import { ConfigError, type DynamicForwardSpec, type ForwardSpec } from './types';

/**
 * Bind address meaning "every interface, every address family". Written `*` or left
 * empty (`:8080:host:80`) in OpenSSH. We keep `*` instead of mapping it to 0.0.0.0:
 * 0.0.0.0 would drop IPv6, and a remote forward must send "" (RFC 4254: all families),
 * so each forward kind maps `*` itself (local: listen without host; remote: "").
 */
export const ALL_INTERFACES = '*';

/**
 * A forward that is well-formed for OpenSSH but that we cannot carry out (Unix-domain
 * sockets, reverse SOCKS). Separate class so config resolution can report it as
 * unsupported instead of failing the whole host.
 */
export class UnsupportedForwardError extends ConfigError {
  constructor(message: string) {
    super(message);
    this.name = 'UnsupportedForwardError';
  }
}

const LOCAL_SYNTAX = '[bind_address:]port:host:hostport (IPv6 addresses in [brackets])';
const DYNAMIC_SYNTAX = '[bind_address:]port (IPv6 addresses in [brackets])';

interface Field {
  text: string;
  /** Contains `/`: OpenSSH then means a Unix-domain socket path. */
  isPath: boolean;
}

/**
 * Split on `:`, honouring `[...]` (taken literally, so IPv6 colons survive) and `\`
 * escapes. Returns undefined for a bracket that is not closed or not followed by `:`.
 */
function splitColonFields(spec: string): Field[] | undefined {
  const fields: Field[] = [];
  let i = 0;
  for (;;) {
    let text = '';
    let isPath = false;
    if (spec[i] === '[') {
      const close = spec.indexOf(']', i + 1);
      if (close < 0) return undefined;
      text = spec.slice(i + 1, close);
      isPath = text.includes('/');
      i = close + 1;
      if (i < spec.length && spec[i] !== ':') return undefined;
    } else {
      while (i < spec.length && spec[i] !== ':') {
        if (spec[i] === '\\') {
          i++;
          if (i >= spec.length) return undefined;
        } else if (spec[i] === '/') {
          isPath = true;
        }
        // A bracket inside a field (escaped or not): no address has one, and formatForwardSpec
        // could not write such a field back.
        if (spec[i] === '[' || spec[i] === ']') return undefined;
        text += spec[i++];
      }
    }
    fields.push({ text, isPath });
    if (i >= spec.length) return fields;
    i++; // past ':'
  }
}

/**
 * The pre-6.7 alternative syntax `[bind/]port/host/hostport`, still accepted by the
 * ssh_config(5) text for IPv6. Only taken when the port positions are numbers, so a
 * Unix socket path such as /run/x.sock is never mistaken for it.
 */
function splitSlashFields(spec: string, portIndexes: (count: number) => number[] | undefined): string[] | undefined {
  if (!spec.includes('/') || spec.startsWith('/')) return undefined;
  // A bracketed field is an address written as in the colon form ("8080/[::1]/80"); any
  // other bracket or backslash is left to the colon parser, which knows them: taken
  // literally here, they made forwards that formatForwardSpec could not write back.
  const parts = spec.split('/').map((p) => (/^\[[^[\]\\]*\]$/.test(p) ? p.slice(1, -1) : p));
  if (parts.some((p) => /[[\]\\]/.test(p))) return undefined;
  const ports = portIndexes(parts.length);
  if (!ports || !ports.every((idx) => /^\d+$/.test(parts[idx]))) return undefined;
  return parts;
}

function parsePort(text: string, spec: string, allowZero: boolean): number {
  const min = allowZero ? 0 : 1;
  if (!/^\d{1,5}$/.test(text) || Number(text) > 65535 || Number(text) < min) {
    throw new ConfigError(`Bad forward specification "${spec}": port "${text}" is not a number from ${min} to 65535`);
  }
  return Number(text);
}

function bindAddressOf(text: string): string {
  return text === '' || text === ALL_INTERFACES ? ALL_INTERFACES : text;
}

function hostOf(text: string, spec: string): string {
  if (text === '') throw new ConfigError(`Bad forward specification "${spec}": the host to connect to is missing`);
  return text;
}

/** `[bind_address:]port:host:hostport`, as given to -L / -R. */
export function parseForwardSpec(text: string): ForwardSpec {
  const spec = text.trim();
  const slash = splitSlashFields(spec, (n) => (n === 3 ? [0, 2] : n === 4 ? [1, 3] : undefined));
  let parts: string[];
  if (slash) {
    parts = slash;
  } else {
    const fields = splitColonFields(spec);
    if (!fields) throw new ConfigError(`Bad forward specification "${spec}": expected ${LOCAL_SYNTAX}`);
    if (fields.some((f) => f.isPath)) {
      throw new UnsupportedForwardError(`Forward "${spec}" uses a Unix-domain socket, which is not supported`);
    }
    parts = fields.map((f) => f.text);
  }
  if (parts.length === 3) {
    return {
      bindPort: parsePort(parts[0], spec, true),
      host: hostOf(parts[1], spec),
      hostPort: parsePort(parts[2], spec, false),
    };
  }
  if (parts.length === 4) {
    return {
      bindAddress: bindAddressOf(parts[0]),
      bindPort: parsePort(parts[1], spec, true),
      host: hostOf(parts[2], spec),
      hostPort: parsePort(parts[3], spec, false),
    };
  }
  throw new ConfigError(`Bad forward specification "${spec}": expected ${LOCAL_SYNTAX}`);
}

/** `[bind_address:]port`, as given to -D / DynamicForward. */
export function parseDynamicSpec(text: string): DynamicForwardSpec {
  const spec = text.trim();
  const slash = splitSlashFields(spec, (n) => (n === 2 ? [1] : undefined));
  let parts: string[];
  if (slash) {
    parts = slash;
  } else {
    const fields = splitColonFields(spec);
    if (!fields) throw new ConfigError(`Bad dynamic forward specification "${spec}": expected ${DYNAMIC_SYNTAX}`);
    if (fields.some((f) => f.isPath)) {
      throw new UnsupportedForwardError(`Dynamic forward "${spec}" uses a Unix-domain socket, which is not supported`);
    }
    parts = fields.map((f) => f.text);
  }
  if (parts.length === 1) return { bindPort: parsePort(parts[0], spec, true) };
  if (parts.length === 2) return { bindAddress: bindAddressOf(parts[0]), bindPort: parsePort(parts[1], spec, true) };
  throw new ConfigError(`Bad dynamic forward specification "${spec}": expected ${DYNAMIC_SYNTAX}`);
}

/**
 * The value of a LocalForward / RemoteForward line: `[bind:]port host:hostport` (space,
 * as ssh_config writes it) or the -L colon form in one word. `direction` only matters
 * for a lone `[bind:]port`: a RemoteForward like that is OpenSSH's reverse SOCKS proxy,
 * which we report as unsupported rather than as a syntax error.
 */
export function parseForwardDirective(value: string, direction: 'local' | 'remote' = 'local'): ForwardSpec {
  const words = value
    .trim()
    .split(/\s+/)
    .filter((w) => w !== '');
  if (words.length === 1) {
    if (direction === 'remote' && isDynamicShape(words[0])) {
      throw new UnsupportedForwardError(`RemoteForward "${words[0]}" is a reverse SOCKS proxy, which is not supported`);
    }
    return parseForwardSpec(words[0]);
  }
  if (words.length === 2) {
    const [listen, target] = words;
    // Keep the old slash syntax intact when the target uses it ("8080 ::1/80").
    const joiner = /^[^/]+\/\d+$/.test(target) ? '/' : ':';
    return parseForwardSpec(`${listen}${joiner}${target}`);
  }
  throw new ConfigError(`Bad forward "${value.trim()}": expected "[bind_address:]port host:hostport" (IPv6 addresses in [brackets])`);
}

function isDynamicShape(word: string): boolean {
  try {
    parseDynamicSpec(word);
    return true;
  } catch {
    return false;
  }
}

/** ssh's own notation, bracketing IPv6; parseForwardSpec(formatForwardSpec(s)) gives s back. */
export function formatForwardSpec(spec: ForwardSpec): string {
  const bind = spec.bindAddress === undefined ? '' : `${bracketIPv6(spec.bindAddress)}:`;
  return `${bind}${spec.bindPort}:${bracketIPv6(spec.host)}:${spec.hostPort}`;
}

export function formatDynamicSpec(spec: DynamicForwardSpec): string {
  const bind = spec.bindAddress === undefined ? '' : `${bracketIPv6(spec.bindAddress)}:`;
  return `${bind}${spec.bindPort}`;
}

/** Same forward? Used to drop duplicates, as ssh's add_local_forward does. */
export function sameForward(a: ForwardSpec, b: ForwardSpec): boolean {
  return a.bindAddress === b.bindAddress && a.bindPort === b.bindPort && a.host === b.host && a.hostPort === b.hostPort;
}

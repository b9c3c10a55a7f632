/**
 * Command-line parsing with OpenSSH's getopt semantics: single-letter flags that may be
 * bundled (-NT), option values attached or separate (-p22 / -p 22), and everything after
 * the destination is the remote command. Node's util.parseArgs cannot stop at the first
 * positional, so this small parser does it.
 */
export interface CliArgs {
  configFile?: string;
  port?: number;
  user?: string;
  identityFiles: string[];
  localForwards: string[];
  remoteForwards: string[];
  dynamicForwards: string[];
  /** -W host:port: stdin and stdout carried to host:port from the server (ssh -W), e.g. as a ProxyCommand. */
  stdioForward?: string;
  /** -o Key=Value, in order (first one wins, as in ssh). */
  options: Array<[string, string]>;
  noCommand: boolean;
  /** -G: print the effective configuration as `ssh -G` does and exit without connecting. */
  printConfig: boolean;
  forceTty?: boolean;
  disableTty?: boolean;
  reattach?: boolean;
  /** Run the interactive shell on the session keeper (default true; --no-keeper). */
  keeper: boolean;
  reclaimRemoteForwards: boolean;
  /** With -N: after a fatal error on reconnect, keep the local listeners instead of exiting 255. */
  keepListeners: boolean;
  /** --max-attempts N: give up (exit 255) after N failed attempts in a row; default: never. */
  maxAttempts?: number;
  events: boolean;
  /** --learn-keepalive: measure this network's idle timeout and refresh the NAT with TCP keepalives under it (keepaliveTuner.ts). */
  learnKeepalive: boolean;
  verbose: number;
  quiet: boolean;
  destination: string;
  command: string[];
  help: boolean;
  version: boolean;
}

export class UsageError extends Error {}

const flagsWithValue = new Set(['F', 'p', 'l', 'i', 'L', 'R', 'D', 'W', 'o']);
const booleanFlags = new Set(['G', 'N', 't', 'T', 'v', 'q']);

export const usage = `usage: ssh-keepalive [-GNTtqv] [-F configfile] [-p port] [-l user] [-i identity_file]
                     [-L [bind_address:]port:host:hostport] [-R [bind_address:]port:host:hostport]
                     [-D [bind_address:]port] [-W host:port] [-o option=value] [--events] [--reattach|--no-reattach] [--no-keeper]
                     [--reclaim-remote-forwards] [--keep-listeners] [--learn-keepalive] [--max-attempts N] destination [command [argument ...]]
  --keep-listeners  with -N: after an error that retrying cannot fix (a changed host key, a
                    refused login) keep the local forwards' ports bound, each client told why,
                    instead of exiting with status 255 as ssh would
  --learn-keepalive measure how long this network keeps an idle connection (on short-lived
                    extra connections to the server's port, never on this one), then keep the
                    NAT's entry fresh with TCP keepalives just under that and send ssh keepalives
                    only every 10 minutes; remembered per network
  --no-keeper       do not start the session keeper on the server: shells use tmux when the
                    server has it, and a drop cuts the connections open through -L, -R, -D, -W`;

export function parseArgs(argv: string[]): CliArgs {
  const out: CliArgs = {
    identityFiles: [],
    localForwards: [],
    remoteForwards: [],
    dynamicForwards: [],
    options: [],
    noCommand: false,
    printConfig: false,
    keeper: true,
    reclaimRemoteForwards: false,
    keepListeners: false,
    events: false,
    learnKeepalive: false,
    verbose: 0,
    quiet: false,
    destination: '',
    command: [],
    help: false,
    version: false,
  };
  let i = 0;
  for (; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') {
      i++;
      break;
    }
    if (arg.startsWith('--')) {
      if (arg === '--max-attempts' || arg.startsWith('--max-attempts=')) {
        const text = arg.includes('=') ? arg.slice(arg.indexOf('=') + 1) : argv[++i];
        if (text === undefined || !/^[1-9][0-9]{0,5}$/.test(text))
          throw new UsageError(`--max-attempts needs a whole number from 1 to 999999, not ${JSON.stringify(text ?? '')}`);
        out.maxAttempts = Number(text);
        continue;
      }
      switch (arg) {
        case '--events':
          out.events = true;
          break;
        case '--reattach':
          out.reattach = true;
          break;
        case '--no-reattach':
          out.reattach = false;
          break;
        case '--keeper':
          out.keeper = true;
          break;
        case '--no-keeper':
          out.keeper = false;
          break;
        case '--reclaim-remote-forwards':
          out.reclaimRemoteForwards = true;
          break;
        case '--keep-listeners':
          out.keepListeners = true;
          break;
        case '--learn-keepalive':
          out.learnKeepalive = true;
          break;
        case '--help':
          out.help = true;
          break;
        case '--version':
          out.version = true;
          break;
        default:
          throw new UsageError(`unknown option ${arg}`);
      }
      continue;
    }
    if (!arg.startsWith('-') || arg === '-') break;
    // By code point, not UTF-16 unit: "-𐀀" is one unknown option, not half a character.
    const chars = Array.from(arg);
    for (let j = 1; j < chars.length; j++) {
      const flag = chars[j];
      if (flagsWithValue.has(flag)) {
        let value = chars.slice(j + 1).join('');
        if (!value) {
          if (i + 1 >= argv.length) throw new UsageError(`option -${flag} needs a value`);
          value = argv[++i];
        }
        applyValue(out, flag, value);
        break;
      }
      // Quoted when not printable, so that "-\t" or "- " shows what was typed.
      if (!booleanFlags.has(flag)) throw new UsageError(`unknown option ${/^[!-~]$/.test(flag) ? `-${flag}` : JSON.stringify(`-${flag}`)}`);
      if (flag === 'N') out.noCommand = true;
      else if (flag === 'G') out.printConfig = true;
      else if (flag === 't') out.forceTty = true;
      else if (flag === 'T') out.disableTty = true;
      else if (flag === 'v') out.verbose++;
      else if (flag === 'q') out.quiet = true;
    }
  }
  if (out.help || out.version) return out;
  if (i >= argv.length) throw new UsageError('missing destination');
  out.destination = argv[i];
  out.command = argv.slice(i + 1);
  return out;
}

function applyValue(out: CliArgs, flag: string, value: string): void {
  switch (flag) {
    case 'F':
      out.configFile = value;
      break;
    case 'p': {
      const port = Number(value);
      if (!Number.isInteger(port) || port < 1 || port > 65535) throw new UsageError(`bad port '${value}': expected 1-65535`);
      out.port = port;
      break;
    }
    case 'l':
      out.user = value;
      break;
    case 'i':
      out.identityFiles.push(value);
      break;
    case 'L':
      out.localForwards.push(value);
      break;
    case 'R':
      out.remoteForwards.push(value);
      break;
    case 'D':
      out.dynamicForwards.push(value);
      break;
    case 'W':
      if (out.stdioForward !== undefined) {
        throw new UsageError(`stdio forward already specified: -W ${JSON.stringify(out.stdioForward)}, then -W ${JSON.stringify(value)}`);
      }
      out.stdioForward = value;
      break;
    case 'o': {
      const m = /^\s*([A-Za-z][A-Za-z0-9]*)\s*(?:=|\s)\s*(.*)$/.exec(value);
      if (!m || m[2] === '') throw new UsageError(`bad -o option '${value}': expected Option=value`);
      out.options.push([m[1], m[2]]);
      break;
    }
  }
}

/** Splits `[user@]host[:port]` or `ssh://[user@]host[:port]`. */
export function parseDestination(dest: string): { user?: string; host: string; port?: number } {
  let rest = dest;
  let port: number | undefined;
  if (rest.startsWith('ssh://')) {
    rest = rest.slice(6).replace(/\/$/, '');
    const m = /^(.*?)(?::(\d+))?$/.exec(rest);
    if (m && m[2]) {
      rest = m[1];
      port = Number(m[2]);
    }
  }
  const at = rest.lastIndexOf('@');
  const user = at >= 0 ? rest.slice(0, at) : undefined;
  let host = at >= 0 ? rest.slice(at + 1) : rest;
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  if (!host) throw new UsageError(`bad destination '${dest}'`);
  return { user, host, port };
}

/** The -o value of `name` (case-insensitive), first one wins. */
export function optionValue(args: CliArgs, name: string): string | undefined {
  const hit = args.options.find(([k]) => k.toLowerCase() === name.toLowerCase());
  return hit?.[1];
}

export function isYes(value: string | undefined): boolean {
  return value !== undefined && /^(yes|true)$/i.test(value);
}

/**
 * What ssh-keepalive does with each ssh_config keyword, from the code itself: the keywords
 * the resolver and the CLI read (HONOURED, checked against the source by a unit test), the
 * ones reported when they would change behaviour (unsupportedOptions.ts), and every other
 * keyword OpenSSH knows (keywords.ts), accepted without effect. Anything else is rejected as
 * ssh rejects it. The README's table is this list (`node scripts/keyword-table.mjs`).
 */
import { KNOWN_KEYWORDS } from './keywords';
import { RULES } from './unsupportedOptions';

/** Keywords read and applied, with what they do here. */
export const HONOURED: Readonly<Record<string, string>> = {
  hostname: 'the address to connect to (%-tokens expanded)',
  port: 'the port',
  user: 'the login name',
  identityfile: 'keys to offer, in order (with `-cert.pub` beside them named when unusable)',
  identitiesonly: 'only the IdentityFile keys, also from the agent',
  identityagent: 'the agent socket (`none`, `SSH_AUTH_SOCK`, a path; Windows pipe, `pageant`)',
  proxyjump: 'jump hosts, each resolved from the config',
  proxycommand: 'run as ssh runs it, a fresh one per connection',
  connecttimeout: 'deadline of each connection attempt',
  serveraliveinterval: 'keepalive interval',
  serveralivecountmax: 'unanswered keepalives before the path counts as dead',
  stricthostkeychecking: 'yes, ask, accept-new, no (a changed key is always refused)',
  userknownhostsfile: 'known_hosts files read, the first one written',
  globalknownhostsfile: 'system known_hosts files, read only',
  hashknownhosts: 'added host names are hashed',
  hostkeyalias: 'the name to look the host key up under',
  localforward: '-L forwards started with the session',
  remoteforward: '-R forwards started with the session',
  dynamicforward: '-D (SOCKS) forwards started with the session',
  gatewayports: 'forwards listen on every address, not only loopback',
  ignoreunknown: 'unknown keywords it lists are not errors',
  tag: 'matched by `Match tagged`',
  batchmode: 'no prompts (CLI `-o BatchMode=yes`)',
  exitonforwardfailure: 'the CLI exits when a forward cannot start',
};

/**
 * Accepted keywords that do change what ssh would do, and why they are not reported:
 * distributions set them in /etc/ssh/ssh_config, so a report would greet every user.
 */
const ACCEPTED_DEFAULTS: Readonly<Record<string, string>> = {
  sendenv: 'not sent; not reported, as distributions set it by default (Debian: `SendEnv LANG LC_*`)',
  gssapiauthentication: 'GSSAPI (Kerberos) is not tried; not reported, as distributions turn it on by default',
};

export type KeywordSupport = 'honoured' | 'reported' | 'accepted';

export interface KeywordRow {
  keyword: string;
  support: KeywordSupport;
  note: string;
}

/** Every keyword OpenSSH knows, with what ssh-keepalive does with it, sorted. */
export function keywordSupport(): KeywordRow[] {
  const reported = new Map<string, string>();
  for (const r of RULES) if (!reported.has(r.keyword)) reported.set(r.keyword, r.reason);
  const all = new Set([...KNOWN_KEYWORDS, ...Object.keys(HONOURED), ...reported.keys()]);
  return [...all].sort().map((keyword) => {
    if (HONOURED[keyword] !== undefined) return { keyword, support: 'honoured', note: HONOURED[keyword] };
    const why = reported.get(keyword);
    if (why !== undefined) return { keyword, support: 'reported', note: why };
    return { keyword, support: 'accepted', note: ACCEPTED_DEFAULTS[keyword] ?? 'known to OpenSSH; no effect on a keepalive session' };
  });
}

/** The README's table (markdown). */
export function keywordTable(): string {
  const rows = keywordSupport().map((r) => `| \`${r.keyword}\` | ${r.support} | ${r.note.replace(/\|/g, '\\|')} |`);
  return [
    '| keyword | ssh-keepalive | what it does here |',
    '|---|---|---|',
    ...rows,
    '| `host`, `match`, `include` | honoured | the config structure (`Match exec` is never run: reported) |',
    '| anything else | rejected | stops with file:line as ssh does, unless `IgnoreUnknown` lists it |',
  ].join('\n');
}

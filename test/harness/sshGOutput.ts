/**
 * Reading `ssh -G` output and following a ProxyJump the way ssh does, for the
 * differential test. ssh turns `ProxyJump a,b` into the command
 * `ssh [-l user] [-p port] -J a -W [%h]:%p b` and expands %%, %h, %n, %p, %r in it with
 * the target's values; the hop is then resolved like any destination.
 */
export type GOutput = Map<string, string[]>;

/** keyword -> values in order (keywords such as identityfile repeat). */
export function parseG(stdout: string): GOutput {
  const out: GOutput = new Map();
  for (const line of stdout.split('\n')) {
    const space = line.indexOf(' ');
    if (space <= 0) continue;
    const key = line.slice(0, space);
    out.set(key, [...(out.get(key) ?? []), line.slice(space + 1)]);
  }
  return out;
}

export function first(g: GOutput, key: string): string | undefined {
  return g.get(key)?.[0];
}

/** ProxyCommand tokens as sshconnect.c expand_proxy_command() fills them, from ssh's own -G output. */
export function expandProxyTokens(text: string, g: GOutput): string {
  const tokens: Record<string, string | undefined> = {
    '%': '%',
    h: first(g, 'hostname'),
    n: first(g, 'host'),
    p: first(g, 'port'),
    r: first(g, 'user'),
  };
  return text.replace(/%(.)/g, (whole, t: string) => {
    const v = tokens[t];
    if (v === undefined) throw new Error(`unexpected token ${whole} in ProxyJump "${text}"`);
    return v;
  });
}

/** The ssh arguments for the last hop of an (expanded) ProxyJump value, as ssh builds them. */
export function lastHopArgs(expanded: string): string[] {
  const comma = expanded.lastIndexOf(',');
  const extra = comma < 0 ? undefined : expanded.slice(0, comma);
  let rest = expanded
    .slice(comma + 1)
    .replace(/^ssh:\/\//, '')
    .replace(/\/$/, '');
  const args: string[] = [];
  const at = rest.lastIndexOf('@');
  if (at >= 0) {
    args.push('-l', rest.slice(0, at));
    rest = rest.slice(at + 1);
  }
  let host = rest;
  const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(rest) ?? /^([^:]+)(?::(\d+))?$/.exec(rest);
  if (m) {
    host = m[1];
    if (m[2]) args.push('-p', m[2]);
  }
  if (extra !== undefined) args.push('-o', `ProxyJump=${extra}`);
  args.push(host);
  return args;
}

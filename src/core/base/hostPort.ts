/**
 * How host and port are written, in one place. Two forms exist because OpenSSH uses both:
 * `formatHostPort` for addresses people read and paste (`[::1]:8080`, `db:5432`), and
 * `knownHostsName` for known_hosts and host-key prompts, where port 22 is the bare name
 * and any other port is `[host]:port` (also for IPv4 and names).
 */
export function formatHostPort(host: string, port: number): string {
  return `${bracketIPv6(host)}:${port}`;
}

/** `[host]` for an IPv6 literal (it contains ':'), the host unchanged otherwise. */
export function bracketIPv6(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

/** The name OpenSSH writes in known_hosts and shows in host-key prompts. */
export function knownHostsName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

/**
 * `user@host` with `:port` only when it is not 22, as people write a destination
 * (`alice@db`, `alice@[::1]:2222`). The user and the port may be unknown.
 */
export function describeDestination(host: string, port?: number, user?: string): string {
  const at = user ? `${user}@` : '';
  return port !== undefined && port !== 22 ? `${at}${formatHostPort(host, port)}` : `${at}${host}`;
}

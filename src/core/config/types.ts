/** A forward spec as written in -L / LocalForward (and -R / RemoteForward). */
export interface ForwardSpec {
  /**
   * Address to bind on the listening side; undefined means loopback (OpenSSH's default
   * without GatewayPorts). '*' (ALL_INTERFACES in forwardSpec.ts; written `*` or empty in
   * ssh) means every interface and address family: listen without a host locally, send ""
   * in a remote tcpip-forward request.
   */
  bindAddress?: string;
  /** Port to listen on; 0 lets the listening side choose. */
  bindPort: number;
  /** Where the other side connects to. */
  host: string;
  hostPort: number;
}

/** A DynamicForward / -D spec. */
export interface DynamicForwardSpec {
  /** As ForwardSpec.bindAddress: undefined = loopback, '*' = all interfaces. */
  bindAddress?: string;
  bindPort: number;
}

export type StrictHostKeyChecking = 'yes' | 'no' | 'ask' | 'accept-new' | 'off';

/** One hop of a ProxyJump chain, already resolved through ssh_config like any host. */
export interface JumpHost {
  alias: string;
  hostName: string;
  port: number;
  user: string;
  identityFiles: string[];
  identitiesOnly: boolean;
  identityAgent?: string;
  /** As ResolvedHost.certificateFiles. */
  certificateFiles?: string[];
  /** The hop's own host key settings (its host key is checked like any host's). */
  hostKeyAlias?: string;
  userKnownHostsFiles?: string[];
  globalKnownHostsFiles?: string[];
  hashKnownHosts?: boolean;
  strictHostKeyChecking?: StrictHostKeyChecking;
  /** Seconds, as ResolvedHost.connectTimeout. */
  connectTimeout?: number;
  /** As ResolvedHost.proxyCommand (only the first hop of a chain can have one). */
  proxyCommand?: string;
}

/**
 * Everything we need to connect to one host alias, resolved from ssh_config the way
 * `ssh -G alias` would, plus what we could not honour.
 */
export interface ResolvedHost {
  /** The name the user typed (Host alias). */
  alias: string;
  hostName: string;
  port: number;
  user: string;
  /** Absolute paths, ~ and %-tokens expanded, in ssh_config order. */
  identityFiles: string[];
  identitiesOnly: boolean;
  /** Path of the agent socket to use, or undefined for none ("IdentityAgent none" or no SSH_AUTH_SOCK). */
  identityAgent?: string;
  /**
   * CertificateFile paths (~ and %-tokens expanded). ssh2 cannot use certificates: they are
   * only named, at start and in an authentication failure, with what to do instead.
   */
  certificateFiles?: string[];
  /** Hops to go through, in order (first is contacted directly, or through its own ProxyCommand). */
  proxyJump: JumpHost[];
  /**
   * ProxyCommand with its %-tokens expanded, run as `$SHELL -c "exec <it>"` for every
   * connection (sshconnect.c). Undefined when unset, "none", or ProxyJump came first.
   */
  proxyCommand?: string;
  /** Seconds; undefined when unset or 0/"none" (ssh: no timeout; we then use our own default deadline). */
  connectTimeout?: number;
  /** Seconds; 0 means off (ssh's default). Undefined when unset so callers can apply their own default. */
  serverAliveInterval?: number;
  serverAliveCountMax?: number;
  strictHostKeyChecking: StrictHostKeyChecking;
  /** Absolute paths, in order; the first is where new keys are written. */
  userKnownHostsFiles: string[];
  /**
   * GlobalKnownHostsFile: keys an administrator pinned (default /etc/ssh/ssh_known_hosts and
   * ssh_known_hosts2). Read after the user's files, never written. Set by resolveHost;
   * a host built by hand has none.
   */
  globalKnownHostsFiles?: string[];
  /** HashKnownHosts: new known_hosts entries are written with a hashed host name. */
  hashKnownHosts?: boolean;
  /** HostKeyAlias if set, used for known_hosts lookups instead of hostName. */
  hostKeyAlias?: string;
  localForwards: ForwardSpec[];
  remoteForwards: ForwardSpec[];
  dynamicForwards: DynamicForwardSpec[];
  /** Options present in the config that would change behaviour but that we do not support. */
  unsupported: UnsupportedOption[];
  /**
   * Warnings about the config that ssh accepts as it is (an Include of a directory, a
   * comma in a Host pattern) and debug lines (default keys skipped); for the log.
   */
  notes?: ConfigNote[];
}

export interface ConfigNote {
  level: 'warn' | 'debug';
  /** Complete, with file:line when known. */
  message: string;
  source?: string;
}

export interface UnsupportedOption {
  option: string;
  value: string;
  /** Where it came from, "file:line" when known. */
  source?: string;
  reason: string;
}

/** An ssh_config problem that prevents connecting (fatal, shown to the user as-is). */
export class ConfigError extends Error {
  constructor(
    message: string,
    readonly file?: string,
    readonly line?: number,
  ) {
    super(message);
    this.name = 'ConfigError';
  }
}

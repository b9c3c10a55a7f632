/**
 * Options and defaults shared by host resolution and the host list: where the config
 * lives, whose home `~` is, which local user we are.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { LoadedFile } from './configEval';
import { expandTilde } from './expand';
import { ConfigError } from './types';

export interface ResolveOptions {
  /**
   * Default ~/.ssh/config (a missing one is an empty config). Given, it replaces both the
   * user's and the system's config, as `ssh -F`; "none" reads no file at all.
   */
  configFile?: string;
  /** A given configFile that is missing is an error, as with `ssh -F` ("Can't open user config file"). */
  configFileMustExist?: boolean;
  /**
   * The system's ssh directory: its ssh_config is read after the user's (unless configFile
   * is given), and its ssh_known_hosts files are the default GlobalKnownHostsFile.
   * Default /etc/ssh (%PROGRAMDATA%\ssh on Windows). Tests point it at a fake root.
   */
  systemDir?: string;
  /** Default os.homedir(). Used for ~, %d, ~/.ssh defaults and relative Includes. */
  homeDir?: string;
  /** For SSH_AUTH_SOCK and ${VAR} expansion. Default process.env. */
  env?: NodeJS.ProcessEnv;
  /** Default os.userInfo().username. */
  localUser?: string;
  /**
   * From the command line (-o Key=Value, -p, -l, -i, -L ...): read before the file, so
   * with ssh's "first obtained value wins" they take precedence.
   */
  overrides?: Array<[string, string]>;
}

export interface ResolveContext {
  /** Undefined for `-F none`. */
  configFile: string | undefined;
  /** Undefined when skipped (configFile was given). */
  systemConfigFile: string | undefined;
  systemDir: string;
  homeDir: string;
  env: NodeJS.ProcessEnv;
  localUser: string;
  /** Parsed files, shared by every evaluation of one call (ProxyJump hops, list entries). */
  cache: Map<string, LoadedFile>;
}

export function makeContext(options: ResolveOptions): ResolveContext {
  const homeDir = options.homeDir ?? os.homedir();
  const env = options.env ?? process.env;
  const systemDir = options.systemDir ?? defaultSystemDir(env);
  const given = options.configFile;
  const configFile = given === 'none' ? undefined : given ? path.resolve(expandTilde(given, homeDir, 'configFile')) : path.join(homeDir, '.ssh', 'config');
  if (configFile && given && options.configFileMustExist && !fs.existsSync(configFile)) {
    throw new ConfigError(`Can't open user config file ${configFile}: No such file or directory`, configFile);
  }
  return {
    configFile,
    systemConfigFile: given ? undefined : path.join(systemDir, 'ssh_config'),
    systemDir,
    homeDir,
    env: options.env ?? process.env,
    localUser: options.localUser ?? defaultLocalUser(options.env ?? process.env),
    cache: new Map(),
  };
}

function defaultSystemDir(env: NodeJS.ProcessEnv): string {
  return process.platform === 'win32' ? path.join(env.PROGRAMDATA ?? 'C:\\ProgramData', 'ssh') : '/etc/ssh';
}

function defaultLocalUser(env: NodeJS.ProcessEnv): string {
  try {
    return os.userInfo().username;
  } catch {
    // userInfo() throws when the uid has no passwd entry (some containers).
    return env.USER ?? env.USERNAME ?? 'root';
  }
}

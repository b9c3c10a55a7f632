/**
 * Options and defaults shared by host resolution and the host list: where the config
 * lives, whose home `~` is, which local user we are.
 */
import * as os from 'node:os';
import * as path from 'node:path';
import type { LoadedFile } from './configEval';
import { expandTilde } from './expand';

export interface ResolveOptions {
  /** Default ~/.ssh/config; a missing file is an empty config. */
  configFile?: string;
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
  configFile: string;
  homeDir: string;
  env: NodeJS.ProcessEnv;
  localUser: string;
  /** Parsed files, shared by every evaluation of one call (ProxyJump hops, list entries). */
  cache: Map<string, LoadedFile>;
}

export function makeContext(options: ResolveOptions): ResolveContext {
  const homeDir = options.homeDir ?? os.homedir();
  const configFile = options.configFile ? path.resolve(expandTilde(options.configFile, homeDir, 'configFile')) : path.join(homeDir, '.ssh', 'config');
  return {
    configFile,
    homeDir,
    env: options.env ?? process.env,
    localUser: options.localUser ?? defaultLocalUser(options.env ?? process.env),
    cache: new Map(),
  };
}

function defaultLocalUser(env: NodeJS.ProcessEnv): string {
  try {
    return os.userInfo().username;
  } catch {
    // userInfo() throws when the uid has no passwd entry (some containers).
    return env.USER ?? env.USERNAME ?? 'root';
  }
}

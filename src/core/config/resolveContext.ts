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
  /** Whose path rules and agent default apply; default process.platform. Tests pass 'win32'. */
  platform?: NodeJS.Platform;
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
  platform: NodeJS.Platform;
  /** path.win32 on Windows, path.posix elsewhere. */
  paths: path.PlatformPath;
  /** Parsed files, shared by every evaluation of one call (ProxyJump hops, list entries). */
  cache: Map<string, LoadedFile>;
}

export function makeContext(options: ResolveOptions): ResolveContext {
  const platform = options.platform ?? process.platform;
  const paths = platformPaths(platform);
  const homeDir = options.homeDir ?? os.homedir();
  const given = options.configFile && expandTilde(options.configFile, homeDir, 'configFile', paths);
  const configFile = given ? (paths.isAbsolute(given) ? given : paths.resolve(given)) : paths.join(homeDir, '.ssh', 'config');
  return {
    configFile,
    homeDir,
    platform,
    paths,
    env: options.env ?? process.env,
    localUser: options.localUser ?? defaultLocalUser(options.env ?? process.env),
    cache: new Map(),
  };
}

export function platformPaths(platform: NodeJS.Platform): path.PlatformPath {
  return platform === 'win32' ? path.win32 : path.posix;
}

function defaultLocalUser(env: NodeJS.ProcessEnv): string {
  try {
    return os.userInfo().username;
  } catch {
    // userInfo() throws when the uid has no passwd entry (some containers).
    return env.USER ?? env.USERNAME ?? 'root';
  }
}

import { resolveHostWithConfig, type EffectiveConfig } from '../core/config/sshConfig';
import type { ResolvedHost } from '../core/config/types';
import { parseDestination, type CliArgs } from './args';

/** The destination resolved through ssh_config with the command line first: in ssh_config the first value obtained wins. */
export function resolveDestination(args: CliArgs): { host: ResolvedHost; config: EffectiveConfig } {
  const dest = parseDestination(args.destination);
  const overrides: Array<[string, string]> = [...args.options];
  const port = args.port ?? dest.port;
  if (port !== undefined) overrides.unshift(['Port', String(port)]);
  const user = args.user ?? dest.user;
  if (user !== undefined) overrides.unshift(['User', user]);
  for (const file of args.identityFiles) overrides.push(['IdentityFile', file]);
  return resolveHostWithConfig(dest.host, { configFile: args.configFile, configFileMustExist: true, overrides });
}

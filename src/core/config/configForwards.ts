/**
 * LocalForward / RemoteForward / DynamicForward from the effective config: every
 * occurrence counts (they accumulate in ssh), duplicates are dropped as ssh does, and
 * forwards we cannot carry out are reported instead of failing the host.
 */
import { formatSource } from './configFile';
import type { EffectiveConfig, Setting } from './configEval';
import { ALL_INTERFACES, UnsupportedForwardError, parseDynamicSpec, parseForwardDirective, sameForward } from './forwardSpec';
import { parseYesNo, withSource } from './optionValues';
import { ConfigError, type DynamicForwardSpec, type ForwardSpec, type ResolvedHost, type UnsupportedOption } from './types';

export function collectForwards(
  config: EffectiveConfig,
  unsupported: UnsupportedOption[],
): Pick<ResolvedHost, 'localForwards' | 'remoteForwards' | 'dynamicForwards'> {
  const clearSetting = config.get('clearallforwardings');
  if (clearSetting && parseYesNo(clearSetting)) return { localForwards: [], remoteForwards: [], dynamicForwards: [] };
  const gatewaySetting = config.get('gatewayports');
  // GatewayPorts yes: a local listener without an explicit address binds to all interfaces.
  const defaultBind = gatewaySetting && parseYesNo(gatewaySetting) ? ALL_INTERFACES : undefined;

  const parseEach = <T>(keyword: string, parse: (s: Setting) => T, same: (a: T, b: T) => boolean): T[] => {
    const out: T[] = [];
    for (const setting of config.getAll(keyword)) {
      let spec: T;
      try {
        spec = parse(setting);
      } catch (err) {
        if (err instanceof UnsupportedForwardError) {
          unsupported.push({ option: setting.name, value: setting.text, source: formatSource(setting.source), reason: err.message });
          continue;
        }
        throw withSource(setting, err);
      }
      if (!out.some((o) => same(o, spec))) out.push(spec);
    }
    return out;
  };
  const withDefaultBind = <T extends { bindAddress?: string }>(spec: T): T =>
    spec.bindAddress === undefined && defaultBind !== undefined ? { ...spec, bindAddress: defaultBind } : spec;

  const localForwards: ForwardSpec[] = parseEach('localforward', (s) => withDefaultBind(parseLocalForward(s)), sameForward);
  const remoteForwards: ForwardSpec[] = parseEach('remoteforward', parseRemoteForward, sameForward);
  const dynamicForwards: DynamicForwardSpec[] = parseEach(
    'dynamicforward',
    (s) => withDefaultBind(parseDynamicForward(s)),
    (a, b) => a.bindAddress === b.bindAddress && a.bindPort === b.bindPort,
  );
  return { localForwards, remoteForwards, dynamicForwards };
}

/*
 * The argument rules of readconf.c for the three keywords, with its messages: a
 * LocalForward needs two arguments (the listen side, then host:hostport), a RemoteForward
 * with one is a reverse SOCKS proxy, and parse_forward() refuses listen port 0 except for
 * a RemoteForward (where the server picks the port).
 */
function noExtraArguments(setting: Setting, count: number): void {
  if (setting.args.length > count) throw new ConfigError(`keyword ${setting.name.toLowerCase()} has extra arguments at end of line`);
}

function parseLocalForward(setting: Setting): ForwardSpec {
  if (setting.args.length < 2) {
    throw new ConfigError(`Missing target argument: "${setting.text}" needs two arguments, [bind_address:]port and host:hostport (ssh refuses one)`);
  }
  noExtraArguments(setting, 2);
  const spec = parseForwardDirective(`${setting.args[0]} ${setting.args[1]}`, 'local');
  if (spec.bindPort === 0) throw new ConfigError(`Bad forwarding specification "${setting.text}": listen port 0 is only allowed for RemoteForward`);
  return spec;
}

function parseRemoteForward(setting: Setting): ForwardSpec {
  noExtraArguments(setting, 2);
  return parseForwardDirective(setting.args.join(' '), 'remote');
}

function parseDynamicForward(setting: Setting): DynamicForwardSpec {
  noExtraArguments(setting, 1);
  const spec = parseDynamicSpec(setting.args[0]);
  if (spec.bindPort === 0) throw new ConfigError(`Bad forwarding specification "${setting.text}": listen port 0 is only allowed for RemoteForward`);
  return spec;
}

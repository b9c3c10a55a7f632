/**
 * LocalForward / RemoteForward / DynamicForward from the effective config: every
 * occurrence counts (they accumulate in ssh), duplicates are dropped as ssh does, and
 * forwards we cannot carry out are reported instead of failing the host.
 */
import { formatSource } from './configFile';
import type { EffectiveConfig, Setting } from './configEval';
import { ALL_INTERFACES, UnsupportedForwardError, parseDynamicSpec, parseForwardDirective, sameForward } from './forwardSpec';
import { parseYesNo, withSource } from './optionValues';
import type { DynamicForwardSpec, ForwardSpec, ResolvedHost, UnsupportedOption } from './types';

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

  const localForwards: ForwardSpec[] = parseEach('localforward', (s) => withDefaultBind(parseForwardDirective(s.text, 'local')), sameForward);
  const remoteForwards: ForwardSpec[] = parseEach('remoteforward', (s) => parseForwardDirective(s.text, 'remote'), sameForward);
  const dynamicForwards: DynamicForwardSpec[] = parseEach(
    'dynamicforward',
    (s) => withDefaultBind(parseDynamicSpec(s.text)),
    (a, b) => a.bindAddress === b.bindAddress && a.bindPort === b.bindPort,
  );
  return { localForwards, remoteForwards, dynamicForwards };
}
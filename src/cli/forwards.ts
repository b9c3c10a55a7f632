import { parseDynamicSpec, parseForwardSpec } from '../core/config/forwardSpec';
import type { ResolvedHost } from '../core/config/types';
import type { ForwardRegistry, ForwardRequest } from '../core/forward/registry';
import { KeptRemoteForward } from '../core/forward/keptRemoteForward';
import { RemoteForward } from '../core/forward/remoteForward';
import type { Forward } from '../core/forward/types';
import type { CliArgs } from './args';

/** -L/-R/-D from the command line first, then ssh_config's Local/Remote/DynamicForward, as ssh does. */
export function forwardRequests(args: CliArgs, host: ResolvedHost): { local: ForwardRequest[]; remote: ForwardRequest[] } {
  const reclaimStale = args.reclaimRemoteForwards;
  const local: ForwardRequest[] = [
    ...[...args.localForwards.map(parseForwardSpec), ...host.localForwards].map((spec) => ({ kind: 'local' as const, spec })),
    ...[...args.dynamicForwards.map(parseDynamicSpec), ...host.dynamicForwards].map((spec) => ({ kind: 'dynamic' as const, spec })),
  ];
  const remote: ForwardRequest[] = [...args.remoteForwards.map(parseForwardSpec), ...host.remoteForwards].map((spec) => ({
    kind: 'remote' as const,
    spec,
    reclaimStale,
  }));
  return { local, remote };
}

/** Why a forward did not come up, or undefined when it did (for ExitOnForwardFailure). */
export function forwardFailure(forward: Forward): string | undefined {
  const s = forward.state;
  if (s.kind === 'failed') return `${forward.label}: ${s.reason}`;
  if (forward.kind === 'remote' && s.kind !== 'active') return `${forward.label}: ${'reason' in s ? s.reason : s.kind}`;
  return undefined;
}

/** "Allocated port N for remote forward to host:port", as ssh prints for -R 0:... */
export function announceAllocatedPorts(forward: Forward, print: (line: string) => void): void {
  if (!(forward instanceof RemoteForward || forward instanceof KeptRemoteForward) || forward.spec.bindPort !== 0) return;
  const say = (port: number) => print(`Allocated port ${port} for remote forward to ${forward.spec.host}:${forward.spec.hostPort}`);
  if (forward.port !== undefined) say(forward.port);
  forward.onDidChangeAddress(({ port }) => say(port));
}

export async function addAll(registry: ForwardRegistry, requests: ForwardRequest[]): Promise<Forward[]> {
  const out: Forward[] = [];
  for (const r of requests) out.push(await registry.add(r));
  return out;
}

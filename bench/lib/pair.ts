import { startClient, tools, type Forward, type RunningClient, type Tool } from '../../test/harness/forwardClient';
import type { PathKind, Rig } from './rig';

export type Forwards = Awaited<ReturnType<Rig['forwards']>>;

export interface Pair {
  client(tool: Tool): RunningClient;
  /** The forwards of that tool's client (each tool listens on ports of its own). */
  forwards(tool: Tool): Forwards;
  stop(): Promise<void>;
}

/**
 * One client of each tool over the same path, each with its own local ports: `pick` chooses
 * which of the rig's forwards it runs (the first must be the echo one, which start-up waits on).
 */
export async function startPair(rig: Rig, kind: PathKind, pick: (f: Forwards) => Forward[], extra: string[] = []): Promise<Pair> {
  const path = await rig.path(kind);
  const started = new Map<Tool, { client: RunningClient; fw: Forwards }>();
  const stop = async () => {
    for (const { client } of started.values()) await client.stop();
  };
  try {
    for (const tool of tools) {
      const fw = await rig.forwards();
      started.set(tool, { client: await startClient(tool, path, pick(fw), extra), fw });
    }
  } catch (e) {
    await stop();
    throw e;
  }
  return { client: (tool) => started.get(tool)!.client, forwards: (tool) => started.get(tool)!.fw, stop };
}

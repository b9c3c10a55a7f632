/**
 * A bad line on the natlab's router, for the lossy-link tests and `npm run lossy` (this kernel
 * has no netem, so each condition is built from what it has):
 *
 *   loss         iptables `-m statistic --mode random --probability P -j DROP` at the top of the
 *                router's FORWARD chain: every forwarded packet, both ways, SYNs included.
 *   delay        a userland relay in the router's namespace (delayLine.ts, run by this file as a
 *                script): the client's TCP to the server's port 22 is REDIRECTed to it, and it
 *                passes each chunk on after oneWayMs +- jitterMs, each way, order kept. TCP ends
 *                at the relay, so nothing is lost; the round trip is about 2 x oneWayMs.
 *   bufferbloat  `tc qdisc tbf` on the router's server-side interface (the uplink): rate limit
 *                and a deep queue (`latency`), so an upload fills seconds of queue that every
 *                packet to the server then waits behind.
 *
 * Everything lives in the natlab's namespaces and goes with them on dispose; `remove()` undoes a
 * condition earlier.
 */
import type { Natlab } from './natlab';
import { startDelayLine } from './delayLine';

export type LineCondition =
  { kind: 'loss'; probability: number } | { kind: 'delay'; oneWayMs: number; jitterMs: number } | { kind: 'bufferbloat'; rate: string; queueLatency: string };

export interface LineHandle {
  readonly label: string;
  remove(): Promise<void>;
}

/** The port the delay relay listens on inside the router (the REDIRECT target). */
const relayPort = 2222;

export function lineLabel(c: LineCondition): string {
  switch (c.kind) {
    case 'loss':
      return `loss ${Math.round(c.probability * 100)}%`;
    case 'delay':
      return `delay ${c.oneWayMs}±${c.jitterMs} ms`;
    case 'bufferbloat':
      return `bufferbloat ${c.rate}, queue ${c.queueLatency}`;
  }
}

export async function applyLine(natlab: Natlab, c: LineCondition): Promise<LineHandle> {
  const label = lineLabel(c);
  const must = async (cmd: string, args: string[]) => {
    const r = await natlab.exec(natlab.routerNs, cmd, args, { timeoutMs: 15_000 });
    if (r.code !== 0) throw new Error(`lossyLine: \`${cmd} ${args.join(' ')}\` failed (${r.code}): ${(r.stderr || r.stdout).trim()}`);
  };
  switch (c.kind) {
    case 'loss': {
      const rule = ['FORWARD', '-m', 'statistic', '--mode', 'random', '--probability', String(c.probability), '-j', 'DROP'];
      await must('iptables', ['-w', '-I', ...rule]);
      return { label, remove: () => must('iptables', ['-w', '-D', ...rule]) };
    }
    case 'bufferbloat': {
      // burst: one MTU-sized bucket is too small for 1 mbit on a HZ-ticked kernel; 32 kbit is tc's usual.
      await must('tc', ['qdisc', 'add', 'dev', 'rs', 'root', 'tbf', 'rate', c.rate, 'burst', '32kbit', 'latency', c.queueLatency]);
      return { label, remove: () => must('tc', ['qdisc', 'del', 'dev', 'rs', 'root']) };
    }
    case 'delay': {
      const relay = natlab.spawn(
        natlab.routerNs,
        process.execPath,
        [__filename, natlab.routerClientAddr, String(relayPort), natlab.serverAddr, '22', String(c.oneWayMs), String(c.jitterMs)],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      );
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('lossyLine: the delay relay did not start within 10 s')), 10_000);
        relay.once('exit', (code) => reject(new Error(`lossyLine: the delay relay exited (${code})`)));
        relay.stdout!.once('data', () => {
          clearTimeout(timer);
          resolve();
        });
      });
      const redirect = ['PREROUTING', '-i', 'rc', '-p', 'tcp', '-d', natlab.serverAddr, '--dport', '22', '-j', 'REDIRECT', '--to-ports', String(relayPort)];
      await must('iptables', ['-w', '-t', 'nat', '-I', ...redirect]);
      return {
        label,
        remove: async () => {
          await must('iptables', ['-w', '-t', 'nat', '-D', ...redirect]);
          relay.kill('SIGTERM');
        },
      };
    }
  }
}

/** Run inside the router's namespace: `node lossyLine.js listenHost listenPort targetHost targetPort oneWayMs jitterMs`. */
async function relayMain(argv: string[]): Promise<void> {
  const [listenHost, listenPort, targetHost, targetPort, oneWayMs, jitterMs] = argv;
  await startDelayLine({
    listenHost,
    listenPort: Number(listenPort),
    targetHost,
    targetPort: Number(targetPort),
    oneWayMs: Number(oneWayMs),
    jitterMs: Number(jitterMs),
  });
  process.stdout.write('relay ready\n');
}

if (require.main === module) {
  relayMain(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`${String(err)}\n`);
    process.exit(1);
  });
}

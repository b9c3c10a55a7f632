/**
 * The network under the e2e story: an sshd with a web server beside it, and a NAT between it and
 * VS Code that can forget every flow and go dark for a while (a router reboot).
 *   natlab: a real NAT in network namespaces (root); code-server and Chromium run in the client
 *           namespace, sshd and the web server in the server namespace; reboot = conntrack -F.
 *   flaky:  the userland flaky NAT (a TCP relay on loopback) in front of a loopback sshd.
 */
import { get as httpGet } from 'node:http';
import { startDemoHost } from '../../tools/peers/demoHost';
import { forgetAllFlows } from '../../tools/peers/flakyNat';
import { setupLab } from '../../tools/peers/natlabSshd';
import { freePort } from '../../tools/peers/sshd';

export interface GetResult {
  ok: boolean;
  ms: number;
  body: string;
  error?: string;
}

export interface StoryNet {
  readonly mode: 'natlab' | 'flaky';
  readonly alias: string;
  readonly configFile: string;
  /** The web server's port on the server's loopback (a forward's target). */
  readonly webPort: number;
  /** A free port on the client side for the local forward. */
  readonly localPort: number;
  /** code-server and Chromium run here (natlab), else on the host. */
  readonly clientNs?: string;
  readonly description: string;
  /** GET http://127.0.0.1:port/ from the client side, on a fresh connection. */
  get(port: number, timeoutMs: number): Promise<GetResult>;
  /** The NAT forgets every flow and stays down (rebooting) until heal(). */
  rebootAndHold(): Promise<void>;
  heal(): Promise<void>;
  stop(): Promise<void>;
}

const webBody = 'hello from the far side of the tunnel';
const natIdleSec = 8;

function hostGet(port: number, timeoutMs: number): Promise<GetResult> {
  const started = Date.now();
  return new Promise((resolve) => {
    const req = httpGet({ host: '127.0.0.1', port, path: '/', agent: false, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ ok: body.includes(webBody), ms: Date.now() - started, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (err) => resolve({ ok: false, ms: Date.now() - started, body: '', error: err.message }));
  });
}

export async function startFlakyNet(alias: string): Promise<StoryNet> {
  const host = await startDemoHost(alias, natIdleSec * 1000);
  return {
    mode: 'flaky',
    alias,
    configFile: host.configFile,
    webPort: host.webPort,
    localPort: await freePort(),
    description: `userland flaky NAT on 127.0.0.1:${host.nat.port} (forgets a flow after ${natIdleSec} s idle) -> sshd 127.0.0.1:${host.sshd.port}`,
    get: hostGet,
    async rebootAndHold() {
      host.nat.blackhole();
      await forgetAllFlows(host.nat, natIdleSec * 1000);
    },
    async heal() {
      host.nat.resume();
    },
    stop: () => host.stop(),
  };
}

export async function startNatlabNet(alias: string): Promise<StoryNet> {
  const webPort = 8765;
  const setup = await setupLab(natIdleSec, { alias, httpBody: `${webBody}\n`, httpPort: webPort });
  const { natlab: lab, sshd } = setup;
  return {
    mode: 'natlab',
    alias,
    configFile: sshd.sshConfigPath,
    webPort,
    localPort: 18080,
    clientNs: lab.clientNs,
    description: `natlab: ${lab.clientNs} (${lab.clientAddr}) -> NAT ${lab.routerNs} (conntrack timeout ${natIdleSec} s) -> ${lab.serverNs} sshd ${lab.serverAddr}:${sshd.port}`,
    async get(port, timeoutMs) {
      const started = Date.now();
      const r = await lab.exec(lab.clientNs, 'curl', ['-sS', '--max-time', String(Math.ceil(timeoutMs / 1000)), `http://127.0.0.1:${port}/`], {
        timeoutMs: timeoutMs + 2000,
      });
      return {
        ok: r.stdout.includes(webBody),
        ms: Date.now() - started,
        body: r.stdout,
        ...(r.code === 0 ? {} : { error: r.stderr.trim() || `curl exit ${r.code}` }),
      };
    },
    async rebootAndHold() {
      await lab.outage();
      await lab.reboot();
    },
    heal: () => lab.heal(),
    stop: () => setup.dispose(),
  };
}

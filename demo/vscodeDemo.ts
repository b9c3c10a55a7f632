/**
 * npm run demo — SSH Keepalive in a real VS Code (code-server) in your browser, against a
 * throwaway OpenSSH sshd on loopback behind a userland "flaky NAT" that forgets flows idle for
 * 20 s. The packaged .vsix is installed into a demo profile whose settings point at a generated
 * ssh_config and connect host "demo" at start. The palette has one extra command here only:
 * "SSH Keepalive: Simulate NAT Drop". Runs until Ctrl-C, which stops everything it started.
 */
import { join } from 'node:path';
import { ensureCodeServer, installVsix, makeProfile, startCodeServer } from '../tools/peers/codeServer';
import { startDemoHost } from '../tools/peers/demoHost';
import { forgetAllFlows } from '../tools/peers/flakyNat';
import { defaultVsix } from '../tools/peers/repo';
import { freePort, sshdAvailability } from '../tools/peers/sshd';
import { startControlServer } from './controlServer';

const alias = 'demo';
const natIdleMs = 20_000;
const t0 = Date.now();
const say = (m: string) => console.log(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(5)} s] ${m}`);

/** What was started, stopped in reverse order exactly once (Ctrl-C, an error, or the end). */
const cleanups: (() => Promise<void> | void)[] = [];
let stopping: Promise<void> | undefined;
function stopAll(): Promise<void> {
  stopping ??= (async () => {
    for (const c of cleanups.splice(0).reverse()) {
      try {
        await c();
      } catch (err) {
        console.error(`cleanup failed: ${(err as Error).message}`);
      }
    }
  })();
  return stopping;
}

const readme = (configFile: string) => `# SSH Keepalive demo

Host \`${alias}\` is a real OpenSSH sshd on this machine, reached through a userland "flaky NAT"
that forgets a TCP flow after ${natIdleMs / 1000} s without packets, as home routers and cloud NAT
gateways do (after minutes). Its ssh_config: \`${configFile}\`.

1. The status bar shows \`${alias} NN ms\`: connected, with the round trip of the last keepalive.
   Keepalives every 5 s keep the NAT entry fresh, so it stays connected however long you idle.
2. F1 -> **SSH Keepalive: Open Remote Terminal** -> \`${alias}\`. Type \`export V=$RANDOM; echo $V\`.
3. F1 -> **SSH Keepalive: Forward a Port...** -> \`${alias}\` -> Local -> e.g. \`8099:127.0.0.1:PORT\`
   (the port of the demo web server is printed by \`npm run demo\`); open http://127.0.0.1:8099/.
4. F1 -> **SSH Keepalive: Simulate NAT Drop**: the NAT forgets every flow and drops its packets
   silently. Type in the terminal: within about a second the status bar spins, the session
   reconnects, the terminal reattaches to its tmux session (\`echo $V\` still works) and the
   forward serves again.
`;

async function main(): Promise<number> {
  const avail = sshdAvailability();
  if (!avail.ok) {
    console.error(`The demo needs OpenSSH's sshd: ${avail.reason}\nInstall it with: sudo apt-get install openssh-server`);
    return 1;
  }
  say('checking code-server (installed once into .vscode-test/, then cached)...');
  ensureCodeServer();

  const host = await startDemoHost(alias, natIdleMs);
  cleanups.push(() => host.stop());
  say(`sshd on 127.0.0.1:${host.sshd.port}; flaky NAT on 127.0.0.1:${host.nat.port} (forgets a flow after ${natIdleMs / 1000} s of silence)`);
  say(`web server on the "remote" side: 127.0.0.1:${host.webPort} (forward a local port to it)`);

  const control = await startControlServer(async () => {
    const flows = host.nat.connections();
    await forgetAllFlows(host.nat, natIdleMs);
    say(`Simulate NAT Drop: the flaky NAT forgot ${flows} flow(s); their packets are now dropped silently`);
    return `the NAT forgot ${flows} flow(s)`;
  });
  cleanups.push(() => control.close());

  const profile = makeProfile(
    'sshka-demo-',
    {
      'sshKeepalive.configFile': host.configFile,
      'sshKeepalive.autoConnect': [alias],
      'sshKeepalive.keepaliveInterval': 5,
      'sshKeepalive.keepaliveCountMax': 2,
    },
    readme(host.configFile),
  );
  cleanups.push(() => profile.remove());
  say(`installing ${defaultVsix} into the demo profile ${profile.root}`);
  installVsix(profile, defaultVsix);

  const server = await startCodeServer({
    profile,
    port: await freePort(),
    env: { SSHKA_DEMO_CONTROL: control.natDropUrl },
    logFile: join(profile.root, 'code-server.log'),
  });
  cleanups.push(() => server.stop());
  say('code-server is up. Open this address in your browser:');
  console.log(`\n    ${server.url}\n`);
  say('Then: watch the status bar, open a remote terminal (F1, "SSH Keepalive: Open Remote Terminal"),');
  say('and run "SSH Keepalive: Simulate NAT Drop". The workspace README says more. Ctrl-C stops the demo.');
  await new Promise<never>(() => undefined);
  return 0;
}

let signalled = 0;
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(sig, () => {
    if (signalled++ > 0) process.exit(130); // a second Ctrl-C: do not wait
    say(`${sig}: stopping code-server, the NAT and sshd...`);
    void stopAll().then(() => {
      say('stopped.');
      process.exit(sig === 'SIGINT' ? 130 : 143);
    });
  });
}

void main().then(
  async (code) => {
    await stopAll();
    process.exit(code);
  },
  async (err) => {
    console.error(`demo failed: ${(err as Error).message}`);
    await stopAll();
    process.exit(1);
  },
);

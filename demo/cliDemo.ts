/**
 * npm run demo:cli — watch ssh-keepalive survive a NAT on your own machine, no root needed.
 * Starts a throwaway OpenSSH sshd on loopback (generated keys and ssh_config in a temp
 * folder; your ~/.ssh is never touched), puts a userland "flaky NAT" in front of it (a TCP
 * relay that forgets a flow after a few idle seconds and then silently drops its packets),
 * runs ssh-keepalive with a local forward through it, and breaks the path twice.
 */
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { startDemoHost } from '../tools/peers/demoHost';
import { forgetAllFlows } from '../tools/peers/flakyNat';
import { cliPath } from '../tools/peers/repo';
import { sshdAvailability } from '../tools/peers/sshd';

const natIdleMs = 6000;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const t0 = Date.now();
const stamp = () => `[${((Date.now() - t0) / 1000).toFixed(1).padStart(5)} s]`;
const say = (m: string) => console.log(`${stamp()} ${m}`);

/** One GET on a fresh connection (no keep-alive), as a new browser tab would open. */
function fetchVia(port: number, timeoutMs: number): Promise<{ ok: boolean; ms: number; error?: string }> {
  const started = Date.now();
  return new Promise((resolve) => {
    const req = httpGet({ host: '127.0.0.1', port, path: '/', agent: false, timeout: timeoutMs }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d));
      res.on('end', () => resolve({ ok: body.includes('hello'), ms: Date.now() - started }));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (err) => resolve({ ok: false, ms: Date.now() - started, error: err.message }));
  });
}

async function main(): Promise<number> {
  const avail = sshdAvailability();
  if (!avail.ok) {
    console.error(`The demo needs OpenSSH's sshd: ${avail.reason}\nInstall it with: sudo apt-get install openssh-server`);
    return 1;
  }
  const demo = await startDemoHost('demo', natIdleMs);
  const { sshd, nat, webPort } = demo;
  // Keepalives every 3 s keep the flaky NAT (6 s) from forgetting the idle flow.
  const cfg = join(sshd.dir, 'demo_cli_ssh_config');
  writeFileSync(cfg, `${readFileSync(demo.configFile, 'utf8')}  ServerAliveInterval 3\n  ServerAliveCountMax 3\n`);
  const localPort = 18000 + Math.floor(Math.random() * 1000);
  say(`sshd on 127.0.0.1:${sshd.port}, flaky NAT on 127.0.0.1:${nat.port} (forgets a flow after ${natIdleMs / 1000} s of silence)`);
  say(`running: ssh-keepalive -F ${cfg} -N -L ${localPort}:127.0.0.1:${webPort} --events demo`);
  const cli = spawn(process.execPath, [cliPath, '-F', cfg, '-N', '-L', `${localPort}:127.0.0.1:${webPort}`, '--events', 'demo'], {
    stdio: ['ignore', 'inherit', 'pipe'],
  });
  let connected: () => void;
  const firstConnect = new Promise<void>((r) => (connected = r));
  createInterface({ input: cli.stderr }).on('line', (line) => {
    try {
      const e = JSON.parse(line) as Record<string, unknown>;
      if (e.event === 'forward') return;
      const { event, host: _h, time: _t, ...rest } = e;
      say(
        `  event ${String(event).padEnd(10)} ${Object.entries(rest)
          .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
          .join(' ')}`,
      );
      if (event === 'connected') connected();
    } catch {
      say(`  ${line}`);
    }
  });
  const cleanup = async () => {
    cli.kill('SIGTERM');
    await demo.stop();
  };
  try {
    await Promise.race([firstConnect, sleep(15_000).then(() => Promise.reject(new Error('ssh-keepalive did not connect')))]);
    let r = await fetchVia(localPort, 5000);
    say(`GET through the forward: ${r.ok ? `ok in ${r.ms} ms` : `FAILED (${r.error})`}`);

    say(`idling ${(natIdleMs * 2) / 1000} s, twice the NAT's idle timeout: keepalives keep the flow alive...`);
    await sleep(natIdleMs * 2);
    r = await fetchVia(localPort, 5000);
    say(`GET after idling: ${r.ok ? `ok in ${r.ms} ms` : `FAILED (${r.error})`}`);

    say('the NAT reboots: it forgets every flow and silently drops their packets');
    await forgetAllFlows(nat, natIdleMs);
    r = await fetchVia(localPort, 15_000);
    say(`GET right after the reboot: ${r.ok ? `ok in ${r.ms} ms (dead path found by a demand probe, reconnected)` : `FAILED (${r.error})`}`);

    say('the path goes dark for 15 s (an outage)...');
    nat.blackhole();
    await sleep(15_000);
    nat.resume();
    say('the path is back');
    r = await fetchVia(localPort, 15_000);
    say(`GET after the outage: ${r.ok ? `ok in ${r.ms} ms` : `FAILED (${r.error})`}`);
    say(r.ok ? 'demo finished: every request got through.' : 'demo finished with a failure (see above).');
    return r.ok ? 0 : 1;
  } finally {
    await cleanup();
  }
}

void main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(`demo failed: ${(err as Error).message}`);
    process.exit(1);
  },
);

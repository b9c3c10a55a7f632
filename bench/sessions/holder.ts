/**
 * Child of bench/figures/sessions.ts: one node process holding N core Sessions to the same
 * host, as the extension host holds one per connected host (ssh2 loaded once). Prints one JSON
 * line {rss1, rssN} (KiB) once session 1, then all N, are connected and settled.
 * Usage: node holder.js <ssh_config> <alias> <N>
 */
import { readFileSync } from 'node:fs';
import { nullLogger } from '../../src/core/base/logger';
import { resolveHost } from '../../src/core/config/sshConfig';
import { noPrompter } from '../../src/core/session/prompter';
import { Session, sessionOptionsFor } from '../../src/core/session/session';
import { eventWithin, sleep } from '../../test/harness/bounded';

const rssKiB = () => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))![1]);

async function connected(configFile: string, alias: string): Promise<Session> {
  const host = resolveHost(alias, { configFile, env: { SSH_AUTH_SOCK: undefined } });
  const session = new Session(host, sessionOptionsFor(host, {}), { prompter: noPrompter, logger: nullLogger });
  const up = eventWithin(session.onDidChangeState, (s) => s.kind === 'connected', 20_000, `session to ${alias}`);
  void session.start();
  await up;
  return session;
}

async function settledRss(): Promise<number> {
  await sleep(1500);
  global.gc?.();
  await sleep(200);
  return rssKiB();
}

async function main(): Promise<void> {
  const [configFile, alias, n] = process.argv.slice(2);
  const sessions = [await connected(configFile, alias)];
  const rss1 = await settledRss();
  // One at a time: sshd's MaxStartups drops handshakes beyond 10 at once.
  while (sessions.length < Number(n)) sessions.push(await connected(configFile, alias));
  const rssN = await settledRss();
  process.stdout.write(`${JSON.stringify({ rss1, rssN })}\n`);
  for (const s of sessions) s.dispose();
  process.exit(0);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});

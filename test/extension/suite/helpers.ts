// Shared by the extension suites (not a *.test.js file, so index.ts does not load it as one).
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import type { SshKeepaliveApi, SshKeepaliveTestApi } from '../../../src/vscode/testApi';
import { extensionId } from '../../../tools/peers/repo';
import { startPeers, type Peers } from '../startPeers';

export const EXTENSION_ID = extensionId;

export async function testApi(): Promise<SshKeepaliveTestApi> {
  const ext = vscode.extensions.getExtension<SshKeepaliveApi>(EXTENSION_ID);
  assert.ok(ext, `extension ${EXTENSION_ID} not found`);
  const api = await ext.activate();
  assert.ok(api.testing, 'activate() returned no test API: is the extension running in ExtensionMode.Test?');
  return api.testing;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls until `fn` returns something truthy; fails with `what` (and the last value) on timeout. */
export async function waitFor<T>(what: string, fn: () => T | undefined | null | false | Promise<T | undefined | null | false>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
      last = v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
    await sleep(100);
  }
}

export async function setSetting(key: string, value: unknown): Promise<void> {
  await vscode.workspace.getConfiguration('sshKeepalive').update(key, value, vscode.ConfigurationTarget.Global);
}

/**
 * Starts the peers (once) and points the extension at their ssh_config through the
 * setting, as a user would; the extension picks it up without a reload.
 */
export async function usePeers(): Promise<{ peers: Peers; api: SshKeepaliveTestApi }> {
  const api = await testApi();
  const peers = await startPeers();
  if (vscode.workspace.getConfiguration('sshKeepalive').get('configFile') !== peers.configFile) {
    await setSetting('configFile', peers.configFile);
  }
  await waitFor('the Hosts view to list the test hosts', () => api.tree().some((n) => n.label === 'lab'));
  return { peers, api };
}

export function statusItem(api: SshKeepaliveTestApi, alias: string) {
  return api.statusBarItems().find((i) => i.id === `sshKeepalive.status.${alias}`);
}

export async function waitForState(api: SshKeepaliveTestApi, alias: string, kind: string, timeoutMs = 20_000): Promise<void> {
  await waitFor(`${alias} to be ${kind}`, () => api.hostState(alias)?.kind === kind, timeoutMs);
}

export async function disconnect(alias: string): Promise<void> {
  await vscode.commands.executeCommand('sshKeepalive.disconnect', alias);
}

/** Pids of the keepers on the test server (their state files in the sessions' HOME, see tools/peers/sshd.ts). */
export function keeperPids(serverDir: string): number[] {
  const dir = path.join(serverDir, 'home', '.cache', 'ssh-keepalive');
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((n) => n.endsWith('.json'))
    .map((n) => Number((JSON.parse(fs.readFileSync(path.join(dir, n), 'utf8')) as { pid?: number }).pid))
    .filter((p) => Number.isInteger(p) && p > 0);
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export interface ModalQuestion {
  message: string;
  detail: string;
  buttons: string[];
}

/**
 * Answers the extension's modal warnings with `answer` (undefined: Cancel) until restore(),
 * recording what was asked: a modal dialog cannot be answered through the API.
 */
export function answerModal(api: SshKeepaliveTestApi, answer: string | undefined): { asked: ModalQuestion[]; restore(): void } {
  const asked: ModalQuestion[] = [];
  api.setPromptUi({
    modalWarning: (message, detail, ...buttons) => {
      asked.push({ message, detail, buttons });
      return Promise.resolve(answer);
    },
  });
  return { asked, restore: () => api.setPromptUi(undefined) };
}

/** GET http://<address>/ once (10 s deadline): a person's request through a forward. */
export async function fetchText(address: string): Promise<string> {
  const res = await fetch(`http://${address}/`, { signal: AbortSignal.timeout(10_000) });
  return res.text();
}

import * as http from 'node:http';
import * as vscode from 'vscode';
import { CommandId, ContextKey } from './commandIds';
import { registerCommand, type CommandContext } from './commandContext';

/**
 * `npm run demo` starts code-server with this variable set to its control endpoint; the
 * extension host inherits it. Anywhere else it is unset and the demo command is inert.
 */
export const DemoControlEnv = 'SSHKA_DEMO_CONTROL';

/** Only a loopback http URL is accepted: the command must never talk to another machine. */
function controlUrl(raw: string | undefined): URL | undefined {
  if (!raw) return undefined;
  try {
    const url = new URL(raw);
    return url.protocol === 'http:' && (url.hostname === '127.0.0.1' || url.hostname === 'localhost') ? url : undefined;
  } catch {
    return undefined;
  }
}

function post(url: URL, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => (res.statusCode === 200 ? resolve(body.trim()) : reject(new Error(`HTTP ${res.statusCode}: ${body.trim()}`))));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

/**
 * The demo-only "Simulate NAT Drop" command. It is registered always (every contributed command
 * must be, and the extension tests check it), but outside the demo profile it is hidden from the
 * palette and disabled (its context key stays unset) and does nothing but say so.
 */
export function registerDemoCommands(ctx: CommandContext): vscode.Disposable[] {
  const raw = process.env[DemoControlEnv];
  const url = controlUrl(raw);
  if (url) void vscode.commands.executeCommand('setContext', ContextKey.demoMode, true);
  else if (raw) ctx.logger.warn(`${DemoControlEnv} is not a loopback http URL; the demo commands stay off`);
  return [
    registerCommand(ctx, CommandId.simulateNatDrop, async () => {
      if (!url) {
        void vscode.window.showInformationMessage('SSH Keepalive: "Simulate NAT Drop" exists only in the `npm run demo` window.');
        return;
      }
      const answer = await post(url, 5000);
      ctx.logger.info(`demo: ${answer || 'the NAT forgot every flow'}`);
      void vscode.window.showInformationMessage(
        'SSH Keepalive demo: the NAT forgot every flow and now drops their packets silently. Watch the status bar; type in the terminal to have it noticed at once.',
      );
    }),
  ];
}

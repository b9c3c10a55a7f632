import * as vscode from 'vscode';
import { TerminalProfileId } from './commandIds';
import type { CommandContext } from './commandContext';
import { pickConfiguredHost } from './pickers';

/**
 * "SSH Keepalive: Remote Host" in the terminal dropdown: asks for a host, connects it if
 * needed, and hands VS Code a pty over a remote shell.
 */
export function registerTerminalProfile(ctx: CommandContext): vscode.Disposable {
  return vscode.window.registerTerminalProfileProvider(TerminalProfileId, {
    async provideTerminalProfile(token) {
      let configured;
      try {
        configured = ctx.hosts.configuredHosts();
      } catch (err) {
        ctx.errors.unexpected('reading ssh_config', err);
        return undefined;
      }
      const alias = await pickConfiguredHost(ctx.hosts, configured, 'Host to open a terminal on');
      if (!alias || token.isCancellationRequested) return undefined;
      try {
        const host = ctx.hosts.connect(alias);
        return new vscode.TerminalProfile({ name: alias, pty: ctx.terminals.createPty(host), iconPath: new vscode.ThemeIcon('remote') });
      } catch (err) {
        ctx.errors.unexpected(`connecting to ${alias}`, err);
        return undefined;
      }
    },
  });
}

import * as fs from 'node:fs';
import * as vscode from 'vscode';
import { CommandId } from './commandIds';
import { aliasFrom, registerCommand, type CommandContext } from './commandContext';
import { openFileAt } from './errorReporter';
import { disconnectButton, disconnectQuestion, keepShellsButton, leftRunningNote } from './disconnectText';
import type { HostSession } from './hostSession';
import { pickConfiguredHost, pickSession } from './pickers';

/** Resolves the alias from the argument, or asks with a host picker. */
async function hostArg(ctx: CommandContext, arg: unknown, placeHolder: string): Promise<string | undefined> {
  return aliasFrom(arg) ?? pickConfiguredHost(ctx.hosts, ctx.hosts.configuredHosts(), placeHolder);
}

function liveSessions(ctx: CommandContext): HostSession[] {
  return ctx.hosts.list().filter((h) => !h.isClosed);
}

/**
 * How long a command waits for a connection. Generous, since prompts (host key, passphrase)
 * are answered within it; after that the session goes on trying and the status bar shows it.
 */
const connectWaitMs = 120_000;

/**
 * Starts, joins or (after a fatal failure) retries a host's session. Resolves true once
 * connected; false on a fatal failure (already reported) or when it takes too long.
 */
export async function connectHost(ctx: CommandContext, alias: string): Promise<boolean> {
  const host = ctx.hosts.connect(alias);
  if (host.session.state.kind === 'connected') return true;
  const result = await vscode.window.withProgress({ location: vscode.ProgressLocation.Window, title: `Connecting to ${alias}` }, () =>
    host.whenSettled(connectWaitMs),
  );
  return result === 'connected';
}

export function registerSessionCommands(ctx: CommandContext): vscode.Disposable[] {
  return [
    registerCommand(ctx, CommandId.connect, async (arg?: unknown) => {
      const alias = await hostArg(ctx, arg, 'Host to connect to (from your ssh_config), or type an alias');
      if (!alias) return false;
      return connectHost(ctx, alias);
    }),

    registerCommand(ctx, CommandId.disconnect, async (arg?: unknown) => {
      const alias = aliasFrom(arg) ?? (await pickSession(liveSessions(ctx), 'Host to disconnect', 'All Hosts'));
      if (!alias) return false;
      const aliases = alias === 'all' ? liveSessions(ctx).map((h) => h.alias) : [alias];
      // The user's running shells end with a Disconnect: ask first, and offer to keep them.
      const keeping = aliases.flatMap((a) => ctx.terminals.forHost(a).map(({ pty }) => pty.keeping));
      const question = disconnectQuestion(aliases, keeping);
      let keepShells = false;
      if (question) {
        const choice = await ctx.promptUi().modalWarning(question.message, question.detail, ...question.buttons);
        if (choice !== disconnectButton && choice !== keepShellsButton) return false;
        keepShells = choice === keepShellsButton;
      }
      for (const a of aliases) {
        // During an outage nothing on the server can be ended: say what may be left and how to end it.
        const unreachable = ctx.hosts.get(a)?.session.state.kind !== 'connected';
        const note =
          !keepShells &&
          unreachable &&
          leftRunningNote(
            a,
            ctx.terminals.forHost(a).map(({ pty }) => ({ keeping: pty.keeping, tmuxSession: pty.tmuxSession })),
            ctx.settings.current.keeperIdleHours,
          );
        if (note) {
          ctx.logger.warn(`[${a}] ${note}`);
          void vscode.window.showWarningMessage(`SSH Keepalive: ${note}`);
        }
        // Terminals first: their tmux sessions are ended while the connection still exists.
        await ctx.terminals.closeHost(a, keepShells);
        // Then the session keeper, with whatever it still runs for this machine (kept when asked).
        if (keepShells) ctx.logger.info(`[${a}] disconnected; the shells stay on the server (tmux or the session keeper)`);
        else await ctx.hosts.get(a)?.shutdownKeeper();
        ctx.hosts.disconnect(a);
        ctx.logger.info(`[${a}] disconnected by the user`);
      }
      return true;
    }),

    registerCommand(ctx, CommandId.reconnect, async (arg?: unknown) => {
      let alias: string | undefined = aliasFrom(arg); // or 'all'
      if (!alias) {
        const live = ctx.hosts.list();
        alias = live.length === 0 ? await hostArg(ctx, undefined, 'Host to connect to') : await pickSession(live, 'Host to reconnect', 'All Hosts');
      }
      if (!alias) return false;
      if (alias === 'all') {
        await ctx.hosts.reconnect().catch(() => undefined);
        return ctx.hosts.list().every((h) => h.session.state.kind === 'connected');
      }
      if (!ctx.hosts.get(alias)) return connectHost(ctx, alias);
      return vscode.window.withProgress({ location: vscode.ProgressLocation.Window, title: `Reconnecting to ${alias}` }, () =>
        ctx.hosts.reconnect(alias).then(
          () => true,
          () => false,
        ),
      );
    }),

    // For hosts that lock accounts or need a second factor: a person stops every attempt
    // on the host until they say so (Resume, or Reconnect).
    registerCommand(ctx, CommandId.pauseReconnecting, async (arg?: unknown) => {
      const alias = aliasFrom(arg) ?? (await pickSession(liveSessions(ctx), 'Host to stop reconnecting to'));
      const host = alias && alias !== 'all' ? ctx.hosts.get(alias) : undefined;
      if (!host) return false;
      host.session.pauseReconnecting();
      return true;
    }),

    registerCommand(ctx, CommandId.resumeReconnecting, async (arg?: unknown) => {
      const alias = aliasFrom(arg) ?? (await pickSession(liveSessions(ctx), 'Host to reconnect to again'));
      const host = alias && alias !== 'all' ? ctx.hosts.get(alias) : undefined;
      if (!host) return false;
      return vscode.window.withProgress({ location: vscode.ProgressLocation.Window, title: `Reconnecting to ${host.alias}` }, () =>
        host.session.resumeReconnecting().then(
          () => true,
          () => false,
        ),
      );
    }),

    registerCommand(ctx, CommandId.openTerminal, async (arg?: unknown) => {
      const alias = await hostArg(ctx, arg, 'Host to open a terminal on');
      if (!alias) return undefined;
      const host = ctx.hosts.connect(alias);
      return ctx.terminals.open(host);
    }),

    registerCommand(ctx, CommandId.focusTerminal, (arg?: unknown, index?: unknown) => {
      const alias = aliasFrom(arg);
      if (!alias) return;
      const entry = ctx.terminals.forHost(alias)[typeof index === 'number' ? index : 0];
      entry?.terminal?.show();
    }),

    registerCommand(ctx, CommandId.hostActions, async (arg?: unknown) => {
      const alias = aliasFrom(arg) ?? (await pickSession(liveSessions(ctx), 'Host'));
      if (!alias || alias === 'all') return;
      const host = ctx.hosts.get(alias);
      const hasForwards = (host?.forwards.list().length ?? 0) > 0;
      type Item = vscode.QuickPickItem & { run: () => Thenable<unknown> };
      const cmd =
        (id: CommandId, ...args: unknown[]) =>
        () =>
          vscode.commands.executeCommand(id, ...args);
      const items: Item[] = [
        { label: '$(refresh) Reconnect', description: 'drop the connection and connect afresh', run: cmd(CommandId.reconnect, alias) },
        { label: '$(terminal) Open Remote Terminal', run: cmd(CommandId.openTerminal, alias) },
        { label: '$(plus) Forward a Port...', run: cmd(CommandId.addForward, alias) },
        ...(hasForwards
          ? [
              { label: '$(copy) Copy Forwarded Address...', run: cmd(CommandId.copyForwardAddress, { alias }) },
              { label: '$(close) Stop Forwarding...', run: cmd(CommandId.stopForward, { alias }) },
            ]
          : []),
        host?.session.isPaused
          ? { label: '$(debug-continue) Resume Reconnecting', run: cmd(CommandId.resumeReconnecting, alias) }
          : {
              label: '$(debug-pause) Pause Reconnecting',
              description: 'no more attempts on this host until resumed',
              run: cmd(CommandId.pauseReconnecting, alias),
            },
        { label: '$(debug-disconnect) Disconnect', run: cmd(CommandId.disconnect, alias) },
        { label: '$(output) Show Log', run: cmd(CommandId.showLog) },
      ];
      const pick = await vscode.window.showQuickPick(items, { title: `SSH Keepalive: ${alias}`, placeHolder: host ? host.target : alias });
      await pick?.run();
    }),

    registerCommand(ctx, CommandId.showLog, () => {
      ctx.log.show(true);
      return true; // answered to executeCommand: a handler that failed answers undefined
    }),

    registerCommand(ctx, CommandId.openConfig, async () => {
      const file = ctx.configFilePath();
      if (fs.existsSync(file)) await openFileAt(file);
      // A missing config opens as a new file at that path: saving creates it.
      else await vscode.window.showTextDocument(vscode.Uri.file(file).with({ scheme: 'untitled' }));
    }),

    registerCommand(ctx, CommandId.refresh, () => ctx.tree.reloadConfig()),
  ];
}

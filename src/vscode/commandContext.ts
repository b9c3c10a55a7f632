import * as vscode from 'vscode';
import type { Logger } from '../core/base/logger';
import { ConfigError } from '../core/config/types';
import type { CommandId } from './commandIds';
import type { ErrorReporter } from './errorReporter';
import type { HostManager } from './hostManager';
import type { HostsTree } from './hostsTree';
import type { PromptUi } from './prompter';
import type { Settings } from './settings';
import type { Terminals } from './terminals';

/** What command handlers need; built once by the container. */
export interface CommandContext {
  hosts: HostManager;
  terminals: Terminals;
  tree: HostsTree;
  settings: Settings;
  errors: ErrorReporter;
  logger: Logger;
  log: vscode.LogOutputChannel;
  configFilePath(): string;
  /** The window calls for modal questions (tests replace them through setPromptUi). */
  promptUi(): PromptUi;
}

/**
 * Commands are called from the palette (no argument), the status bar (an alias), the
 * tree (its node) and tests or other extensions (an alias or an object with `alias`).
 */
export function aliasFrom(arg: unknown): string | undefined {
  if (typeof arg === 'string' && arg.trim() !== '') return arg.trim();
  if (arg && typeof arg === 'object' && 'alias' in arg && typeof arg.alias === 'string') return (arg as { alias: string }).alias;
  return undefined;
}

/** Registers a command whose failures are reported, never thrown into the void. */
export function registerCommand<A extends unknown[], R>(ctx: CommandContext, id: CommandId, handler: (...args: A) => Promise<R> | R): vscode.Disposable {
  return vscode.commands.registerCommand(id, async (...args: unknown[]) => {
    try {
      return await handler(...(args as A));
    } catch (err) {
      if (err instanceof ConfigError) ctx.errors.configError(err, aliasFrom(args[0]));
      else ctx.errors.unexpected(id, err);
      return undefined;
    }
  });
}

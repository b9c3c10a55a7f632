import * as vscode from 'vscode';
import type { Forward } from '../core/forward/types';
import { CommandId } from './commandIds';
import { aliasFrom, registerCommand, type CommandContext } from './commandContext';
import { forwardExamples, forwardPrompts, parseForwardInput, validateForwardInput, type ForwardKind } from './forwardInput';
import { pickConfiguredHost, pickForward } from './pickers';

/** What the forward commands return (tests and other callers read it). */
export interface ForwardInfo {
  alias: string;
  id: string;
  label: string;
  kind: ForwardKind;
  address: string | undefined;
  state: string;
  reason?: string;
}

export function forwardInfo(alias: string, f: Forward): ForwardInfo {
  return { alias, id: f.id, label: f.label, kind: f.kind, address: f.address, state: f.state.kind, ...('reason' in f.state ? { reason: f.state.reason } : {}) };
}

interface ForwardArg {
  alias?: string;
  kind?: ForwardKind;
  spec?: string;
  id?: string;
  forward?: Forward;
}

const forwardKinds: readonly unknown[] = ['local', 'remote', 'dynamic'];

/** Tree nodes carry `kind: 'host' | 'forward' | ...`: only a forward kind counts as one. */
function asForwardArg(arg: unknown): ForwardArg {
  if (!arg || typeof arg !== 'object') return {};
  const a = arg as ForwardArg & { kind?: unknown };
  return { ...a, kind: forwardKinds.includes(a.kind) ? a.kind : undefined };
}

const severities = { error: vscode.InputBoxValidationSeverity.Error, warning: vscode.InputBoxValidationSeverity.Warning };

async function pickKind(): Promise<ForwardKind | undefined> {
  type Item = vscode.QuickPickItem & { forwardKind: ForwardKind };
  const items: Item[] = [
    {
      forwardKind: 'local',
      label: '$(arrow-right) Local',
      description: 'ssh -L',
      detail: 'A port on this machine that reaches a host and port as seen from the server',
    },
    {
      forwardKind: 'remote',
      label: '$(arrow-left) Remote',
      description: 'ssh -R',
      detail: 'A port on the server that reaches a host and port as seen from this machine',
    },
    { forwardKind: 'dynamic', label: '$(globe) Dynamic (SOCKS)', description: 'ssh -D', detail: 'A local SOCKS proxy whose connections leave from the server' },
  ];
  const pick = await vscode.window.showQuickPick(items, { title: 'SSH Keepalive: Forward a Port', placeHolder: 'Kind of forward' });
  return pick?.forwardKind;
}

export function registerForwardCommands(ctx: CommandContext): vscode.Disposable[] {
  return [
    registerCommand(ctx, CommandId.addForward, async (arg?: unknown, kindArg?: unknown, specArg?: unknown): Promise<ForwardInfo | undefined> => {
      const a = typeof arg === 'string' ? { alias: arg, kind: kindArg as ForwardKind | undefined, spec: specArg as string | undefined } : asForwardArg(arg);
      const alias = aliasFrom(a) ?? (await pickConfiguredHost(ctx.hosts, ctx.hosts.configuredHosts(), 'Host to forward through'));
      if (!alias) return undefined;
      const kind = a.kind ?? (await pickKind());
      if (!kind) return undefined;
      const text =
        a.spec ??
        (await vscode.window.showInputBox({
          title: `SSH Keepalive: ${kind} forward through ${alias}`,
          prompt: forwardPrompts[kind],
          placeHolder: forwardExamples[kind],
          ignoreFocusOut: true,
          validateInput: (value) => {
            const problem = validateForwardInput(kind, value);
            return problem ? { message: problem.message, severity: severities[problem.severity] } : undefined;
          },
        }));
      if (text === undefined) return undefined;
      // Typed input was validated by the box; an argument from a caller may still be wrong.
      const problem = validateForwardInput(kind, text);
      if (problem?.severity === 'error') {
        ctx.errors.invalidInput(`invalid ${kind} forward "${text}": ${problem.message}`);
        return undefined;
      }
      const request = parseForwardInput(kind, text);
      const forward = await ctx.hosts.addUserForward(alias, request);
      if (forward.state.kind === 'failed') {
        // The forward failed, not the session: say why on the forward itself.
        void vscode.window.showWarningMessage(`SSH Keepalive: ${forward.label} on ${alias}: ${forward.state.reason}`, 'Show Log').then((c) => {
          if (c) void vscode.commands.executeCommand(CommandId.showLog);
        });
      } else {
        ctx.logger.info(`[${alias}] ${forward.label}: added${forward.address ? ` at ${forward.address}` : ''}`);
      }
      return forwardInfo(alias, forward);
    }),

    registerCommand(ctx, CommandId.stopForward, async (arg?: unknown): Promise<boolean> => {
      const a = asForwardArg(arg);
      const id = a.forward?.id ?? a.id;
      let target: { alias: string; id: string } | undefined = a.alias && id ? { alias: a.alias, id } : undefined;
      if (!target) {
        const sessions = a.alias ? ctx.hosts.list().filter((h) => h.alias === a.alias) : ctx.hosts.list();
        const pick = await pickForward(sessions, 'Forward to stop');
        target = pick && { alias: pick.alias, id: pick.forward.id };
      }
      if (!target) return false;
      return ctx.hosts.removeForward(target.alias, target.id);
    }),

    registerCommand(ctx, CommandId.copyForwardAddress, async (arg?: unknown): Promise<string | undefined> => {
      const a = asForwardArg(arg);
      let forward = a.forward;
      if (!forward && a.alias && a.id) forward = ctx.hosts.get(a.alias)?.forwards.get(a.id);
      if (!forward) {
        const sessions = a.alias ? ctx.hosts.list().filter((h) => h.alias === a.alias) : ctx.hosts.list();
        forward = (await pickForward(sessions, 'Forward whose address to copy', (f) => f.address !== undefined))?.forward;
      }
      if (!forward?.address) return undefined;
      await vscode.env.clipboard.writeText(forward.address);
      void vscode.window.setStatusBarMessage(`$(copy) Copied ${forward.address}`, 3000);
      return forward.address;
    }),
  ];
}

/**
 * What the user types in "Forward a Port...", checked with core's own forward-spec parser
 * so that the input box accepts exactly what ssh -L/-R/-D would. Pure (no 'vscode').
 */
import { formatDynamicSpec, formatForwardSpec, parseDynamicSpec, parseForwardDirective } from '../core/config/forwardSpec';
import { ConfigError, type DynamicForwardSpec, type ForwardSpec } from '../core/config/types';

export type ForwardKind = 'local' | 'remote' | 'dynamic';

export type ForwardRequest =
  { kind: 'local'; spec: ForwardSpec } | { kind: 'remote'; spec: ForwardSpec; reclaimStale?: boolean } | { kind: 'dynamic'; spec: DynamicForwardSpec };

export interface InputProblem {
  severity: 'error' | 'warning';
  message: string;
}

export const forwardExamples: Record<ForwardKind, string> = {
  local: '8080:localhost:80',
  remote: '9000:localhost:3000',
  dynamic: '1080',
};

export const forwardPrompts: Record<ForwardKind, string> = {
  local:
    'Local forward (ssh -L): [bind_address:]port:host:hostport. A local port that reaches host:hostport as seen from the server. A lone port P means P:localhost:P.',
  remote:
    'Remote forward (ssh -R): [bind_address:]port:host:hostport. A port on the server that reaches host:hostport as seen from this machine. A lone port P means P:localhost:P.',
  dynamic: 'Dynamic forward (ssh -D, SOCKS proxy): [bind_address:]port. A local SOCKS4/5 proxy whose connections leave from the server.',
};

/** A lone port is the common case ("forward my dev server's 3000"): it means P:localhost:P. */
function expandLonePort(text: string): string {
  return /^\d+$/.test(text) ? `${text}:localhost:${text}` : text;
}

/** Drops core's generic prefix: the input box already shows what was typed. */
function tidy(message: string): string {
  return message.replace(/^Bad (dynamic )?forward specification "[^"]*": /, '').replace(/^Bad forward "[^"]*": /, '');
}

/** Parses the input; throws ConfigError with a message meant for the input box. */
export function parseForwardInput(kind: ForwardKind, raw: string): ForwardRequest {
  const text = raw.trim();
  if (text === '') throw new ConfigError(`Type a forward, e.g. ${forwardExamples[kind]}`);
  if (kind === 'dynamic') return { kind, spec: parseDynamicSpec(text) };
  // parseForwardDirective also takes ssh_config's "port host:hostport" form.
  const spec = parseForwardDirective(expandLonePort(text), kind);
  return { kind, spec };
}

/** For showInputBox's validateInput: undefined when fine, else what is wrong and how to write it. */
export function validateForwardInput(kind: ForwardKind, raw: string): InputProblem | undefined {
  let request: ForwardRequest;
  try {
    request = parseForwardInput(kind, raw);
  } catch (err) {
    const message = err instanceof Error ? tidy(err.message) : String(err);
    const syntax = kind === 'dynamic' ? '[bind_address:]port' : '[bind_address:]port:host:hostport';
    return { severity: 'error', message: /expected|Type a forward/.test(message) ? message : `${message} (expected ${syntax})` };
  }
  const port = request.spec.bindPort;
  if (port !== 0 && port < 1024 && kind !== 'remote') {
    return { severity: 'warning', message: `Port ${port} is privileged: listening on it usually needs root. Port 0 picks a free port.` };
  }
  if (request.spec.bindAddress === '*' || (request.spec.bindAddress !== undefined && !/^(127\.|localhost$|::1$)/.test(request.spec.bindAddress))) {
    return { severity: 'warning', message: 'This listens on a non-loopback address: other machines on the network can use the forward.' };
  }
  return undefined;
}

/** ssh's notation of a request, e.g. "-L 8080:localhost:80", for labels and persistence. */
export function formatForwardRequest(request: ForwardRequest): string {
  switch (request.kind) {
    case 'local':
      return `-L ${formatForwardSpec(request.spec)}`;
    case 'remote':
      return `-R ${formatForwardSpec(request.spec)}`;
    case 'dynamic':
      return `-D ${formatDynamicSpec(request.spec)}`;
  }
}

/** The inverse of formatForwardRequest, for what was persisted. Undefined for anything unreadable. */
export function parseStoredForward(text: string): ForwardRequest | undefined {
  const m = /^-([LRD]) (.+)$/s.exec(text);
  if (!m) return undefined;
  const kind: ForwardKind = m[1] === 'L' ? 'local' : m[1] === 'R' ? 'remote' : 'dynamic';
  try {
    return parseForwardInput(kind, m[2]);
  } catch {
    return undefined;
  }
}

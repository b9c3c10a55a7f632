import { statSync } from 'node:fs';
import type { AnyAuthMethod, AuthHandlerMiddleware, NextAuthHandler } from 'ssh2';
import type { Logger } from '../base/logger';
import { fingerprintSha256 } from '../config/knownHosts';
import { createFilteredAgent } from './agent';
import { AuthReport, keyFingerprint } from './authReport';
import type { IdentityLoader } from './identities';
import type { Prompter } from './prompter';
import { certificateBeside, keyFileType, listAgentKeys, unusableKeyReason } from './unusableKeys';

/**
 * Why an agent socket cannot be used, or undefined when it may be. A stale SSH_AUTH_SOCK
 * (inside tmux after a new login, in a service) names a socket that is gone: ssh then
 * goes on with the other methods, and so must we. Windows pipe names are left to ssh2.
 */
export function agentSocketProblem(socket: string): string | undefined {
  if (socket.startsWith('\\\\.\\pipe\\') || socket.toLowerCase() === 'pageant') return undefined;
  try {
    if (!statSync(socket).isSocket()) return `${socket} is not a socket`;
  } catch (err) {
    return `${socket}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such socket' : (err as Error).message}`;
  }
  return undefined;
}

export interface AuthTarget {
  user: string;
  /** For prompts and messages only. */
  host: string;
  identityFiles: string[];
  identitiesOnly: boolean;
  identityAgent?: string;
  /** CertificateFile: named as unusable (ssh2 has no certificates), never offered. */
  certificateFiles?: string[];
}

const maxPasswordTries = 3;

/**
 * ssh2's `authHandler`, trying methods in OpenSSH's order: agent, identity files,
 * keyboard-interactive, password. Methods are built lazily so that a passphrase is only
 * asked for when the server still accepts publickey. The time a person needs to answer
 * a prompt is reported through `onPrompt` so that the caller can pause its network deadline.
 */
export function createAuthHandler(
  target: AuthTarget,
  identities: IdentityLoader,
  prompter: Prompter,
  logger: Logger,
  onPrompt: (active: boolean) => void,
  report: AuthReport = new AuthReport(),
  warnOnce: (message: string) => void = (m) => logger.warn(m),
): AuthHandlerMiddleware {
  const steps = methodSteps(target, identities, prompter, logger, onPrompt, report, warnOnce);
  let cursor = 0;
  return (methodsLeft: string[] | null, _partial: boolean | null, next: NextAuthHandler) => {
    if (methodsLeft) report.serverMethods = methodsLeft;
    void (async () => {
      while (cursor < steps.length) {
        const step = steps[cursor++];
        if (methodsLeft && !methodsLeft.includes(step.kind)) {
          if (!step.repeat) report.skipped.push(`${step.label} (the server does not accept ${step.kind})`);
          continue;
        }
        const method = await step.build();
        if (method) {
          logger.debug(`trying ${step.label}`);
          report.offered.push(describeOffer(step, method));
          return next(method);
        }
        if (!step.repeat) report.skipped.push(`${step.label} (${step.unusable})`);
      }
      (next as unknown as (m: false) => void)(false);
    })().catch((err) => {
      logger.error(`authentication step failed: ${(err as Error).message}`);
      (next as unknown as (m: false) => void)(false);
    });
    return undefined;
  };
}

interface Step {
  kind: 'publickey' | 'keyboard-interactive' | 'password';
  label: string;
  /** Why build() gave nothing, for the failure message. */
  unusable: string;
  /** A further try of the same method (password try 2, 3): not listed again when skipped. */
  repeat?: boolean;
  /** How the offer is named in a failure message, when build() knows better than the label (agent keys). */
  offered?: string;
  build(): Promise<AnyAuthMethod | undefined>;
}

function describeOffer(step: Step, method: AnyAuthMethod): string {
  if (step.offered) return step.offered;
  if (method.type === 'publickey' && typeof method.key === 'object' && method.key && 'getPublicSSH' in method.key) {
    return `${step.label} (${keyFingerprint(method.key)})`;
  }
  return step.kind === 'publickey' ? step.label : step.kind;
}

function methodSteps(
  target: AuthTarget,
  identities: IdentityLoader,
  prompter: Prompter,
  logger: Logger,
  onPrompt: (active: boolean) => void,
  report: AuthReport,
  warnOnce: (message: string) => void,
): Step[] {
  const username = target.user;
  const steps: Step[] = [];
  const cannotUse = (what: string, why: string) => {
    report.unusable.push(`${what} ${why}`);
    logger.info(`${what} ${why}`);
  };
  // ssh offers each CertificateFile with its key; here the key is offered alone, so the
  // failure must say why the certificate was not.
  for (const cert of target.certificateFiles ?? []) {
    cannotUse(`certificate ${cert} (CertificateFile)`, unusableKeyReason(keyFileType(cert) ?? '') ?? unusableKeyReason('-cert-v01@openssh.com')!);
  }
  const prompted = async <T>(fn: () => Promise<T>): Promise<T> => {
    onPrompt(true);
    try {
      return await fn();
    } finally {
      onPrompt(false);
    }
  };

  if (target.identityAgent) {
    const socket = target.identityAgent;
    const step: Step = {
      kind: 'publickey',
      label: `agent ${socket}`,
      unusable: 'IdentitiesOnly, and no IdentityFile has a public key to pick agent keys with',
      build: async () => {
        const problem = agentSocketProblem(socket);
        if (problem) {
          step.unusable = `cannot be used: ${problem}`;
          warnOnce(`the ssh agent cannot be used (${problem}); trying the other authentication methods`);
          return undefined;
        }
        // ssh2 drops the agent's keys it cannot parse without a word: name them.
        const agentKeys = (await listAgentKeys(socket)) ?? [];
        const usable = agentKeys.filter((k) => {
          const why = unusableKeyReason(k.type);
          if (why) cannotUse(`agent key "${k.comment}"`, why);
          return !why;
        });
        // A refusal names the keys the agent offered, as `ssh -v` does: comment and fingerprint.
        const named = (keys: typeof usable) => keys.map((k) => `"${k.comment}" ${k.type} ${fingerprintSha256(k.blob)}`).join(', ');
        if (!target.identitiesOnly) {
          if (usable.length) step.offered = `agent ${socket}: ${named(usable)}`;
          return { type: 'agent', username, agent: socket };
        }
        const allowed = target.identityFiles.map((f) => identities.publicBlob(f)).filter((b): b is Buffer => !!b);
        if (allowed.length === 0) return undefined;
        const picked = usable.filter((k) => allowed.some((b) => b.equals(k.blob)));
        if (picked.length) step.offered = `agent ${socket}: ${named(picked)}`;
        return { type: 'agent', username, agent: createFilteredAgent(socket, allowed) } as unknown as AnyAuthMethod;
      },
    };
    steps.push(step);
  }
  for (const file of target.identityFiles) {
    const step: Step = {
      kind: 'publickey',
      label: `identity file ${file}`,
      unusable: 'no usable key: missing, unreadable, or encrypted and no passphrase given',
      build: async () => {
        const cert = certificateBeside(file);
        const certWhy = cert && unusableKeyReason(keyFileType(cert) ?? '-cert-v01@openssh.com');
        if (cert && certWhy) cannotUse(`certificate ${cert}`, certWhy);
        const type = keyFileType(file);
        const why = type && unusableKeyReason(type);
        if (why) {
          cannotUse(`identity file ${file}`, why);
          step.unusable = `it ${why.replace(/;.*/, '')}`;
          return undefined;
        }
        const key = await prompted(() => identities.load(file));
        return key ? { type: 'publickey', username, key } : undefined;
      },
    };
    steps.push(step);
  }
  steps.push({
    kind: 'keyboard-interactive',
    label: 'keyboard-interactive',
    unusable: 'not available',
    build: async () => ({
      type: 'keyboard-interactive',
      username,
      prompt: (name, instructions, _lang, prompts, finish) => {
        if (prompts.length === 0) return finish([]);
        void prompted(() =>
          prompter.keyboardInteractive(
            username,
            target.host,
            name,
            instructions,
            prompts.map((p) => ({ prompt: p.prompt, echo: !!p.echo })),
          ),
        ).then(
          (answers) => finish(answers ?? []),
          () => finish([]),
        );
      },
    }),
  });
  // Once the person cancels (or nobody can answer), stop asking.
  let passwordDeclined = false;
  for (let i = 0; i < maxPasswordTries; i++) {
    steps.push({
      kind: 'password',
      label: i === 0 ? 'password' : `password (try ${i + 1})`,
      unusable: 'no password given',
      repeat: i > 0,
      build: async () => {
        if (passwordDeclined) return undefined;
        const password = await prompted(() => prompter.password(username, target.host));
        if (password === undefined) {
          passwordDeclined = true;
          logger.debug('no password given');
          return undefined;
        }
        return { type: 'password', username, password };
      },
    });
  }
  return steps;
}

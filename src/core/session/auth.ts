import type { AnyAuthMethod, AuthHandlerMiddleware, NextAuthHandler } from 'ssh2';
import type { Logger } from '../base/logger';
import { FilteredAgent } from './agent';
import type { IdentityLoader } from './identities';
import type { Prompter } from './prompter';

export interface AuthTarget {
  user: string;
  /** For prompts and messages only. */
  host: string;
  identityFiles: string[];
  identitiesOnly: boolean;
  identityAgent?: string;
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
): AuthHandlerMiddleware {
  const steps = methodSteps(target, identities, prompter, logger, onPrompt);
  let cursor = 0;
  return (methodsLeft: string[] | null, _partial: boolean | null, next: NextAuthHandler) => {
    void (async () => {
      while (cursor < steps.length) {
        const step = steps[cursor++];
        if (methodsLeft && !methodsLeft.includes(step.kind)) continue;
        const method = await step.build();
        if (method) {
          logger.debug(`trying ${step.label}`);
          return next(method);
        }
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
  build(): Promise<AnyAuthMethod | undefined>;
}

function methodSteps(
  target: AuthTarget,
  identities: IdentityLoader,
  prompter: Prompter,
  logger: Logger,
  onPrompt: (active: boolean) => void,
): Step[] {
  const username = target.user;
  const steps: Step[] = [];
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
    steps.push({
      kind: 'publickey',
      label: `agent ${socket}`,
      build: async () => {
        if (!target.identitiesOnly) return { type: 'agent', username, agent: socket };
        const allowed = target.identityFiles.map((f) => identities.publicBlob(f)).filter((b): b is Buffer => !!b);
        if (allowed.length === 0) return undefined;
        return { type: 'agent', username, agent: new FilteredAgent(socket, allowed) } as unknown as AnyAuthMethod;
      },
    });
  }
  for (const file of target.identityFiles) {
    steps.push({
      kind: 'publickey',
      label: `identity file ${file}`,
      build: async () => {
        const key = await prompted(() => identities.load(file));
        return key ? { type: 'publickey', username, key } : undefined;
      },
    });
  }
  steps.push({
    kind: 'keyboard-interactive',
    label: 'keyboard-interactive',
    build: async () => ({
      type: 'keyboard-interactive',
      username,
      prompt: (name, instructions, _lang, prompts, finish) => {
        if (prompts.length === 0) return finish([]);
        void prompted(() => prompter.keyboardInteractive(username, target.host, name, instructions, prompts.map((p) => ({ prompt: p.prompt, echo: !!p.echo })))).then(
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
      label: `password (try ${i + 1})`,
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

/**
 * How core asks a person for something. The VS Code layer answers with input boxes, the
 * CLI with the TTY. Every method resolves `undefined` (or false) when nobody can answer
 * (BatchMode, no TTY, cancelled): core then fails fatally instead of retrying.
 */
export interface HostKeyQuestion {
  host: string;
  port: number;
  keyType: string;
  fingerprint: string;
  /** The known_hosts file the key will be written to when accepted. */
  knownHostsFile: string;
  /** True when the host has keys of other types on file (ssh warns about this). */
  otherTypesKnown: boolean;
}

export interface KeyboardInteractivePrompt {
  prompt: string;
  echo: boolean;
}

export interface Prompter {
  passphrase(keyPath: string): Promise<string | undefined>;
  password(user: string, host: string): Promise<string | undefined>;
  keyboardInteractive(user: string, host: string, name: string, instructions: string, prompts: KeyboardInteractivePrompt[]): Promise<string[] | undefined>;
  confirmHostKey(question: HostKeyQuestion): Promise<boolean>;
}

/** For BatchMode and background use: nobody is there to answer. */
export const noPrompter: Prompter = {
  passphrase: async () => undefined,
  password: async () => undefined,
  keyboardInteractive: async () => undefined,
  confirmHostKey: async () => false,
};

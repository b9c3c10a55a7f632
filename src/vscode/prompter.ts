import * as vscode from 'vscode';
import type { Logger } from '../core/base/logger';
import type { HostKeyQuestion, KeyboardInteractivePrompt, Prompter } from '../core/session/prompter';
import { passphraseOpens } from './keyCheck';
import { knownHostsName } from '../core/base/hostPort';

/**
 * The few window calls the prompter makes. Tests replace them (see testApi.ts) because a
 * modal dialog cannot be answered through the extension API; nothing else can.
 */
export interface PromptUi {
  inputBox(options: vscode.InputBoxOptions): Thenable<string | undefined>;
  /** A modal warning; resolves the chosen button's title. */
  modalWarning(message: string, detail: string, ...buttons: string[]): Thenable<string | undefined>;
  /** A non-modal question; resolves the chosen button's title. */
  ask(message: string, ...buttons: string[]): Thenable<string | undefined>;
}

export const windowPromptUi: PromptUi = {
  inputBox: (options) => vscode.window.showInputBox(options),
  modalWarning: (message, detail, ...buttons) => vscode.window.showWarningMessage(message, { modal: true, detail }, ...buttons),
  ask: (message, ...buttons) => vscode.window.showInformationMessage(message, ...buttons),
};

export const acceptHostKey = 'Accept and Connect';
const remember = 'Remember';
const notNow = 'Not Now';
const secretPrefix = 'sshKeepalive.passphrase:';

/**
 * Core's Prompter with VS Code input boxes. Secrets are typed into password boxes, never
 * logged; a passphrase is remembered in SecretStorage only when the user says so, and a
 * remembered one that no longer opens the key is deleted before anyone is asked.
 */
export class VsCodePrompter implements Prompter {
  private override: Partial<PromptUi> | undefined;

  constructor(
    private readonly secrets: vscode.SecretStorage,
    private readonly logger: Logger,
  ) {}

  /** Test seam: replaces some of the window calls (undefined restores them). */
  setUi(ui: Partial<PromptUi> | undefined): void {
    this.override = ui;
  }

  get ui(): PromptUi {
    return { ...windowPromptUi, ...this.override };
  }

  async passphrase(keyPath: string): Promise<string | undefined> {
    const secretKey = secretPrefix + keyPath;
    const stored = await this.secrets.get(secretKey);
    if (stored !== undefined) {
      if (passphraseOpens(keyPath, stored)) return stored;
      await this.secrets.delete(secretKey);
      this.logger.warn(`the remembered passphrase for ${keyPath} no longer opens it; forgot it`);
    }
    const typed = await this.ui.inputBox({
      title: 'SSH Keepalive',
      prompt: `Passphrase for ${keyPath}`,
      password: true,
      ignoreFocusOut: true,
    });
    if (typed === undefined) return undefined;
    if (passphraseOpens(keyPath, typed)) {
      // Not awaited: connecting must not wait for the user to answer a side question.
      void this.offerToRemember(secretKey, keyPath, typed);
    }
    return typed;
  }

  private async offerToRemember(secretKey: string, keyPath: string, passphrase: string): Promise<void> {
    const choice = await this.ui.ask(`Remember the passphrase for ${keyPath} in VS Code's secret storage?`, remember, notNow);
    if (choice === remember) {
      await this.secrets.store(secretKey, passphrase);
      this.logger.info(`remembered the passphrase for ${keyPath}`);
    }
  }

  password(user: string, host: string): Promise<string | undefined> {
    return Promise.resolve(this.ui.inputBox({ title: 'SSH Keepalive', prompt: `Password for ${user}@${host}`, password: true, ignoreFocusOut: true }));
  }

  async keyboardInteractive(
    user: string,
    host: string,
    name: string,
    instructions: string,
    prompts: KeyboardInteractivePrompt[],
  ): Promise<string[] | undefined> {
    const answers: string[] = [];
    for (const [i, p] of prompts.entries()) {
      const answer = await this.ui.inputBox({
        title: name || `SSH Keepalive: ${user}@${host}`,
        prompt: [instructions, p.prompt.trim()].filter((s) => s).join(' — '),
        password: !p.echo,
        ignoreFocusOut: true,
        placeHolder: prompts.length > 1 ? `${i + 1} of ${prompts.length}` : undefined,
      });
      if (answer === undefined) return undefined;
      answers.push(answer);
    }
    return answers;
  }

  async confirmHostKey(q: HostKeyQuestion): Promise<boolean> {
    const display = knownHostsName(q.host, q.port);
    const message = `The authenticity of host ${display} can't be established.`;
    const detail = [
      `${q.keyType} key fingerprint is ${q.fingerprint}.`,
      q.otherTypesKnown ? 'Keys of other types are already known for this host.' : '',
      `Accept only if this matches the fingerprint you got from the server's administrator. The key will be added to ${q.knownHostsFile}.`,
    ]
      .filter((s) => s)
      .join('\n\n');
    this.logger.info(`asking whether to trust ${display} ${q.keyType} ${q.fingerprint}`);
    const choice = await this.ui.modalWarning(message, detail, acceptHostKey);
    return choice === acceptHostKey;
  }
}

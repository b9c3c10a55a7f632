import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import type { Prompter } from '../core/session/prompter';
import { knownHostsName } from '../core/base/hostPort';

/**
 * Asks on the terminal, like ssh: secrets are read with echo off. Used only when stdin is
 * a TTY and BatchMode is not set; otherwise the CLI uses noPrompter and fails fatally.
 */
export function createTtyPrompter(): Prompter {
  const ask = (question: string, secret: boolean): Promise<string | undefined> =>
    new Promise((resolve) => {
      let muted = false;
      const output = new Writable({
        write(chunk: Buffer, _enc, cb) {
          if (!muted) process.stderr.write(chunk);
          cb();
        },
      });
      const rl = createInterface({ input: process.stdin, output, terminal: true });
      process.stderr.write(question);
      muted = secret;
      rl.question('', (answer) => {
        rl.close();
        if (secret) process.stderr.write('\n');
        resolve(answer);
      });
      rl.on('SIGINT', () => {
        rl.close();
        process.stderr.write('\n');
        resolve(undefined);
      });
    });

  return {
    passphrase: (keyPath) => ask(`Enter passphrase for key '${keyPath}': `, true),
    password: (user, host) => ask(`${user}@${host}'s password: `, true),
    keyboardInteractive: async (_user, _host, name, instructions, prompts) => {
      if (name) process.stderr.write(`${name}\n`);
      if (instructions) process.stderr.write(`${instructions}\n`);
      const answers: string[] = [];
      for (const p of prompts) {
        const a = await ask(p.prompt, !p.echo);
        if (a === undefined) return undefined;
        answers.push(a);
      }
      return answers;
    },
    confirmHostKey: async (q) => {
      const display = knownHostsName(q.host, q.port);
      process.stderr.write(`The authenticity of host '${display}' can't be established.\n${q.keyType} key fingerprint is ${q.fingerprint}.\n`);
      if (q.otherTypesKnown) process.stderr.write('This host key is known by other names or key types.\n');
      for (;;) {
        const a = (await ask('Are you sure you want to continue connecting (yes/no)? ', false))?.trim().toLowerCase();
        if (a === 'yes') return true;
        if (a === undefined || a === 'no') return false;
      }
    },
  };
}

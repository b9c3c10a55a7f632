/**
 * A client that shuts down its sending side still gets its answer through -L, -R and -D, as
 * through ssh (`printf hello | nc -N host port` against a server that answers on EOF). Each
 * case runs `ssh` beside ssh-keepalive (the bundled CLI) with the same arguments.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { test, type TestContext } from 'node:test';
import { cliPath } from '../../tools/peers/repo';
import { freePort, sshdAvailability, startSshd, type SshdHandle } from '../../tools/peers/sshd';
import { within } from '../harness/bounded';
import { requireOrSkip } from '../harness/skip';

const tools = ['ssh', 'ssh-keepalive'] as const;
type Tool = (typeof tools)[number];

/** Reads until the client's EOF, then answers with what it got and closes. */
async function answerOnEof(t: TestContext): Promise<number> {
  const server: Server = createServer({ allowHalfOpen: true }, (s) => {
    let got = '';
    s.on('data', (d: Buffer) => (got += d));
    s.on('end', () => s.end(`answer: ${got}`));
    s.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise((r) => server.close(r)));
  return (server.address() as AddressInfo).port;
}

async function sshd(t: TestContext): Promise<SshdHandle> {
  const s = await startSshd();
  t.after(() => s.stop());
  return s;
}

/** `ssh -N <forward>` or `ssh-keepalive -N <forward>`, stopped when the test ends. */
function startTool(t: TestContext, tool: Tool, server: SshdHandle, forward: string[]): void {
  const args = ['-F', server.sshConfigPath, '-N', ...forward, server.alias];
  const env = { ...process.env, SSH_AUTH_SOCK: '' };
  const child = tool === 'ssh' ? spawn('ssh', args, { stdio: 'ignore', env }) : spawn(process.execPath, [cliPath, ...args], { stdio: 'ignore', env });
  t.after(() => {
    child.kill('SIGKILL');
  });
}

/**
 * Connects with allowHalfOpen, runs `prelude` (a SOCKS handshake), then hands the socket and
 * a reader of everything received after the handshake to `talk`.
 */
function converse(port: number, prelude: Prelude, talk: (s: Socket, received: () => string, done: (v: string) => void) => void): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port, allowHalfOpen: true });
    s.on('error', reject);
    s.on('connect', () => {
      prelude(s).then((early) => {
        let got = early;
        s.on('data', (d: Buffer) => (got += d));
        talk(s, () => got, resolve);
      }, reject);
    });
  });
}

/** Sends "hello", shuts down its sending side and returns all it reads until EOF. */
function halfCloseRequest(port: number, prelude: Prelude = noPrelude): Promise<string> {
  return converse(port, prelude, (s, received, done) => {
    s.on('end', () => done(received()));
    s.on('close', () => done(received()));
    s.end('hello');
  });
}

function portAccepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });
}

/** A handshake before the request (SOCKS); resolves with the bytes that came after it in the same reads. */
type Prelude = (s: Socket) => Promise<string>;
const noPrelude: Prelude = () => Promise.resolve('');

/** SOCKS5 CONNECT to 127.0.0.1:port with no authentication; resolves once the proxy says it succeeded. */
function socks5Connect(target: number): Prelude {
  return (s) =>
    new Promise((resolve, reject) => {
      let reply = Buffer.alloc(0);
      const onData = (d: Buffer) => {
        reply = Buffer.concat([reply, d]);
        if (reply.length < 12) return; // method choice (2) + IPv4 reply (10)
        s.removeListener('data', onData);
        if (reply[1] !== 0 || reply[3] !== 0) reject(new Error(`SOCKS refused: ${reply.toString('hex')}`));
        else resolve(reply.subarray(12).toString());
      };
      s.on('data', onData);
      s.write(Buffer.from([5, 1, 0, 5, 1, 0, 1, 127, 0, 0, 1, target >> 8, target & 0xff]));
    });
}

function ask(tool: Tool, port: number, prelude?: Prelude): Promise<string> {
  return within(halfCloseRequest(port, prelude), 10_000, `${tool}: the answer to a half-closed request through port ${port}`);
}

/**
 * The other way round: the target speaks first and half-closes ("greeting"), then reads the
 * client's reply until EOF. Resolves with the replies it received, in order.
 */
async function speakFirst(t: TestContext): Promise<{ port: number; replies: string[] }> {
  const replies: string[] = [];
  const server: Server = createServer({ allowHalfOpen: true }, (s) => {
    let got = '';
    s.on('data', (d: Buffer) => (got += d));
    s.on('end', () => {
      replies.push(got);
      s.destroy();
    });
    s.on('error', () => undefined);
    s.end('greeting');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise((r) => server.close(r)));
  return { port: (server.address() as AddressInfo).port, replies };
}

/** Reads the greeting until EOF, then sends "reply" and shuts down; resolves with the greeting. */
function replyAfterEof(port: number, prelude: Prelude = noPrelude): Promise<string> {
  return converse(port, prelude, (s, received, done) => s.on('end', () => s.end('reply', () => done(received()))));
}

type Kind = '-L' | '-R' | '-D';

function forwardArgs(kind: Kind, port: number, target: number): string[] {
  if (kind === '-D') return ['-D', `127.0.0.1:${port}`];
  return [kind, `127.0.0.1:${port}:127.0.0.1:${target}`];
}

for (const kind of ['-L', '-R', '-D'] as const) {
  const prelude = (target: number) => (kind === '-D' ? socks5Connect(target) : undefined);

  test(`${kind}: a client that half-closes gets the answer, as with ssh`, async (t) => {
    if (!requireOrSkip(t, sshdAvailability())) return;
    const [server, target] = await Promise.all([sshd(t), answerOnEof(t)]);
    for (const tool of tools) {
      const port = await freePort();
      startTool(t, tool, server, forwardArgs(kind, port, target));
      await waitForPort(port, tool);
      assert.equal(await ask(tool, port, prelude(target)), 'answer: hello', `${tool} ${kind}`);
    }
  });

  test(`${kind}: a target that half-closes first still gets the client's reply, as with ssh`, async (t) => {
    if (!requireOrSkip(t, sshdAvailability())) return;
    const [server, target] = await Promise.all([sshd(t), speakFirst(t)]);
    for (const tool of tools) {
      const port = await freePort();
      startTool(t, tool, server, forwardArgs(kind, port, target.port));
      await waitForPort(port, tool);
      const greeting = await within(replyAfterEof(port, prelude(target.port)), 10_000, `${tool} ${kind}: the greeting`);
      assert.equal(greeting, 'greeting', `${tool} ${kind}: greeting`);
      // Connections that only checked the port reach the target too, and send nothing.
      const sent = () => target.replies.filter((r) => r !== '');
      const deadline = Date.now() + 5000;
      while (sent().length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      assert.deepEqual(sent(), ['reply'], `${tool} ${kind}: what the target received after its own EOF`);
      target.replies.length = 0;
    }
  });
}

/** The forward's port accepts connections (-L/-D: bound by the client; -R: by sshd once the forward is set up). */
function waitForPort(port: number, tool: Tool): Promise<void> {
  const deadline = Date.now() + 15_000;
  return (async () => {
    while (!(await portAccepts(port))) {
      if (Date.now() > deadline) throw new Error(`${tool}: port ${port} did not accept connections within 15 s`);
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
}

import type { Socket } from 'node:net';
import { type Clock, systemClock } from '../base/clock';

export type IdleFlowOutcome = 'survived' | 'dropped' | 'unknown';

export interface IdleFlowProbeOptions {
  /** Opens a new TCP connection to the server's SSH port (the same address as the main one). */
  connect: () => Socket;
  /** How long the flow stays silent after sshd's banner. */
  silenceMs: number;
  /** How long to wait for the banner, and for the reply after the silence. */
  replyWaitMs: number;
  clock?: Clock;
  /** Aborts the probe (outcome 'unknown'); the socket is destroyed. */
  signal?: AbortSignal;
}

/** Our identification line: sshd answers it with its KEXINIT, which is all we wait for. */
const IDENT = 'SSH-2.0-ssh_keepalive_idle_probe\r\n';

/**
 * Measures one idle silence on a disposable TCP flow, never on the main connection: connect
 * to sshd, read its banner, stay silent `silenceMs`, then send our identification line. sshd
 * answers any identification with its KEXINIT, so a reply means every NAT on the path kept
 * the flow through that silence. A NAT that forgot the flow drops our line (or answers with a
 * RST): no reply within `replyWaitMs` means dropped. Anything that happens before the silence
 * (no banner, a refusal, sshd's LoginGraceTime shorter than the silence) proves nothing
 * and is 'unknown'. The flow never authenticates; it is closed as soon as the answer is in.
 */
export function probeIdleFlow(options: IdleFlowProbeOptions): Promise<IdleFlowOutcome> {
  const clock = options.clock ?? systemClock;
  return new Promise<IdleFlowOutcome>((resolve) => {
    let phase: 'banner' | 'silent' | 'reply' = 'banner';
    let settled = false;
    let timer = clock.timeout(() => finish('unknown'), options.replyWaitMs);
    const sock = options.connect();
    const finish = (outcome: IdleFlowOutcome) => {
      if (settled) return;
      settled = true;
      timer.dispose();
      options.signal?.removeEventListener('abort', onAbort);
      sock.removeAllListeners('data');
      sock.on('error', () => undefined);
      sock.destroy();
      resolve(outcome);
    };
    const onAbort = () => finish('unknown');
    if (options.signal?.aborted) return finish('unknown');
    options.signal?.addEventListener('abort', onAbort);
    let banner = '';
    sock.on('data', (chunk: Buffer) => {
      if (phase === 'reply') return finish('survived');
      if (phase === 'silent') return finish('unknown'); // sshd spoke during the silence (e.g. gave up): proves nothing
      banner += chunk.toString('latin1');
      if (!banner.includes('\n')) return;
      if (!banner.startsWith('SSH-')) return finish('unknown');
      phase = 'silent';
      timer.dispose();
      timer = clock.timeout(() => {
        phase = 'reply';
        sock.write(IDENT);
        timer = clock.timeout(() => finish('dropped'), options.replyWaitMs);
      }, options.silenceMs);
    });
    // A RST after the silence is the NAT (or the server) saying it no longer knows the flow.
    sock.on('error', () => finish(phase === 'reply' ? 'dropped' : 'unknown'));
    sock.on('close', () => finish(phase === 'reply' ? 'dropped' : 'unknown'));
  });
}

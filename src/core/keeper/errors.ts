/** Why something about the keeper failed; callers decide on the reason, never on the text. */
export type KeeperErrorReason =
  /** The peer sent bytes that are not a valid frame sequence (or broke the rules). */
  | 'protocol'
  /** The keeper refused the secret this client presented. */
  | 'secret'
  /** The keeper refused this client's uid (SO_PEERCRED). */
  | 'peer-uid'
  /** Client and keeper speak different protocol versions. */
  | 'version'
  /** The keeper is exiting (shutdown, idle). */
  | 'shutdown'
  /** A step had no answer within its deadline. */
  | 'timeout'
  /** The transport (channel) ended. */
  | 'transport-closed'
  /** The server has no usable python3 (3.6+). */
  | 'no-python'
  /** The keeper could not be started; the message says what the server said. */
  | 'start-failed'
  /** sshd refused the stream-local channel: AllowStreamLocalForwarding no, or no socket at that path (OpenSSH says the same for both). */
  | 'streamlocal-refused'
  /** The mux was disposed. */
  | 'disposed';

/** A JSON field as text, or the fallback when it is missing or not a string. */
export function textField(value: unknown, fallback: string): string {
  return typeof value === 'string' ? value : fallback;
}

export class KeeperError extends Error {
  constructor(
    readonly reason: KeeperErrorReason,
    message: string,
  ) {
    super(message);
    this.name = 'KeeperError';
  }
}

/** Why a stream was reset (by the keeper, by us, or found gone on resume). */
export interface StreamResetInfo {
  /** e.g. refused, connect-failed, buffer-overflow, unknown-stream, resume-mismatch, keeper-exit, reset-by-client, open-failed, reset, io-error */
  readonly reason: string;
  readonly message: string;
}

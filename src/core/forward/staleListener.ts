/**
 * Opt-in reclaim of a remote-forward port that sshd still holds for a dead connection.
 *
 * After a silent drop (NAT reboot, long outage) the server keeps the old connection, and
 * its listening socket, until it notices the peer is gone: with ClientAliveInterval 0
 * that may take hours (TCP keepalive) and a new `tcpip-forward` for the port is refused
 * meanwhile. Over the *new* connection we run one shell script, as the user, that finds
 * the process listening on exactly that port and ends it only if it is a connection process
 * of the same uid, of OpenSSH ("sshd: user" / "sshd: user@notty") or Dropbear (a dropbear
 * whose parent is the dropbear listener), and not an ancestor of the script itself (that is
 * our own, live connection). Other servers' processes are left alone, and said so. No root needed: `ss -p` shows only the processes
 * the user may see, and kill(2) works only on the user's own processes anyway.
 */
import type { Client } from 'ssh2';
import { execCapture, type ExecResult } from '../shell/remoteExec';

/**
 * POSIX sh, read from stdin by `sh -s -- PORT` so that the user's login shell only has to
 * parse that one simple command (fish, csh and friends included). Output, one per line:
 *   how ss|proc           which lookup found the holders
 *   skip PID WHY CMDLINE  a holder left alone, and why
 *   killed PID PEER CMDLINE  a stale sshd that was sent SIGTERM (PEER: its client address)
 *   forced PID            it ignored SIGTERM for 2 s and got SIGKILL
 *   free yes|no           whether nothing listens on the port any more
 */
export const RECLAIM_SCRIPT = String.raw`
port="$1"
me=$(id -u)
user=$(id -un)
ancestors=" "
p=$$
while [ -n "$p" ] && [ "$p" -gt 1 ] 2>/dev/null; do
  ancestors="$ancestors$p "
  p=$(sed -n 's/^PPid:[[:space:]]*//p' "/proc/$p/status" 2>/dev/null)
done
holders() {
  if command -v ss >/dev/null 2>&1; then
    ss -tlpn "sport = :$port" 2>/dev/null | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -u
  else
    hex=$(printf '%04X' "$port")
    inodes=$(awk -v h=":$hex" '$4 == "0A" && substr($2, length($2) - 4) == h { print $10 }' /proc/net/tcp /proc/net/tcp6 2>/dev/null)
    [ -n "$inodes" ] || return 0
    for d in /proc/[0-9]*; do
      fds=$(ls -l "$d/fd" 2>/dev/null) || continue
      for i in $inodes; do
        case "$fds" in *"socket:[$i]"*) basename "$d"; break ;; esac
      done
    done
  fi
}
listening() {
  if command -v ss >/dev/null 2>&1; then
    ss -tln "sport = :$port" 2>/dev/null | grep -q LISTEN
  else
    hex=$(printf '%04X' "$port")
    awk -v h=":$hex" '$4 == "0A" && substr($2, length($2) - 4) == h { found = 1 } END { exit !found }' /proc/net/tcp /proc/net/tcp6 2>/dev/null
  fi
}
if command -v ss >/dev/null 2>&1; then echo "how ss"; else echo "how proc"; fi
killed=""
for pid in $(holders); do
  cmd=$(tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | sed 's/ *$//')
  case "$ancestors" in *" $pid "*) echo "skip $pid own-connection $cmd"; continue ;; esac
  uid=$(awk '/^Uid:/ { print $2 }' "/proc/$pid/status" 2>/dev/null)
  if [ "$uid" != "$me" ]; then echo "skip $pid other-user $cmd"; continue; fi
  comm=$(cat "/proc/$pid/comm" 2>/dev/null)
  case "$comm" in
    sshd*)
      # A session's sshd is titled "sshd: USER" or "sshd: USER@notty" (sshd-session: ... since
      # OpenSSH 9.8); the listener ("[listener]") and monitor ("[priv]") are never ended.
      case "$cmd" in
        "sshd: $user" | "sshd: $user@"* | "sshd-session: $user" | "sshd-session: $user@"*) ;;
        *) echo "skip $pid not-a-session $cmd"; continue ;;
      esac ;;
    dropbear)
      # Dropbear keeps its command line: a connection is a dropbear whose parent is the
      # dropbear listener. The listener itself (parent init or a supervisor) is never ended.
      ppid=$(sed -n 's/^PPid:[[:space:]]*//p' "/proc/$pid/status" 2>/dev/null)
      pcomm=$(cat "/proc/$ppid/comm" 2>/dev/null)
      [ "$pcomm" = dropbear ] || { echo "skip $pid not-a-session $cmd"; continue; } ;;
    *) echo "skip $pid not-sshd $cmd"; continue ;;
  esac
  peer=$(ss -tnp state established 2>/dev/null | grep "pid=$pid," | awk '{ print $4 }' | head -n 1)
  [ -n "$peer" ] || peer=-
  if kill -TERM "$pid" 2>/dev/null; then
    echo "killed $pid $peer $cmd"
    killed="$killed $pid"
  else
    echo "skip $pid kill-failed $cmd"
  fi
done
if [ -n "$killed" ]; then
  n=0
  while listening && [ $n -lt 20 ]; do sleep 0.1 2>/dev/null || sleep 1; n=$((n + 1)); done
  if listening; then
    for pid in $killed; do kill -KILL "$pid" 2>/dev/null && echo "forced $pid"; done
    sleep 0.2 2>/dev/null || sleep 1
  fi
fi
if listening; then echo "free no"; else echo "free yes"; fi
`;

export interface ReclaimOutcome {
  /** Stale sshd processes that were ended. */
  killed: Array<{ pid: number; peer: string; command: string }>;
  /**
   * Holders left alone, with the reason ("own-connection", "other-user", "not-a-session", and
   * "not-sshd": neither an OpenSSH nor a Dropbear process).
   */
  skipped: Array<{ pid: number; why: string; command: string }>;
  /** Processes that needed SIGKILL. */
  forced: number[];
  /** Nothing listens on the port any more. */
  free: boolean;
  /** How the holders were found: ss, or /proc when ss is missing. */
  how: string;
}

export function parseReclaimOutput(out: string): ReclaimOutcome {
  const outcome: ReclaimOutcome = { killed: [], skipped: [], forced: [], free: false, how: '' };
  for (const line of out.split('\n')) {
    const m = /^(how|skip|killed|forced|free) ?(.*)$/.exec(line.trim());
    if (!m) continue;
    const [, tag, rest] = m;
    const words = rest.split(' ');
    switch (tag) {
      case 'how':
        outcome.how = rest;
        break;
      case 'free':
        outcome.free = rest === 'yes';
        break;
      case 'forced':
        outcome.forced.push(Number(words[0]));
        break;
      case 'killed':
        outcome.killed.push({ pid: Number(words[0]), peer: words[1] ?? '-', command: words.slice(2).join(' ').trim() });
        break;
      case 'skip':
        outcome.skipped.push({ pid: Number(words[0]), why: words[1] ?? '', command: words.slice(2).join(' ').trim() });
        break;
    }
  }
  return outcome;
}

/** One line for the log: exactly what was found and done. */
export function describeReclaim(port: number, o: ReclaimOutcome): string {
  const parts: string[] = [];
  for (const k of o.killed) {
    parts.push(
      `ended stale pid ${k.pid} (${k.command || 'sshd'}${k.peer !== '-' ? `, client ${k.peer}` : ''}) with SIGTERM${o.forced.includes(k.pid) ? ' then SIGKILL' : ''}`,
    );
  }
  for (const s of o.skipped) parts.push(`left pid ${s.pid} alone (${s.why}: ${s.command || '?'})`);
  if (parts.length === 0) parts.push('found no process of ours listening on it');
  return `reclaim of server port ${port} (via ${o.how || '?'}): ${parts.join('; ')}; port is ${o.free ? 'free' : 'still in use'}`;
}

/** Runs the reclaim script over `client`. Rejects on exec failure or after `timeoutMs`. */
export async function reclaimStaleListener(client: Client, port: number, timeoutMs: number): Promise<ReclaimOutcome> {
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`bad port ${port}`);
  let result: ExecResult;
  try {
    result = await execCapture(client, `sh -s -- ${port}`, timeoutMs, { stdin: RECLAIM_SCRIPT });
  } catch (err) {
    const message = (err as Error).message;
    throw new Error(/timed out/.test(message) ? `the reclaim command did not finish within ${timeoutMs} ms` : `cannot run the reclaim command: ${message}`);
  }
  if (!/^free /m.test(result.stdout)) throw new Error(`the reclaim command failed: ${(result.stderr || result.stdout).trim().slice(0, 300) || 'no output'}`);
  return parseReclaimOutput(result.stdout);
}

/** What a reclaim outcome means for the forward waiting on that port. */
export type ReclaimVerdict =
  | { readonly kind: 'free' }
  /** Nothing it may end holds the port: running it again on this connection cannot help. */
  | { readonly kind: 'cannot-help'; readonly why: string }
  /** It ended something, yet the port is still taken (a slow exit, or someone took it). */
  | { readonly kind: 'still-held'; readonly why: string };

export function reclaimVerdict(o: ReclaimOutcome): ReclaimVerdict {
  // Free, whoever freed it (the server may have noticed the dead connection meanwhile): ask now.
  if (o.free) return { kind: 'free' };
  if (o.killed.length) return { kind: 'still-held', why: 'reclaim ended the stale process but the port is still in use' };
  const why = (s: ReclaimOutcome['skipped'][number]) => {
    switch (s.why) {
      case 'not-sshd':
        return `pid ${s.pid} (${s.command || '?'}) is not an OpenSSH or Dropbear connection; reclaim ends only those`;
      case 'other-user':
        return `pid ${s.pid} belongs to another user`;
      case 'own-connection':
        return `pid ${s.pid} is this very connection`;
      default:
        return `pid ${s.pid} is ${s.why} (${s.command || '?'})`;
    }
  };
  const held = o.skipped.length ? o.skipped.map(why).join('; ') : "no process of this user holds it (another user's, or not visible to us)";
  return { kind: 'cannot-help', why: `reclaim cannot help: ${held}` };
}

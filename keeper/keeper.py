#!/usr/bin/env python3
# ssh-keepalive session keeper. Runs on the server under the user's own account, keeps
# shells (on ptys it owns) and TCP connections alive while the SSH connection is down,
# and resumes them byte-exact when the client re-attaches.
# Protocol: docs/keeper-protocol.md in the ssh-keepalive repository.
# Python 3.6+, standard library only. Sent over the SSH connection; nothing is downloaded.
import errno
import fcntl
import hashlib
import hmac
import json
import os
import pty
import random
import select
import selectors
import signal
import socket
import stat
import struct
import sys
import termios
import threading
import time

VERSION = 1
MAX_FRAME = (1 << 20) + 64  # bytes after the length field
MAX_JSON = 64 * 1024
MAX_DATA = 64 * 1024  # payload of one DATA frame we send
MAX_SEQ = (1 << 53) - 1  # the client counts in JS numbers
DEFAULT_BOUND = 8 * 1024 * 1024  # replay buffer per stream and direction
DEFAULT_WINDOW = 4 * 1024 * 1024  # what we accept unconsumed per stream
TRANSPORT_HIGH_WATER = 512 * 1024
HELLO_TIMEOUT = 10.0
MAX_STREAMS = 1024
MAX_TOMBSTONES = 4096
# A terminal's output already delivered, kept for a client that lost its screen (a window
# reload adopts the stream): it gets this much of the recent past again, from a line start.
PTY_HISTORY = 64 * 1024
# Coalescing of bulk pty output: after at least BULK_MIN bytes in one turn, wait up to
# BULK_WAIT s for more, until BULK_BATCH bytes are gathered.
BULK_MIN = 4000
BULK_BATCH = 64 * 1024
BULK_WAIT = 0.001
KEEPER_SID_BASE = 0x80000000  # ids of streams the keeper opens (accepted -R connections)
MAX_ACCEPTED = 256  # live connections per tcp-listen stream; more are refused with RST
READ_SIZE = 256 * 1024

T_HELLO, T_WELCOME, T_ERROR = 0x01, 0x02, 0x03
T_OPEN, T_OPENED, T_DATA, T_ACK, T_CLOSE, T_RESET, T_RESIZE = 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16
T_PING, T_PONG, T_SHUTDOWN = 0x20, 0x21, 0x22

_U32 = struct.Struct('>I')
_SID = struct.Struct('>I')
_DATA = struct.Struct('>IQQI')  # sid, seq, ack, window
_ACK = struct.Struct('>IQI')  # sid, ack, window
_RESIZE = struct.Struct('>IHH')
_TOKEN = struct.Struct('>Q')


class ProtocolError(Exception):
    pass


# ---------------------------------------------------------------- frame codec

def _no_constant(name):
    raise ValueError('%s is not JSON' % name)  # NaN/Infinity: JSON.parse on the client refuses them too


def _json_body(body, what):
    if len(body) > MAX_JSON:
        raise ProtocolError('%s: JSON of %d bytes exceeds %d' % (what, len(body), MAX_JSON))
    try:
        value = json.loads(body.decode('utf-8'), parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise ProtocolError('%s: bad JSON (%s)' % (what, type(e).__name__))
    if not isinstance(value, dict):
        raise ProtocolError('%s: JSON is not an object' % what)
    return value


def _need(body, n, what):
    if len(body) < n:
        raise ProtocolError('%s: body of %d bytes is shorter than %d' % (what, len(body), n))


def _seq(value, what):
    if value > MAX_SEQ:
        raise ProtocolError('%s: sequence number %d out of range' % (what, value))
    return value


def parse_frame(ftype, body):
    """One frame body -> tuple (type, ...). Raises ProtocolError on anything malformed."""
    if ftype in (T_HELLO, T_WELCOME, T_ERROR):
        return (ftype, _json_body(body, 'frame %#x' % ftype))
    if ftype in (T_OPEN, T_OPENED, T_RESET):
        _need(body, 4, 'frame %#x' % ftype)
        return (ftype, _SID.unpack_from(body)[0], _json_body(body[4:], 'frame %#x' % ftype))
    if ftype == T_DATA:
        _need(body, _DATA.size + 1, 'DATA')
        sid, seq, ack, win = _DATA.unpack_from(body)
        _seq(seq + len(body) - _DATA.size, 'DATA')
        return (ftype, sid, seq, _seq(ack, 'DATA ack'), win, body[_DATA.size:])
    if ftype == T_CLOSE:
        _need(body, _DATA.size, 'CLOSE')
        sid, seq, ack, win = _DATA.unpack_from(body)
        info = _json_body(body[_DATA.size:], 'CLOSE') if len(body) > _DATA.size else {}
        return (ftype, sid, _seq(seq + 1, 'CLOSE') - 1, _seq(ack, 'CLOSE ack'), win, info)
    if ftype == T_ACK:
        if len(body) != _ACK.size:
            raise ProtocolError('ACK: body of %d bytes, want %d' % (len(body), _ACK.size))
        sid, ack, win = _ACK.unpack(body)
        return (ftype, sid, _seq(ack, 'ACK'), win)
    if ftype == T_RESIZE:
        if len(body) != _RESIZE.size:
            raise ProtocolError('RESIZE: body of %d bytes, want %d' % (len(body), _RESIZE.size))
        return (ftype,) + _RESIZE.unpack(body)
    if ftype in (T_PING, T_PONG):
        if len(body) != _TOKEN.size:
            raise ProtocolError('PING/PONG: body of %d bytes, want 8' % len(body))
        return (ftype, _seq(_TOKEN.unpack(body)[0], 'PING/PONG'))
    if ftype == T_SHUTDOWN:
        if body:
            raise ProtocolError('SHUTDOWN: body must be empty')
        return (ftype,)
    raise ProtocolError('unknown frame type %#x' % ftype)


class Decoder(object):
    """Splits a byte stream into frames. Bounded: a frame longer than MAX_FRAME is an error."""

    def __init__(self, max_frame=MAX_FRAME):
        self.buf = bytearray()
        self.max_frame = max_frame

    def feed(self, data):
        self.buf += data
        frames = []
        buf = self.buf
        pos = 0
        while len(buf) - pos >= 4:
            n = _U32.unpack_from(buf, pos)[0]
            if n < 1 or n > self.max_frame:
                raise ProtocolError('frame length %d out of range 1..%d' % (n, self.max_frame))
            if len(buf) - pos < 4 + n:
                break
            ftype = buf[pos + 4]
            body = bytes(buf[pos + 5:pos + 4 + n])
            pos += 4 + n
            frames.append(parse_frame(ftype, body))
        if pos:
            del buf[:pos]
        return frames


def frame(ftype, body=b''):
    return _U32.pack(len(body) + 1) + bytes((ftype,)) + body


def json_bytes(value):
    return json.dumps(value, separators=(',', ':')).encode('utf-8')


def f_json(ftype, value):
    return frame(ftype, json_bytes(value))


def f_sid_json(ftype, sid, value):
    return frame(ftype, _SID.pack(sid) + json_bytes(value))


# ---------------------------------------------------------------- logging

_log_file = None
_shell_umask = 0o022  # the user's umask from the starting session, for the shells we spawn


def log(msg):
    if _log_file is None:
        return
    try:
        if _log_file.tell() > 1024 * 1024:
            _log_file.seek(0)
            _log_file.truncate()
        _log_file.write('%s %d %s\n' % (time.strftime('%Y-%m-%dT%H:%M:%S'), os.getpid(), msg))
        _log_file.flush()
    except (OSError, ValueError):
        pass


# ---------------------------------------------------------------- streams

def wait_readable(fd, timeout):
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    try:
        return bool(poller.poll(timeout * 1000))
    except OSError:
        return False


class Stream(object):
    """One multiplexed byte stream; the far end is a pty or a TCP socket owned by the keeper."""

    def __init__(self, keeper, session, sid, kind, params):
        self.keeper = keeper
        self.session = session
        self.sid = sid
        self.kind = kind
        self.params = params
        self.meta = {}
        self.bound = int(params.get('bound', keeper.bound))
        self.overflow = params.get('overflow', 'pause')
        self.fd = None  # pty master or socket fileno
        self.sock = None
        self.pid = None
        # Sending side: unacknowledged bytes sbuf start at sequence number sbase.
        self.sbuf = bytearray()
        self.sbase = 0
        # Acknowledged bytes just below sbase (ptys only): what a reloaded window redraws.
        self.hist = bytearray()
        self.sent = 0  # next sequence number to transmit on the current transport
        self.eof_seq = None  # our CLOSE marker's sequence number, once the source ended
        self.close_info = {}
        self.src_eof = False
        self.peer_ack = 0
        self.peer_win = DEFAULT_WINDOW
        # Receiving side.
        self.rnext = 0
        self.r_eof = False
        self.wbuf = bytearray()  # received, not yet written to the far end
        self.acked_sent = -1
        self.win_sent = 0
        self.ack_pending = False
        self.connecting = False
        self.dead = False
        self.exit_status = None

    # -- sending side
    def snext(self):
        return self.sbase + len(self.sbuf) + (1 if self.eof_seq is not None else 0)

    def want_read(self):
        return (self.fd is not None and not self.src_eof and not self.connecting
                and len(self.sbuf) < self.bound)

    def on_source_data(self, data):
        self.sbuf += data
        if len(self.sbuf) >= self.bound and self.overflow == 'reset' and self.session.conn is None:
            self.keeper.reset_stream(self, 'buffer-overflow',
                                     'replay buffer of %d bytes full while detached' % self.bound)

    def on_source_eof(self):
        self.src_eof = True
        self.keeper.update_fd(self)
        self.maybe_close_marker()

    def maybe_close_marker(self):
        if self.eof_seq is not None or not self.src_eof:
            return
        if self.kind == 'pty' and self.exit_status is None:
            return  # wait for the shell's exit status
        self.eof_seq = self.sbase + len(self.sbuf)
        self.close_info = self.exit_status or {}
        self.keeper.mark_dirty(self.session)

    def on_ack(self, ack, win):
        if ack > self.snext():
            raise ProtocolError('stream %d: ack %d beyond sent %d' % (self.sid, ack, self.snext()))
        if ack > self.sbase:
            drop = min(ack - self.sbase, len(self.sbuf))
            if self.kind == 'pty':
                self.hist += self.sbuf[:drop]
                if len(self.hist) > PTY_HISTORY:
                    del self.hist[:len(self.hist) - PTY_HISTORY]
            del self.sbuf[:drop]
            self.sbase += drop
        self.peer_ack = max(self.peer_ack, ack)
        self.peer_win = win
        if self.sent < self.peer_ack:
            self.sent = self.peer_ack
        self.keeper.update_fd(self)
        self.maybe_finish()

    def rewind_history(self):
        """Puts the recent past back in front of the unacknowledged bytes, for an adopting
        client that has no screen: it starts after a newline when the history was cut, so
        that it does not begin inside an escape sequence."""
        hist = self.hist
        if len(hist) >= PTY_HISTORY:
            nl = hist.find(b'\n')
            hist = hist[nl + 1:] if nl >= 0 else bytearray()
        self.sbuf = bytearray(hist) + self.sbuf
        self.sbase -= len(hist)
        self.hist = bytearray()

    def transmit(self, out):
        """Appends DATA/CLOSE frames within the peer's window; returns bytes queued."""
        queued = 0
        limit = self.peer_ack + self.peer_win
        data_end = self.sbase + len(self.sbuf)
        while self.sent < data_end and self.sent < limit:
            start = self.sent - self.sbase
            n = min(MAX_DATA, data_end - self.sent, limit - self.sent)
            payload = bytes(self.sbuf[start:start + n])
            out.append(frame(T_DATA, _DATA.pack(self.sid, self.sent, self.rnext, self.window()) + payload))
            self.note_acked()
            self.sent += n
            queued += n + 30
            if queued >= TRANSPORT_HIGH_WATER:
                return queued
        if self.eof_seq is not None and self.sent == self.eof_seq:
            out.append(frame(T_CLOSE, _DATA.pack(self.sid, self.eof_seq, self.rnext, self.window())
                             + json_bytes(self.close_info)))
            self.note_acked()
            self.sent += 1
            queued += 40
        return queued

    def has_to_send(self):
        limit = self.peer_ack + self.peer_win
        return self.sent < min(self.snext(), limit) or (self.eof_seq is not None and self.sent == self.eof_seq)

    # -- receiving side
    def window(self):
        return max(0, DEFAULT_WINDOW - len(self.wbuf))

    def note_acked(self):
        self.acked_sent = self.rnext
        self.win_sent = self.window()
        self.ack_pending = False

    def on_data(self, seq, payload):
        end = seq + len(payload)
        if seq > self.rnext:
            raise ProtocolError('stream %d: gap, got %d, expected %d' % (self.sid, seq, self.rnext))
        if self.r_eof and end > self.rnext:
            raise ProtocolError('stream %d: data after CLOSE' % self.sid)
        if end <= self.rnext:
            return  # replayed duplicate
        fresh = payload[self.rnext - seq:]
        if len(self.wbuf) + len(fresh) > DEFAULT_WINDOW + MAX_DATA:
            raise ProtocolError('stream %d: peer overran the window' % self.sid)
        self.rnext = end
        self.ack_pending = True
        if self.fd is None and not self.connecting:
            return  # far end gone; the stream is being reset
        self.wbuf += fresh
        self.flush_sink()

    def on_peer_close(self, seq, info):
        if seq < self.rnext:
            return  # duplicate
        if seq > self.rnext:
            raise ProtocolError('stream %d: CLOSE at %d, expected %d' % (self.sid, seq, self.rnext))
        self.rnext += 1
        self.r_eof = True
        self.ack_pending = True
        self.flush_sink()
        self.maybe_finish()

    def flush_sink(self):
        if self.fd is None or self.connecting:
            return
        if self.kind == 'pty' and self.src_eof:
            del self.wbuf[:]  # keys for a shell that has ended go nowhere, as on a terminal
        while self.wbuf:
            try:
                n = os.write(self.fd, self.wbuf[:READ_SIZE])
            except (BlockingIOError, InterruptedError):
                break
            except OSError as e:
                self.keeper.far_end_failed(self, e)
                return
            before = self.window()
            del self.wbuf[:n]
            if before < DEFAULT_WINDOW // 2 <= self.window():
                self.ack_pending = True  # reopen the peer's window
        if not self.wbuf and self.r_eof:
            self.on_sink_closed_by_peer()
        self.keeper.update_fd(self)

    def on_sink_closed_by_peer(self):
        if self.kind == 'tcp-listen':
            self.keeper.stop_listening(self)
        elif self.kind == 'pty':
            if self.pid is not None and self.exit_status is None:
                try:
                    os.killpg(self.pid, signal.SIGHUP)
                except OSError:
                    pass
        elif self.sock is not None:
            try:
                self.sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    def maybe_finish(self):
        if self.r_eof and self.eof_seq is not None and self.peer_ack > self.eof_seq and not self.wbuf:
            self.keeper.finish_stream(self, 'closed', 'stream closed on both sides')

    def entry(self):
        return {'id': self.sid, 'kind': self.kind, 'recv': self.rnext, 'base': self.sbase,
                'win': self.window(), 'meta': self.meta}


# ---------------------------------------------------------------- far ends

def spawn_pty(stream, params):
    cols = int(params.get('cols', 80))
    rows = int(params.get('rows', 24))
    env = dict(os.environ)
    for k in ('SSH_AUTH_SOCK', 'SSH_TTY', 'SSHK_KEEPER_SECRET'):
        env.pop(k, None)
    env['TERM'] = str(params.get('term', 'xterm-256color'))
    extra = params.get('env') or {}
    if not isinstance(extra, dict):
        raise ValueError('env must be an object')
    for k, v in extra.items():
        env[str(k)] = str(v)
    argv = params.get('argv')
    if argv is not None:
        if not isinstance(argv, list) or not argv or not all(isinstance(a, str) for a in argv):
            raise ValueError('argv must be a non-empty list of strings')
        path, argv = argv[0], list(argv)
    else:
        try:
            import pwd
            shell = pwd.getpwuid(os.getuid()).pw_shell or '/bin/sh'
        except (ImportError, KeyError):
            shell = env.get('SHELL', '/bin/sh')
        path, argv = shell, ['-' + os.path.basename(shell)]
    cwd = params.get('cwd') or env.get('HOME') or '/'
    pid, fd = pty.fork()
    if pid == 0:
        try:
            signal.signal(signal.SIGHUP, signal.SIG_DFL)  # the keeper ignores these; the shell must not
            signal.signal(signal.SIGPIPE, signal.SIG_DFL)
            os.umask(_shell_umask)
            fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack('HHHH', rows, cols, 0, 0))
            try:
                os.chdir(cwd)
            except OSError:
                pass
            os.execvpe(path, argv, env)
        except BaseException as e:  # noqa: B902 - the child must never return into the keeper
            try:
                os.write(2, ('keeper: cannot run %s: %s\r\n' % (path, e)).encode())
            finally:
                os._exit(127)
    os.set_blocking(fd, False)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack('HHHH', rows, cols, 0, 0))
    stream.fd = fd
    stream.pid = pid
    stream.meta = {'pid': pid}


def resize_pty(stream, cols, rows):
    if stream.kind == 'pty' and stream.fd is not None and cols > 0 and rows > 0:
        fcntl.ioctl(stream.fd, termios.TIOCSWINSZ, struct.pack('HHHH', rows, cols, 0, 0))


# ---------------------------------------------------------------- transport connections

class Conn(object):
    def __init__(self, keeper, sock):
        self.keeper = keeper
        self.sock = sock
        self.decoder = Decoder()
        self.out = []
        self.out_len = 0
        self.session = None
        self.accepted_at = time.monotonic()
        self.closing = False

    def send(self, data):
        self.out.append(data)
        self.out_len += len(data)

    def flush(self):
        while self.out:
            data = self.out[0] if len(self.out) == 1 else b''.join(self.out)
            try:
                n = self.sock.send(data)
            except (BlockingIOError, InterruptedError):
                self.out = [data]
                return True
            except OSError:
                self.keeper.drop_conn(self)
                return False
            rest = data[n:]
            self.out = [rest] if rest else []
            self.out_len = len(rest)
            if rest:
                return True
        if self.closing:
            self.keeper.drop_conn(self)
            return False
        return True


class Session(object):
    def __init__(self, sid):
        self.id = sid
        self.next_keeper_sid = KEEPER_SID_BASE
        self.streams = {}
        self.tombstones = {}  # stream id -> (reason, message)
        self.conn = None


# ---------------------------------------------------------------- the keeper

class Keeper(object):
    def __init__(self, listener, secret, idle, bound, socket_path, lock_fd):
        self.listener = listener
        self.secret = secret
        self.idle = idle
        self.bound = bound
        self.socket_path = socket_path
        self.lock_fd = lock_fd
        self.instance = os.urandom(8).hex()
        self.sel = selectors.DefaultSelector()
        self.sessions = {}
        self.conns = set()
        self.fd_streams = {}
        self.dirty = set()
        self.detached_since = time.monotonic()
        self.running = True
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_r, False)
        os.set_blocking(self.wake_w, False)
        self.resolved = []  # (stream, addrinfo or exception) from resolver threads
        self.resolved_lock = threading.Lock()
        listener.setblocking(False)
        self.sel.register(listener, selectors.EVENT_READ, ('listen', None))
        self.sel.register(self.wake_r, selectors.EVENT_READ, ('wake', None))

    # -- registration helpers
    def _set(self, fileobj, events, data):
        try:
            key = self.sel.get_key(fileobj)
        except KeyError:
            key = None
        if key is None:
            if events:
                self.sel.register(fileobj, events, data)
        elif not events:
            self.sel.unregister(fileobj)
        elif key.events != events:
            self.sel.modify(fileobj, events, data)

    def update_fd(self, stream):
        if stream.fd is None:
            return
        events = 0
        if stream.connecting:
            events = selectors.EVENT_WRITE
        else:
            if stream.want_read():
                events |= selectors.EVENT_READ
            if stream.wbuf:
                events |= selectors.EVENT_WRITE
        self._set(stream.fd, events, ('stream', stream))

    def update_conn(self, conn):
        events = selectors.EVENT_READ | (selectors.EVENT_WRITE if conn.out else 0)
        self._set(conn.sock, events, ('conn', conn))

    def mark_dirty(self, session):
        self.dirty.add(session)

    # -- main loop
    def run(self):
        last_check = time.monotonic()
        while self.running:
            timeout = 0.05 if self.pending_children() else 1.0
            for key, events in self.sel.select(timeout):
                kind, obj = key.data
                try:
                    if kind == 'listen':
                        self.accept()
                    elif kind == 'wake':
                        self.on_wake()
                    elif kind == 'conn':
                        self.on_conn_event(obj, events)
                    elif kind == 'stream':
                        self.on_stream_event(obj, events)
                except Exception as e:  # one broken peer must not end the keeper
                    log('error handling %s: %r' % (kind, e))
                    if kind == 'conn':
                        self.drop_conn(obj)
                    elif kind == 'stream':
                        self.reset_stream(obj, 'error', repr(e))
            self.pump()
            now = time.monotonic()
            if now - last_check >= 0.05:
                last_check = now
                self.housekeeping(now)
        self.shutdown()

    def pending_children(self):
        for s in self.sessions.values():
            for st in s.streams.values():
                if st.kind == 'pty' and st.exit_status is None and st.src_eof:
                    return True
        return any(c.session is None for c in self.conns)

    def pump(self):
        """Sends acks and whatever the peers' windows allow, for every attached session."""
        for session in list(self.dirty):
            self.dirty.discard(session)
            conn = session.conn
            if conn is None:
                continue
            for st in list(session.streams.values()):
                if conn.out_len >= TRANSPORT_HIGH_WATER:
                    self.dirty.add(session)
                    break
                if st.has_to_send():
                    conn.out_len += st.transmit(conn.out)
                if st.ack_pending or st.acked_sent != st.rnext:
                    conn.send(frame(T_ACK, _ACK.pack(st.sid, st.rnext, st.window())))
                    st.note_acked()
            if conn.out:
                if conn.flush():
                    self.update_conn(conn)

    def housekeeping(self, now):
        for session in list(self.sessions.values()):
            for st in list(session.streams.values()):
                if st.kind == 'pty' and st.pid is not None and st.exit_status is None:
                    self.reap(st)
        for conn in list(self.conns):
            if conn.session is None and now - conn.accepted_at > HELLO_TIMEOUT:
                self.drop_conn(conn)
        attached = any(s.conn is not None for s in self.sessions.values())
        if attached:
            self.detached_since = now
        elif now - self.detached_since >= self.idle:
            log('idle for %.0f s with no client attached: exiting' % self.idle)
            self.running = False
        self.check_socket()

    def check_socket(self):
        # The runtime dir may be removed under us (logind at the last logout); then nobody
        # could reach the keeper, so it ends rather than keep shells no client can reach.
        try:
            st = os.stat(self.socket_path)
            if st.st_ino != self.socket_ino:
                raise OSError('replaced')
        except OSError:
            log('socket %s vanished: exiting' % self.socket_path)
            self.running = False

    def reap(self, st):
        try:
            pid, status = os.waitpid(st.pid, os.WNOHANG)
        except ChildProcessError:
            pid, status = st.pid, 0
        if pid == 0:
            return
        if os.WIFSIGNALED(status):
            st.exit_status = {'signal': os.WTERMSIG(status)}
        else:
            st.exit_status = {'exit': os.WEXITSTATUS(status) if os.WIFEXITED(status) else -1}
        st.maybe_close_marker()

    def on_wake(self):
        try:
            os.read(self.wake_r, 4096)
        except OSError:
            pass
        with self.resolved_lock:
            done, self.resolved = self.resolved, []
        for st, result in done:
            if st.dead:
                continue
            if isinstance(result, Exception):
                self.reset_stream(st, 'resolve-failed', str(result))
                continue
            self.start_connect(st, result)

    # -- transport
    def accept(self):
        while True:
            try:
                sock, _ = self.listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:
                log('accept: %s' % e)
                return
            uid = peer_uid(sock)
            if uid is not None and uid != os.getuid():
                log('refused a peer of uid %d' % uid)
                try:
                    sock.send(f_json(T_ERROR, {'code': 'peer-uid', 'message': 'peer of another uid'}))
                except OSError:
                    pass
                sock.close()
                continue
            sock.setblocking(False)
            conn = Conn(self, sock)
            self.conns.add(conn)
            self.update_conn(conn)

    def drop_conn(self, conn):
        if conn not in self.conns:
            return
        self.conns.discard(conn)
        try:
            self.sel.unregister(conn.sock)
        except (KeyError, ValueError):
            pass
        try:
            conn.sock.close()
        except OSError:
            pass
        session = conn.session
        if session is not None and session.conn is conn:
            session.conn = None
            self.detached_since = time.monotonic()
            log('session %s detached' % session.id)

    def fail_conn(self, conn, code, message):
        log('closing a client: %s (%s)' % (code, message))
        conn.send(f_json(T_ERROR, {'code': code, 'message': message}))
        conn.closing = True
        if conn.flush():
            self.update_conn(conn)

    def on_conn_event(self, conn, events):
        if events & selectors.EVENT_WRITE:
            if not conn.flush():
                return
            self.update_conn(conn)
            if conn.session is not None:
                self.mark_dirty(conn.session)
        if events & selectors.EVENT_READ and conn in self.conns:
            try:
                data = conn.sock.recv(READ_SIZE)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                data = b''
            if not data:
                self.drop_conn(conn)
                return
            if conn.closing:
                return
            try:
                for f in conn.decoder.feed(data):
                    if conn not in self.conns or conn.closing:
                        return
                    self.on_frame(conn, f)
            except ProtocolError as e:
                self.fail_conn(conn, 'protocol', str(e))

    def on_frame(self, conn, f):
        t = f[0]
        if conn.session is None:
            if t != T_HELLO:
                raise ProtocolError('first frame must be HELLO, got %#x' % t)
            self.on_hello(conn, f[1])
            return
        session = conn.session
        if t == T_DATA:
            st = self.stream_for(session, f[1])
            if st is not None:
                st.on_ack(f[3], f[4])
                st.on_data(f[2], f[5])
                self.mark_dirty(session)
        elif t == T_ACK:
            st = self.stream_for(session, f[1])
            if st is not None:
                st.on_ack(f[2], f[3])
                self.mark_dirty(session)
        elif t == T_CLOSE:
            st = self.stream_for(session, f[1])
            if st is not None:
                st.on_ack(f[3], f[4])
                if not st.dead:
                    st.on_peer_close(f[2], f[5])
                self.mark_dirty(session)
        elif t == T_OPEN:
            self.on_open(session, f[1], f[2])
        elif t == T_RESET:
            st = session.streams.get(f[1])
            if st is not None:
                self.finish_stream(st, 'reset-by-client', str(f[2].get('message', '')), notify=False)
            session.tombstones.pop(f[1], None)
        elif t == T_RESIZE:
            st = session.streams.get(f[1])
            if st is not None:
                resize_pty(st, f[2], f[3])
        elif t == T_PING:
            for st in session.streams.values():
                st.ack_pending = True
            self.pump_now(session)
            conn.send(frame(T_PONG, _TOKEN.pack(f[1])))
            if conn.flush():
                self.update_conn(conn)
        elif t == T_SHUTDOWN:
            log('shutdown requested')
            self.running = False
        else:
            raise ProtocolError('unexpected frame %#x' % t)

    def pump_now(self, session):
        self.dirty.add(session)
        self.pump()

    def stream_for(self, session, sid):
        st = session.streams.get(sid)
        if st is None:
            tomb = session.tombstones.get(sid)
            reason, message = tomb if tomb else ('unknown-stream', 'no stream %d' % sid)
            if session.conn is not None:
                session.conn.send(f_sid_json(T_RESET, sid, {'reason': reason, 'message': message}))
        return st

    def on_hello(self, conn, hello):
        if hello.get('v') != VERSION:
            self.fail_conn(conn, 'version', 'keeper speaks version %d, client %r' % (VERSION, hello.get('v')))
            return
        secret = hello.get('secret')
        if not isinstance(secret, str) or not hmac.compare_digest(secret.encode(), self.secret.encode()):
            self.fail_conn(conn, 'secret', 'wrong secret')
            return
        sid = hello.get('session')
        if not valid_name(sid):
            self.fail_conn(conn, 'session', 'session id must be 1-40 ASCII letters, digits, - or _')
            return
        entries = hello.get('streams', [])
        if not isinstance(entries, list) or len(entries) > MAX_STREAMS:
            self.fail_conn(conn, 'protocol', 'streams must be a list of at most %d' % MAX_STREAMS)
            return
        session = self.sessions.get(sid)
        if session is None:
            session = self.sessions[sid] = Session(sid)
        if session.conn is not None and session.conn is not conn:
            log('session %s: taken over by a new attach' % sid)
            self.drop_conn(session.conn)
        conn.session = session
        session.conn = conn
        resets = []
        listed = set()
        for e in entries:
            if not isinstance(e, dict) or not isinstance(e.get('id'), int):
                self.fail_conn(conn, 'protocol', 'bad stream entry')
                return
            listed.add(e['id'])
            st = session.streams.get(e['id'])
            if st is None:
                reason, message = session.tombstones.get(e['id'], ('unknown-stream', 'the keeper has no such stream'))
                resets.append({'id': e['id'], 'reason': reason, 'message': message})
                continue
            if e.get('adopt'):
                st.rewind_history()
            recv = st.sbase if e.get('adopt') else e.get('recv')
            win = e.get('win', DEFAULT_WINDOW)
            if not isinstance(recv, int) or not isinstance(win, int) or recv < st.sbase or recv > st.snext() or win < 0:
                self.reset_stream(st, 'resume-mismatch', 'client received %r, keeper holds %d..%d'
                                  % (recv, st.sbase, st.snext()))
                resets.append({'id': e['id'], 'reason': 'resume-mismatch', 'message': 'cannot resume'})
                continue
            st.peer_ack = st.sbase
            st.sent = st.sbase
            st.peer_win = win
            st.on_ack(recv, win)
        for k in list(session.tombstones):
            if k not in listed:
                del session.tombstones[k]
        welcome = {'v': VERSION, 'keeper': self.instance, 'pid': os.getpid(),
                   'streams': [st.entry() for st in session.streams.values()],
                   'resets': resets}
        conn.send(f_json(T_WELCOME, welcome))
        for st in session.streams.values():
            st.note_acked()
            if st.sid not in listed:
                # Parked: without the client's position nothing can be replayed; an ACK
                # from the client (its position and window) unparks the stream.
                st.peer_ack = st.sent = st.sbase
                st.peer_win = 0
        log('session %s attached (%d streams, %d resets)' % (sid, len(session.streams), len(resets)))
        self.mark_dirty(session)

    def on_open(self, session, sid, params):
        if sid in session.streams or sid in session.tombstones:
            return  # a replayed OPEN of a stream we already have
        kind = params.get('kind')
        if sid >= KEEPER_SID_BASE:
            self.send_reset(session, sid, 'open-failed', 'stream ids from %#x up are the keeper\'s' % KEEPER_SID_BASE)
            return
        if len(session.streams) >= MAX_STREAMS:
            self.send_reset(session, sid, 'limit', 'too many streams')
            return
        st = Stream(self, session, sid, kind, params)
        win = params.get('win', DEFAULT_WINDOW)
        st.peer_win = win if isinstance(win, int) and win >= 0 else DEFAULT_WINDOW
        try:
            if kind == 'pty':
                spawn_pty(st, params)
            elif kind == 'tcp-listen':
                self.listen(st, params)
            elif kind == 'tcp-connect':
                host, port = params.get('host'), params.get('port')
                if not isinstance(host, str) or not isinstance(port, int) or not 0 < port < 65536:
                    raise ValueError('tcp-connect needs host (string) and port (1-65535)')
                st.connecting = True
                threading.Thread(target=self.resolve, args=(st, host, port), daemon=True).start()
            else:
                raise ValueError('unknown stream kind %r' % kind)
        except Exception as e:  # any failure to open is the stream's reset, not the keeper's end
            self.send_reset(session, sid, 'open-failed', str(e))
            return
        session.streams[sid] = st
        if st.fd is not None:
            self.fd_streams[st.fd] = st
            self.update_fd(st)
        if not st.connecting:
            self.send_opened(st)

    def listen(self, st, params):
        bind = params.get('bind', '127.0.0.1')
        port = params.get('port', 0)
        if not isinstance(bind, str) or not isinstance(port, int) or not 0 <= port < 65536:
            raise ValueError('tcp-listen needs bind (string) and port (0-65535)')
        loopback = bind in ('localhost', '::1') or bind.startswith('127.')
        if not loopback and params.get('allowNonLoopback') is not True:
            # Never listen more widely than asked: sshd's GatewayPorts default is loopback only.
            raise ValueError('refusing to listen on %r without allowNonLoopback' % bind)
        infos = socket.getaddrinfo(bind or None, port, 0, socket.SOCK_STREAM, 0, socket.AI_PASSIVE)
        family, socktype, proto, _, addr = infos[0]
        sock = socket.socket(family, socktype, proto)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(addr)
            sock.listen(128)
        except OSError:
            sock.close()
            raise
        sock.setblocking(False)
        st.sock = sock
        st.fd = sock.fileno()
        st.meta = {'bind': bind, 'port': sock.getsockname()[1]}

    def stop_listening(self, st):
        if st.sock is not None:
            try:
                self.sel.unregister(st.fd)
            except (KeyError, ValueError):
                pass
            self.fd_streams.pop(st.fd, None)
            st.sock.close()
            st.sock = None
            st.fd = None
        st.src_eof = True
        st.maybe_close_marker()

    def accept_on(self, listener):
        session = listener.session
        while True:
            try:
                sock, peer = listener.sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:
                log('accept on stream %d: %s' % (listener.sid, e))
                return
            live = sum(1 for x in session.streams.values() if x.params.get('listener') == listener.sid)
            if live >= MAX_ACCEPTED or len(session.streams) >= MAX_STREAMS:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
                sock.close()
                continue
            sid = session.next_keeper_sid
            session.next_keeper_sid = KEEPER_SID_BASE + ((sid - KEEPER_SID_BASE + 1) % KEEPER_SID_BASE)
            params = {'kind': 'tcp-accepted', 'listener': listener.sid, 'peer': list(peer)[:2]}
            st = Stream(self, session, sid, 'tcp-accepted', params)
            st.bound = listener.bound
            sock.setblocking(False)
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
            st.sock = sock
            st.fd = sock.fileno()
            st.meta = params
            session.streams[sid] = st
            self.fd_streams[st.fd] = st
            self.update_fd(st)
            if session.conn is not None:
                session.conn.send(f_sid_json(T_OPEN, sid, params))
            self.mark_dirty(session)

    def send_opened(self, st):
        if st.session.conn is not None:
            st.session.conn.send(f_sid_json(T_OPENED, st.sid, st.meta))
        self.mark_dirty(st.session)

    def send_reset(self, session, sid, reason, message):
        if len(session.tombstones) < MAX_TOMBSTONES:
            session.tombstones[sid] = (reason, message)
        if session.conn is not None:
            session.conn.send(f_sid_json(T_RESET, sid, {'reason': reason, 'message': message}))
            self.mark_dirty(session)

    def resolve(self, st, host, port):
        try:
            result = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)
        except Exception as e:  # handed to the main thread as the stream's failure
            result = e
        with self.resolved_lock:
            self.resolved.append((st, result))
        try:
            os.write(self.wake_w, b'x')
        except OSError:
            pass

    def start_connect(self, st, infos):
        family, socktype, proto, _, addr = infos[0]
        sock = socket.socket(family, socktype, proto)
        sock.setblocking(False)
        try:
            sock.connect(addr)
        except (BlockingIOError, InterruptedError):
            pass
        except OSError as e:
            sock.close()
            self.reset_stream(st, 'refused' if e.errno == errno.ECONNREFUSED else 'connect-failed', str(e))
            return
        st.sock = sock
        st.fd = sock.fileno()
        self.fd_streams[st.fd] = st
        self.update_fd(st)

    def on_stream_event(self, st, events):
        if st.kind == 'tcp-listen':
            self.accept_on(st)
            return
        if st.connecting:
            err = st.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                self.reset_stream(st, 'refused' if err == errno.ECONNREFUSED else 'connect-failed', os.strerror(err))
                return
            st.connecting = False
            try:
                st.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
            st.meta = {'local': list(st.sock.getsockname())[:2]}
            self.send_opened(st)
            st.flush_sink()
            self.update_fd(st)
            return
        if events & selectors.EVENT_WRITE:
            st.flush_sink()
            if st.ack_pending:
                self.mark_dirty(st.session)
        if events & selectors.EVENT_READ and not st.dead and st.fd is not None:
            # A pty hands out at most a few KiB per read: drain what is there (up to a bound)
            # so that one loop turn makes one large frame instead of many small ones.
            data = b''
            eof = False
            parts = []
            got = 0
            while got < READ_SIZE and len(st.sbuf) + got < st.bound:
                try:
                    chunk = os.read(st.fd, READ_SIZE - got)
                except (BlockingIOError, InterruptedError):
                    # Bulk output (cat of a big file) comes through the pty's 4 KiB line
                    # buffer: a moment's wait gathers the next pieces into this frame, so the
                    # loop turns (and packets) per MB drop sharply. Echo and prompts are
                    # smaller than that and go out at once.
                    if st.kind == 'pty' and BULK_MIN <= got < BULK_BATCH and wait_readable(st.fd, BULK_WAIT):
                        continue
                    break
                except OSError as e:
                    if st.kind != 'pty':
                        self.far_end_failed(st, e)
                        return
                    eof = True  # EIO: the pty's other side closed, the shell ended
                    break
                if not chunk:
                    eof = True
                    break
                parts.append(chunk)
                got += len(chunk)
            data = b''.join(parts)
            if data:
                st.on_source_data(data)
                if st.dead:
                    return
            if eof:
                st.on_source_eof()
                if st.kind == 'pty':
                    self.reap(st)
            if not st.dead:
                self.update_fd(st)
                self.mark_dirty(st.session)

    def far_end_failed(self, st, err):
        reason = 'reset' if getattr(err, 'errno', None) in (errno.ECONNRESET, errno.EPIPE) else 'io-error'
        self.reset_stream(st, reason, str(err))

    def reset_stream(self, st, reason, message):
        self.finish_stream(st, reason, message, notify=True)

    def finish_stream(self, st, reason, message, notify=False):
        if st.dead:
            return
        st.dead = True
        session = st.session
        session.streams.pop(st.sid, None)
        self.release(st, hard=reason != 'closed')
        if reason == 'closed' and session.conn is not None:
            # The stream leaves the session now; its last ACK (of the peer's CLOSE) must still go out.
            session.conn.send(frame(T_ACK, _ACK.pack(st.sid, st.rnext, 0)))
            self.mark_dirty(session)
        if notify:
            self.send_reset(session, st.sid, reason, message)
        elif len(session.tombstones) < MAX_TOMBSTONES:
            session.tombstones[st.sid] = (reason, message)
        log('stream %d %s: %s' % (st.sid, reason, message))

    def release(self, st, hard):
        if st.fd is not None:
            try:
                self.sel.unregister(st.fd)
            except (KeyError, ValueError):
                pass
            self.fd_streams.pop(st.fd, None)
        if st.sock is not None:
            if hard:
                # A reset is a reset: SO_LINGER 0 makes close() send RST, never a clean FIN.
                try:
                    st.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
                except OSError:
                    pass
            st.sock.close()
        elif st.fd is not None:
            try:
                os.close(st.fd)
            except OSError:
                pass
        st.fd = None
        st.sock = None
        if st.pid is not None and st.exit_status is None:
            try:
                os.killpg(st.pid, signal.SIGHUP)
            except OSError:
                pass
            self.reap(st)

    def shutdown(self):
        for session in self.sessions.values():
            for st in list(session.streams.values()):
                self.finish_stream(st, 'keeper-exit', 'the keeper is exiting', notify=True)
            if session.conn is not None:
                session.conn.send(f_json(T_ERROR, {'code': 'shutdown', 'message': 'the keeper is exiting'}))
                session.conn.sock.setblocking(True)
                session.conn.sock.settimeout(1.0)
                try:
                    session.conn.sock.sendall(b''.join(session.conn.out))
                except OSError:
                    pass
        try:
            if os.stat(self.socket_path).st_ino == self.socket_ino:
                os.unlink(self.socket_path)
        except OSError:
            pass
        deadline = time.monotonic() + 2
        for session in self.sessions.values():
            for st in session.streams.values():
                while st.pid and st.exit_status is None and time.monotonic() < deadline:
                    self.reap(st)
                    time.sleep(0.02)


def peer_uid(sock):
    if not hasattr(socket, 'SO_PEERCRED'):
        return None  # not Linux: the 0700 directory is the guard
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize('3i'))
    return struct.unpack('3i', creds)[1]


# ---------------------------------------------------------------- directories, start, relay

class StartError(Exception):
    def __init__(self, code, message):
        Exception.__init__(self, message)
        self.code = code


def private_dir(path):
    """Creates path 0700 if missing; refuses one that is not ours or that others can enter."""
    try:
        os.makedirs(path, 0o700)
    except FileExistsError:
        pass
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode):
        raise StartError('unsafe-dir', '%s is not a directory' % path)
    if st.st_uid != os.getuid():
        raise StartError('unsafe-dir', '%s is owned by uid %d, not %d' % (path, st.st_uid, os.getuid()))
    if st.st_mode & 0o077:
        raise StartError('unsafe-dir', '%s has mode %o; group/others must have no access'
                         % (path, stat.S_IMODE(st.st_mode)))
    return path


def state_dir_path(options):
    if options.get('dir'):
        return options['dir']
    home = os.path.expanduser('~')
    cache = os.environ.get('XDG_CACHE_HOME') or os.path.join(home, '.cache')
    return os.path.join(cache, 'ssh-keepalive')


def state_dir(options):
    return private_dir(state_dir_path(options))


def os_error_reply(e, options):
    """The start's reply for an OSError; a full disk names the directory, the one thing to fix."""
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        where = os.path.dirname(e.filename) if getattr(e, 'filename', None) else state_dir_path(options)
        return {'ok': False, 'error': 'disk-full',
                'message': '%s is full (%s): the keeper cannot store its files there' % (where, os.strerror(e.errno))}
    return {'ok': False, 'error': 'os-error', 'message': str(e)}


def socket_dir(options, fallback):
    if options.get('dir'):
        return fallback
    runtime = os.environ.get('XDG_RUNTIME_DIR')
    if runtime and os.path.isdir(runtime):
        try:
            return private_dir(os.path.join(runtime, 'ssh-keepalive'))
        except (StartError, OSError):
            pass
    return fallback


def remove_quietly(path):
    try:
        os.unlink(path)
    except OSError:
        pass


def valid_name(name):
    return (isinstance(name, str) and 1 <= len(name) <= 40
            and all('0' <= c <= '9' or 'a' <= c <= 'z' or 'A' <= c <= 'Z' or c in '-_' for c in name))


def read_line(reader, limit):
    line = reader.readline(limit + 1)
    if len(line) > limit or not line.endswith(b'\n'):
        raise StartError('bad-input', 'header line missing or longer than %d bytes' % limit)
    return line


def boot(header, program, reader):
    """Entry from the bootstrap: store the program by its hash, then start (or find) the keeper."""
    try:
        reply = start(header, program, reader)
    except StartError as e:
        reply = {'ok': False, 'error': e.code, 'message': str(e)}
    except OSError as e:
        reply = os_error_reply(e, header if isinstance(header, dict) else {})
    sys.stdout.write(json.dumps(reply) + '\n')
    sys.stdout.flush()
    return 0 if reply.get('ok') else 1


def start(header, program, reader):
    global _shell_umask
    _shell_umask = os.umask(0o077)  # our files are private; the user's shells get their own umask back
    if sys.version_info < (3, 6):
        raise StartError('python-too-old', 'python %s; the keeper needs 3.6+' % sys.version.split()[0])
    name = header.get('name')
    if not valid_name(name):
        raise StartError('bad-input', 'name must be 1-40 letters, digits, - or _')
    sdir = state_dir(header)
    digest = hashlib.sha256(program).hexdigest()
    prog_path = os.path.join(sdir, 'keeper-%s.py' % digest[:32])
    if not os.path.exists(prog_path):
        tmp = '%s.%d.tmp' % (prog_path, os.getpid())
        try:
            with open(tmp, 'wb') as f:
                f.write(program)
            os.rename(tmp, prog_path)
        except OSError:
            remove_quietly(tmp)  # a partial copy would only take more of a full disk
            raise
    secret = read_line(reader, 200).strip().decode('ascii', 'replace')
    if len(secret) < 32:
        raise StartError('bad-input', 'secret too short')
    lock_path = os.path.join(sdir, '%s.lock' % name)
    state_path = os.path.join(sdir, '%s.json' % name)
    lock_fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(lock_fd)
        try:
            with open(state_path) as f:
                state = json.load(f)
        except (OSError, ValueError):
            raise StartError('busy', 'a keeper named %s holds the lock but left no state' % name)
        return {'ok': True, 'started': False, 'socket': state.get('socket'), 'pid': state.get('pid'),
                'program': prog_path, 'python': sys.version.split()[0]}
    sock_path = os.path.join(socket_dir(header, sdir), '%s.sock' % name)
    if len(sock_path.encode()) > 100:
        raise StartError('path-too-long', 'socket path %s is too long for AF_UNIX' % sock_path)
    try:
        os.unlink(sock_path)  # stale: whoever served it no longer holds the lock
    except FileNotFoundError:
        pass
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(sock_path)
    os.chmod(sock_path, 0o600)
    listener.listen(16)
    idle = float(header.get('idle', 86400))
    bound = int(header.get('bound', DEFAULT_BOUND))
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            os.setsid()
            if os.fork() != 0:
                os._exit(0)
            daemon_main(listener, secret, idle, bound, sock_path, lock_fd, state_path, w, sdir, name)
        finally:
            os._exit(0)
    os.close(w)
    os.waitpid(pid, 0)
    got = b''
    while True:
        chunk = os.read(r, 64)
        if not chunk:
            break
        got += chunk
    os.close(r)
    listener.close()
    os.close(lock_fd)
    if got.startswith(b'!'):  # the keeper could not write its state file: its reply instead of a pid
        failed = json.loads(got[1:].decode())
        raise StartError(failed['error'], failed['message'])
    if not got:
        raise StartError('start-failed', 'the keeper did not report its pid')
    return {'ok': True, 'started': True, 'socket': sock_path, 'pid': int(got), 'program': prog_path,
            'python': sys.version.split()[0]}


def daemon_main(listener, secret, idle, bound, sock_path, lock_fd, state_path, pid_pipe, sdir, name):
    global _log_file
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)
    os.chdir('/')
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    try:
        _log_file = open(os.path.join(sdir, '%s.log' % name), 'a')
    except OSError:
        _log_file = None
    try:
        with open(state_path + '.tmp', 'w') as f:
            json.dump({'socket': sock_path, 'pid': os.getpid()}, f)
        os.rename(state_path + '.tmp', state_path)
    except OSError as e:
        remove_quietly(state_path + '.tmp')
        remove_quietly(sock_path)
        os.write(pid_pipe, b'!' + json.dumps(os_error_reply(e, {'dir': sdir})).encode())
        os.close(pid_pipe)
        return
    os.write(pid_pipe, str(os.getpid()).encode())
    os.close(pid_pipe)
    keeper = Keeper(listener, secret, idle, bound, sock_path, lock_fd)
    keeper.socket_ino = os.stat(sock_path).st_ino
    log('keeper started, socket %s, idle %.0f s' % (sock_path, idle))
    def on_term(*_):
        keeper.running = False
        os.write(keeper.wake_w, b'x')
    signal.signal(signal.SIGTERM, on_term)
    try:
        keeper.run()
    except Exception as e:
        log('keeper crashed: %r' % e)
        raise
    finally:
        try:
            os.unlink(state_path)
        except OSError:
            pass
        log('keeper exited')


def relay(sock_path):
    """Pumps stdin/stdout to the keeper's socket, for servers that forbid stream-local forwarding."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(sock_path)
    except OSError as e:
        sys.stderr.write('keeper relay: cannot reach %s: %s\n' % (sock_path, e))
        return 2
    sock.setblocking(False)
    os.set_blocking(0, False)
    os.set_blocking(1, False)
    sel = selectors.DefaultSelector()
    to_sock, to_out = bytearray(), bytearray()
    in_open, sock_open = True, True
    while (in_open or to_sock) and (sock_open or to_out):
        sel_events = []
        if in_open and len(to_sock) < READ_SIZE:
            sel_events.append((0, selectors.EVENT_READ))
        if sock_open and len(to_out) < READ_SIZE:
            sel_events.append((sock, selectors.EVENT_READ))
        if to_sock:
            sel_events.append((sock, selectors.EVENT_WRITE))
        if to_out:
            sel_events.append((1, selectors.EVENT_WRITE))
        merged = {}
        for fo, ev in sel_events:
            merged[fo] = merged.get(fo, 0) | ev
        for fo, ev in merged.items():
            sel.register(fo, ev)
        ready = sel.select(30)
        for fo in merged:
            sel.unregister(fo)
        for key, ev in ready:
            fo = key.fileobj
            try:
                if fo == 0:
                    data = os.read(0, READ_SIZE)
                    if data:
                        to_sock += data
                    else:
                        in_open = False
                elif fo is sock and ev & selectors.EVENT_READ:
                    data = sock.recv(READ_SIZE)
                    if data:
                        to_out += data
                    else:
                        sock_open = False
                if fo is sock and ev & selectors.EVENT_WRITE and to_sock:
                    n = sock.send(to_sock)
                    del to_sock[:n]
                if fo == 1 and to_out:
                    n = os.write(1, to_out)
                    del to_out[:n]
            except (BlockingIOError, InterruptedError):
                pass
            except OSError:
                return 0
        if not in_open and not to_sock:
            try:
                sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            if not sock_open:
                break
    return 0


# ---------------------------------------------------------------- decoder self-tests

def decode_all(data, chunk_sizes):
    """Feeds data in the given chunk sizes; returns (frames, error message or None)."""
    dec = Decoder()
    frames = 0
    pos = 0
    i = 0
    try:
        while pos < len(data):
            n = chunk_sizes[i % len(chunk_sizes)] if chunk_sizes else len(data)
            i += 1
            frames += len(dec.feed(data[pos:pos + n]))
            pos += n
    except ProtocolError as e:
        return frames, str(e)
    return frames, None


def sample_frames(rng):
    sid = rng.randrange(1 << 32)
    seq = rng.randrange(1 << 40)
    return [
        f_json(T_HELLO, {'v': 1, 'secret': 'x' * 64, 'session': 'abc', 'streams': [{'id': 1, 'recv': 5}]}),
        frame(T_DATA, _DATA.pack(sid, seq, seq, 4096) + os.urandom(rng.randrange(1, 300))),
        frame(T_ACK, _ACK.pack(sid, seq, 1 << 20)),
        frame(T_CLOSE, _DATA.pack(sid, seq, seq, 0) + b'{"exit":0}'),
        f_sid_json(T_OPEN, sid, {'kind': 'pty', 'cols': 80}),
        f_sid_json(T_RESET, sid, {'reason': 'x'}),
        frame(T_RESIZE, _RESIZE.pack(sid, 80, 24)),
        frame(T_PING, _TOKEN.pack(seq)),
        frame(T_SHUTDOWN),
    ]


def selftest_fuzz(seed, iterations):
    """Random and mutated input to the decoder: only ProtocolError may come out, in bounded time."""
    rng = random.Random(seed)
    rejected = 0
    for _ in range(iterations):
        mode = rng.randrange(3)
        if mode == 0:
            data = bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 200)))
        else:
            valid = b''.join(rng.choice(sample_frames(rng)) for _ in range(rng.randrange(1, 5)))
            data = bytearray(valid)
            for _ in range(rng.randrange(0, 4) if mode == 1 else 0):
                op = rng.randrange(3)
                at = rng.randrange(len(data) + 1)
                if op == 0 and data:
                    data[min(at, len(data) - 1)] = rng.getrandbits(8)
                elif op == 1:
                    data[at:at] = bytes([rng.getrandbits(8)])
                else:
                    del data[at:at + rng.randrange(1, 8)]
            data = bytes(data)
        chunks = [rng.randrange(1, 64) for _ in range(rng.randrange(1, 5))]
        try:
            _, err = decode_all(data, chunks)
        except Exception as e:
            sys.stdout.write(json.dumps({'ok': False, 'input': data.hex(), 'exception': repr(e)}) + '\n')
            return 1
        if err:
            rejected += 1
    sys.stdout.write(json.dumps({'ok': True, 'iterations': iterations, 'rejected': rejected}) + '\n')
    return 0


def decode_lines():
    """One hex input per stdin line -> one JSON verdict per line: frames decoded and error."""
    for line in sys.stdin:
        data = bytes.fromhex(line.strip())
        try:
            frames, err = decode_all(data, [7, 1, 4096])
            out = {'frames': frames, 'error': err}
        except Exception as e:
            out = {'frames': -1, 'error': None, 'exception': repr(e)}
        sys.stdout.write(json.dumps(out) + '\n')
        sys.stdout.flush()
    return 0


def main(argv):
    if len(argv) >= 3 and argv[1] == 'relay':
        return relay(argv[2])
    if len(argv) >= 3 and argv[1] == '--selftest-fuzz':
        return selftest_fuzz(int(argv[2]), int(argv[3]) if len(argv) > 3 else 20000)
    if len(argv) >= 2 and argv[1] == '--decode-lines':
        return decode_lines()
    if len(argv) >= 2 and argv[1] == 'start':
        # Started from a stored copy: header line, then the secret line, on stdin.
        reader = sys.stdin.buffer
        header = json.loads(read_line(reader, 4096).decode())
        with open(os.path.abspath(argv[0]), 'rb') as f:
            program = f.read()
        return boot(header, program, reader)
    sys.stderr.write('usage: keeper.py relay SOCKET | start | --selftest-fuzz SEED [N] | --decode-lines\n')
    return 2


if __name__ == '__main__':
    sys.exit(main(sys.argv))

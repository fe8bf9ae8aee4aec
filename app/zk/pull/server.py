"""The 4370 server: TCP connections and UDP sessions, each answered by a :class:`PullSession`.

Its own threads, never the kiosk's: one accepts TCP connections and gives each its thread (at
most ``max_connections``, ``per_address`` from one address: more are closed at once), one serves
UDP. Bad clients cost little: a frame longer than ``max_frame`` or a stream that loses the frame
start closes the connection, a silent one is closed after ``idle_timeout``, a client that stops
reading is given ``idle_timeout`` to take an answer. UDP sessions are bounded and expire.
"""

from __future__ import annotations

import select
import socket
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable

from loguru import logger

from . import protocol as p
from .device import PullDevice
from .session import Answer, AuditBudget, PullOptions, PullSession

#: Between the writes of one chunk (announcement, then data): node-zklib and zkteco-js parse one
#: frame per socket read, as a terminal's frames reach them over a real network.
FRAME_GAP_S = 0.015
#: The reply id of a stream reader's CMD_CONNECT: pyzk (and the clients made from it) count reply
#: ids from 0 and read the socket as a stream (an answer's frames may arrive in one read), so its
#: chunks need no gap; node-zklib and zkteco-js count from 1. Any other client is paced.
STREAM_READER_CONNECT_REPLY = 0
MAX_GAP_S = 0.15
ACCEPT_POLL_S = 0.25
REFUSAL_LOG_EVERY_S = 10.0


class _Throttle:
    """At most one event per key per ``every`` seconds (bounded: old keys are dropped)."""

    def __init__(self, every: float, size: int = 256):
        self.every, self.size = every, size
        self._last: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def allow(self, key: str) -> bool:
        now = time.monotonic()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < self.every:
                return False
            self._last[key] = now
            self._last.move_to_end(key)
            while len(self._last) > self.size:
                self._last.popitem(last=False)
            return True


class _Pacing:
    """When the next write of a chunked answer may go (node clients take one frame per read).

    The gap is :data:`FRAME_GAP_S`, or three times the longest of the client's last reactions to
    a short answer if that is more (that part at most :data:`MAX_GAP_S`): a client whose process
    waits long for a CPU (a loaded PC) reads late, and must still find each frame alone. A stream
    reader (:data:`STREAM_READER_CONNECT_REPLY`) gets no gap.
    """

    def __init__(self, gap: float, clock: Callable[[], float]):
        self.gap, self.clock = gap, clock
        self.stream_reader = False   # set at CMD_CONNECT: this client needs no gap at all
        self.not_before = 0.0
        self._answered_at: float | None = None
        self._reactions: deque[float] = deque(maxlen=4)

    def client_spoke(self) -> None:
        if self._answered_at is not None:
            self._reactions.append(self.clock() - self._answered_at)
            self._answered_at = None

    def answered(self, answer: Answer, pipelined: bool) -> None:
        short = len(answer.writes) == 1 and sum(len(f) for f in answer.writes[0]) < 1024
        self._answered_at = self.clock() if short and not pipelined else None
        if not pipelined:
            self.not_before = 0.0

    def wrote(self) -> None:
        gap = max(self.gap, min(MAX_GAP_S, 3 * max(self._reactions, default=0.0)))
        self.not_before = self.clock() + gap


class PullServer:
    """Serve the pull protocol on ``host:port`` over TCP and/or UDP until :meth:`stop`."""

    def __init__(self, device: PullDevice, options: PullOptions, *, host: str = "0.0.0.0", port: int = 4370,
                 tcp: bool = True, udp: bool = True, max_connections: int = 16, per_address: int = 4,
                 idle_timeout: float = 60.0, max_frame: int = 8192, udp_sessions: int = 64,
                 frame_gap: float = FRAME_GAP_S, clock: Callable[[], float] = time.monotonic):
        if not (tcp or udp):
            raise ValueError("serve TCP, UDP or both")
        self.device, self.options = device, options
        self.host, self.port, self.tcp, self.udp = host, port, tcp, udp
        self.max_connections, self.per_address = max_connections, per_address
        self.idle_timeout, self.max_frame, self.udp_sessions = idle_timeout, max_frame, udp_sessions
        self.frame_gap, self.clock = frame_gap, clock
        self._halt = threading.Event()
        self._lock = threading.Lock()
        self._tcp_socket: socket.socket | None = None
        self._udp_socket: socket.socket | None = None
        self._threads: list[threading.Thread] = []
        self._connections: dict[socket.socket, str] = {}
        self._udp: OrderedDict[tuple, tuple[PullSession, float]] = OrderedDict()
        self._refusal_log = _Throttle(REFUSAL_LOG_EVERY_S)
        self._refusal_audit = _Throttle(60.0)
        self._audit_budget = AuditBudget()
        self.counters = {"connections": 0, "refused_connections": 0, "bad_frames": 0, "udp_datagrams": 0}
        self.last_client: str | None = None

    # -- life cycle -------------------------------------------------------------------------------
    def start(self) -> PullServer:
        """Bind (OSError when the port is taken) and serve on background threads."""
        try:
            if self.tcp:
                s = self._tcp_socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind((self.host, self.port))
                s.listen(64)
                s.settimeout(ACCEPT_POLL_S)
                self.port = s.getsockname()[1]
            if self.udp:
                u = self._udp_socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                u.bind((self.host, self.port))
                u.settimeout(ACCEPT_POLL_S)
                self.port = u.getsockname()[1]
        except OSError:
            self._close_listeners()
            raise
        if self._tcp_socket is not None:
            self._spawn(self._accept_loop, "zk-pull-accept")
        if self._udp_socket is not None:
            self._spawn(self._udp_loop, "zk-pull-udp")
        logger.info("zk pull: serving on {}:{} ({})", self.host, self.port,
                    "+".join(t for t, on in (("tcp", self.tcp), ("udp", self.udp)) if on))
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._halt.set()
        self._close_listeners()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        deadline = time.monotonic() + timeout
        for thread in list(self._threads):
            thread.join(max(0.0, deadline - time.monotonic()))
        self._threads = [t for t in self._threads if t.is_alive()]
        if self._threads:
            logger.warning("zk pull: {} thread(s) still running after stop", len(self._threads))
        logger.info("zk pull: stopped")

    def status(self) -> dict:
        with self._lock:
            open_now = len(self._connections) + len(self._udp)
        return {"port": self.port, "tcp": self.tcp, "udp": self.udp, "clients": open_now,
                "last_client": self.last_client, **self.counters}

    def _close_listeners(self) -> None:
        for s in (self._tcp_socket, self._udp_socket):
            if s is not None:
                s.close()

    def _spawn(self, target, name: str, *args) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
        thread.start()

    def _count(self, address: str) -> tuple[int, int]:
        """Connections open in all, and from ``address`` (under the lock)."""
        return len(self._connections), sum(1 for a in self._connections.values() if a == address)

    def _forget_hung_up(self) -> None:
        """Stop counting connections whose client has hung up (under the lock); their serving
        threads close them when they see it."""
        for conn in [c for c in self._connections if _hung_up(c)]:
            self._connections.pop(conn, None)

    def _refused(self, peer: str, why: str) -> None:
        self.counters["refused_connections"] += 1
        if self._refusal_log.allow(peer):
            logger.warning("zk pull: connection from {} refused: {}", peer, why)
        if self._refusal_audit.allow(peer):
            try:
                self.device.audit(f"zk-pull {peer}", "zk_pull_refused_connection", reason=why)
            except Exception:
                logger.opt(exception=True).warning("zk pull: auditing a refused connection failed")

    # -- TCP --------------------------------------------------------------------------------------
    def _accept_loop(self) -> None:
        listener = self._tcp_socket
        while not self._halt.is_set():
            try:
                conn, (address, port) = listener.accept()
            except TimeoutError:
                continue
            except OSError:   # closed by stop()
                return
            with self._lock:
                total, same = self._count(address)
                if total >= self.max_connections or same >= self.per_address:
                    # Count only clients still there: pyzk probes the port with a connection it
                    # closes at once before its real one, and a busy machine's serving thread may
                    # not have seen that hang-up yet (three pyzk clients on one HR server were
                    # refused as six connections).
                    self._forget_hung_up()
                    total, same = self._count(address)
                accepted = total < self.max_connections and same < self.per_address
                if accepted:
                    self._connections[conn] = address
            if not accepted:
                conn.close()
                self._refused(address, "too many connections" if total >= self.max_connections
                              else "too many connections from this address")
                continue
            self.counters["connections"] += 1
            try:
                self._spawn(self._serve_tcp, f"zk-pull-tcp-{address}:{port}", conn, f"{address}:{port}")
            except RuntimeError as exc:   # no thread to be had: this client waits for another day
                with self._lock:
                    self._connections.pop(conn, None)
                conn.close()
                self._refused(address, f"no thread: {exc}")

    def _serve_tcp(self, conn: socket.socket, peer: str) -> None:
        session = PullSession(self.device, self.options, peer, "tcp", self._audit_budget)
        frames = p.TcpFrames(self.max_frame)
        pace = _Pacing(self.frame_gap, self.clock)
        conn.settimeout(self.idle_timeout)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            while not self._halt.is_set():
                data = conn.recv(65536)
                if not data:
                    return
                pace.client_spoke()
                batch = frames.feed(data)
                for i, request in enumerate(batch):
                    self.last_client = peer
                    if request.command == p.CMD_CONNECT:
                        pace.stream_reader = request.reply == STREAM_READER_CONNECT_REPLY
                    answer = self._answer(session, request)
                    self._send_tcp(conn, answer, pace)
                    if answer.close:
                        return
                    # A request already waiting when an answer went out (node-zklib asks for every
                    # chunk at once) waits its turn too; one sent after it (pyzk) needs no wait.
                    pipelined = i < len(batch) - 1 or bool(select.select([conn], [], [], 0)[0])
                    pace.answered(answer, pipelined)
                if frames.broken is not None:
                    self.counters["bad_frames"] += 1
                    session.refuse(p.Frame(0, 0, 0, 0, b""), f"bad stream, connection closed: {frames.broken}")
                    return
        except (TimeoutError, OSError) as exc:
            if not self._halt.is_set():
                logger.info("zk pull: tcp {} closed: {}", peer, exc or type(exc).__name__)
        except Exception:   # a bug must cost this client only
            logger.exception("zk pull: tcp {} failed", peer)
        finally:
            with self._lock:
                self._connections.pop(conn, None)
            conn.close()
            logger.info("zk pull: tcp {} disconnected", peer)

    def _send_tcp(self, conn: socket.socket, answer: Answer, pace: _Pacing) -> None:
        paced = len(answer.writes) > 1 and not pace.stream_reader
        for group in answer.writes:
            if paced:
                wait = pace.not_before - self.clock()
                if wait > 0 and self._halt.wait(wait):
                    raise OSError("server stopping")
            conn.sendall(b"".join(p.tcp(f) for f in group))
            if paced:
                pace.wrote()

    def _answer(self, session: PullSession, request: p.Frame) -> Answer:
        try:
            return session.handle(request)
        except Exception as exc:   # a fault in one answer is this client's error, never the terminal's
            logger.exception("zk pull: command {} from {} failed", request.command, session.peer)
            return session.refuse(request, f"failed: {type(exc).__name__}")

    # -- UDP --------------------------------------------------------------------------------------
    def _udp_loop(self) -> None:
        sock = self._udp_socket
        while not self._halt.is_set():
            try:
                packet, (address, port) = sock.recvfrom(self.max_frame + 1)
            except TimeoutError:
                self._expire_udp()
                continue
            except OSError:   # closed by stop()
                return
            try:
                self._udp_datagram(sock, packet, address, port)
            except Exception:   # a bug must cost this datagram only, never the UDP service
                logger.exception("zk pull: udp datagram from {}:{} failed", address, port)

    def _udp_datagram(self, sock: socket.socket, packet: bytes, address: str, port: int) -> None:
        self.counters["udp_datagrams"] += 1
        peer = f"{address}:{port}"
        if len(packet) > self.max_frame:
            self.counters["bad_frames"] += 1
            return
        try:
            request = p.parse(packet)
        except p.ProtocolError:
            self.counters["bad_frames"] += 1
            return
        session = self._udp_session(request, address, port, peer)
        if session is None:
            return
        self.last_client = peer
        answer = self._answer(session, request)
        try:
            for group in answer.writes:
                for f in group:
                    sock.sendto(f, (address, port))
        except OSError as exc:
            logger.info("zk pull: udp {}: {}", peer, exc)
        if answer.close:
            with self._lock:
                self._udp.pop((address, port, session.session_id), None)

    def _udp_session(self, request: p.Frame, address: str, port: int, peer: str) -> PullSession | None:
        now = self.clock()
        with self._lock:
            if request.command != p.CMD_CONNECT:
                found = self._udp.get((address, port, request.session))
                if found is None:
                    self.counters["bad_frames"] += 1
                    return None
                self._udp[(address, port, request.session)] = (found[0], now)
                self._udp.move_to_end((address, port, request.session))
                return found[0]
            same = [k for k in self._udp if k[0] == address]
            if len(same) >= self.per_address:
                self._udp.pop(same[0])   # the oldest session of that address gives way
            elif len(self._udp) >= self.udp_sessions:
                self._udp.popitem(last=False)
        session = PullSession(self.device, self.options, peer, "udp", self._audit_budget)
        answer = self._answer(session, request)   # CONNECT: gives the session its id
        with self._lock:
            self._udp[(address, port, session.session_id)] = (session, now)
        self.counters["connections"] += 1
        try:
            for group in answer.writes:
                for f in group:
                    self._udp_socket.sendto(f, (address, port))
        except OSError as exc:
            logger.info("zk pull: udp {}: {}", peer, exc)
        return None

    def _expire_udp(self) -> None:
        cutoff = self.clock() - self.idle_timeout
        with self._lock:
            for key in [k for k, (_s, seen) in self._udp.items() if seen < cutoff]:
                del self._udp[key]


def _hung_up(conn: socket.socket) -> bool:
    """Whether the peer closed ``conn`` (readable, and a peek reads the end of the stream);
    a request waiting to be read is a client still there."""
    try:
        readable, _, _ = select.select([conn], [], [], 0)
        return bool(readable) and conn.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False
    except (OSError, ValueError):   # reset, or already closed by its thread
        return True

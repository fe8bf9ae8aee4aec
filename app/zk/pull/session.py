"""One client's conversation: commands in, answers out, as a ZKTeco terminal gives them.

No I/O here: :meth:`PullSession.handle` takes a parsed frame and returns an :class:`Answer`, the
frames to send (each group one write) and whether to close. The transports (``server.py``) do
the sending. Every answer echoes the request's session and reply ids; refused commands are
logged and audited (at most :data:`AUDIT_PER_MINUTE` per client address, so a flood cannot fill the log).
"""

from __future__ import annotations

import random
import struct
import threading
import time
from dataclasses import dataclass, field

from loguru import logger

from app import __version__

from . import protocol as p
from .device import PullDevice, WriteRefused

#: Audit entries one client address may cause per minute (connections and refusals): a flood
#: of connects or bad commands must not flood the audit log or the database's disk writes.
AUDIT_PER_MINUTE = 30
MAX_AUTH_TRIES = 3
#: Answers up to this size (4-byte total + records) go in one CMD_DATA frame; larger ones are
#: read in chunks (pyzk reads a direct answer with one 1 KiB receive over UDP).
SMALL_ANSWER = p.UDP_DATA_PER_DATAGRAM - p.HEADER.size


@dataclass(frozen=True)
class PullOptions:
    comm_key: int = 0
    allow_writes: bool = False
    allow_set_time: bool = False
    device_name: str = "Daka"
    serial_number: str = "DAKA0000000000"
    mac: str = "00:00:00:00:00:00"


@dataclass
class Answer:
    writes: list[list[bytes]] = field(default_factory=list)   # frames (no TCP top); a group is one write
    close: bool = False


# The options a client may ask for, and the answer (None: from PullOptions).
FIXED_OPTIONS = {
    b"~Platform": "ZMM220_TFT",
    b"~ZKFPVersion": "10",
    b"~OS": "1",
    b"ZKFaceVersion": "7",
    b"FaceFunOn": "1",
    b"~ExtendFmt": "0",
    b"~UserExtFmt": "1",
    b"CompatOldFirmware": "0",
    b"~PIN2Width": str(p.USER_ID_BYTES - 1),
    b"~IsOnlyRFMachine": "0",
    b"~MaxUserCount": "100",
    b"~MaxAttLogCount": "10",
}
REFUSED = {
    p.CMD_CLEAR_ATTLOG: "clearing the attendance log is never done over this protocol",
    p.CMD_CLEAR_DATA: "clearing the terminal's data is never done over this protocol",
    p.CMD_CLEAR_ADMIN: "administrators are managed in the admin",
    p.CMD_CLEAR_OPLOG: "the operation log is the audit log; it is not cleared",
    p.CMD_RESTART: "restart is done from the admin",
    p.CMD_POWEROFF: "power off is done from the admin",
    p.CMD_UNLOCK: "the door relay is not opened over this protocol",
    p.CMD_OPTIONS_WRQ: "options are set in the admin",
    p.CMD_DELETE_USERTEMP: "face templates are managed in the admin",
}


class AuditBudget:
    """How many audit entries each address may still cause this minute (shared by its sessions)."""

    def __init__(self, per_minute: int = AUDIT_PER_MINUTE, clock=time.monotonic, size: int = 1024):
        self.per_minute, self.clock, self.size = per_minute, clock, size
        self._windows: dict[str, tuple[float, int]] = {}
        self._lock = threading.Lock()

    def allow(self, address: str) -> bool:
        now = self.clock()
        with self._lock:
            start, used = self._windows.get(address, (now, 0))
            if now - start >= 60.0:
                start, used = now, 0
            if len(self._windows) >= self.size and address not in self._windows:
                self._windows.clear()   # bounded: forget the old windows rather than grow
            self._windows[address] = (start, used + 1)
            return used < self.per_minute


class PullSession:
    """One client (a TCP connection, or a UDP address and session id)."""

    def __init__(self, device: PullDevice, options: PullOptions, peer: str, transport: str,
                 budget: AuditBudget | None = None):
        self.device, self.options, self.peer, self.transport = device, options, peer, transport
        self.budget = budget or AuditBudget()
        self.session_id = 0
        self.authed = False
        self.auth_tries = 0
        self.buffer: bytes | None = None   # the answer being read in chunks
        self.refusals = 0
        self.actor = f"zk-pull {transport} {peer}"

    # -- helpers ---------------------------------------------------------------------------------
    def _frame(self, command: int, request: p.Frame, payload: bytes = b"") -> bytes:
        return p.frame(command, self.session_id, request.reply, payload)

    def _one(self, command: int, request: p.Frame, payload: bytes = b"", close: bool = False) -> Answer:
        return Answer([[self._frame(command, request, payload)]], close)

    def refuse(self, request: p.Frame, why: str, code: int = p.ACK_ERROR, close: bool = False) -> Answer:
        self.refusals += 1
        if self.refusals <= AUDIT_PER_MINUTE:
            logger.warning("zk pull: {} refused command {} from {}: {}", self.transport, request.command, self.peer,
                           why)
        self._audit("zk_pull_refused", command=request.command, reason=why)
        return self._one(code, request, close=close)

    def _audit(self, action: str, **detail) -> None:
        if not self.budget.allow(self.peer.rsplit(":", 1)[0]):
            return
        try:
            self.device.audit(self.actor, action, **detail)
        except Exception:   # the database away must not take the connection down
            logger.opt(exception=True).warning("zk pull: auditing {} failed", action)

    # -- the conversation ------------------------------------------------------------------------
    def handle(self, request: p.Frame) -> Answer:
        command = request.command
        if command == p.CMD_CONNECT:
            return self._connect(request)
        if self.session_id == 0:
            return self.refuse(request, "no CMD_CONNECT first", close=True)
        if command == p.CMD_AUTH:
            return self._auth(request)
        if not self.authed:
            return self.refuse(request, "not authenticated (comm key)", code=p.ACK_UNAUTH)
        if command == p.CMD_EXIT:
            self.buffer = None
            return self._one(p.ACK_OK, request, close=True)
        if command in (p.ACK_OK, p.ACK_ERROR, p.ACK_UNKNOWN):
            return Answer()   # a client's acknowledgement needs no answer
        handler = _HANDLERS.get(command)
        if handler is not None:
            return handler(self, request)
        if command in REFUSED:
            return self.refuse(request, REFUSED[command])
        return self.refuse(request, "unknown command", code=p.ACK_UNKNOWN)

    def _connect(self, request: p.Frame) -> Answer:
        self.session_id = random.randint(1, p.USHRT_MAX - 1)
        self.authed = self.options.comm_key == 0
        self.buffer = None
        logger.info("zk pull: {} session {} opened by {}", self.transport, self.session_id, self.peer)
        self._audit("zk_pull_connect", session_id=self.session_id, comm_key=self.options.comm_key != 0)
        return self._one(p.ACK_OK if self.authed else p.ACK_UNAUTH, request)

    def _auth(self, request: p.Frame) -> Answer:
        if self.options.comm_key == 0 or p.comm_key_matches(self.options.comm_key, self.session_id,
                                                            request.payload):
            self.authed = True
            return self._one(p.ACK_OK, request)
        self.auth_tries += 1
        return self.refuse(request, "wrong comm key", code=p.ACK_UNAUTH, close=self.auth_tries >= MAX_AUTH_TRIES)

    def _ok(self, request: p.Frame) -> Answer:
        return self._one(p.ACK_OK, request)

    def _free_sizes(self, request: p.Frame) -> Answer:
        return self._one(p.ACK_OK, request, self.device.counts().free_sizes())

    def _get_time(self, request: p.Frame) -> Answer:
        return self._one(p.ACK_OK, request, struct.pack("<I", p.encode_time(self.device.now())))

    def _set_time(self, request: p.Frame) -> Answer:
        if not self.options.allow_set_time:
            return self.refuse(request, "setting the clock over this protocol is off ([zk_pull] allow_set_time)")
        if len(request.payload) < 4:
            return self.refuse(request, "no time given")
        try:
            when = p.decode_time(struct.unpack_from("<I", request.payload)[0])
            out = self.device.set_time(when)
        except (ValueError, WriteRefused) as exc:   # ClockError is a ValueError
            return self.refuse(request, f"clock not set: {exc}")
        self.device.audit(self.actor, "set_time", date=when.strftime("%Y-%m-%d"), time=when.strftime("%H:%M:%S"),
                          output=out)
        return self._ok(request)

    def _options(self, request: p.Frame) -> Answer:
        key = request.payload.split(b"\x00", 1)[0]
        value = {b"~SerialNumber": self.options.serial_number, b"~DeviceName": self.options.device_name,
                 b"MAC": self.options.mac}.get(key) or FIXED_OPTIONS.get(key)
        if value is None:
            return self._one(p.ACK_ERROR, request)   # an option this terminal does not have: not a refusal
        return self._one(p.ACK_OK, request, p.options_reply(key, value))

    def _version(self, request: p.Frame) -> Answer:
        return self._one(p.ACK_OK, request, f"Ver 6.60 Daka {__version__}".encode() + b"\x00")

    def _pin_width(self, request: p.Frame) -> Answer:
        return self._one(p.ACK_OK, request, bytes([p.USER_ID_BYTES - 1]))

    def _read_request(self, request: p.Frame) -> Answer:
        if len(request.payload) < 11:
            return self.refuse(request, "short data request")
        _one, what, fct, _ext = struct.unpack_from("<bhii", request.payload)
        if what == p.CMD_USERTEMP_RRQ and fct == p.FCT_USER:
            records = self.device.users()
        elif what == p.CMD_ATTLOG_RRQ:
            records = self.device.attendance()
        else:
            return self.refuse(request, f"data {what}/{fct} is not offered", code=p.ACK_UNKNOWN)
        answer = struct.pack("<I", len(records)) + records
        if len(answer) <= SMALL_ANSWER:
            self.buffer = None
            return self._one(p.CMD_DATA, request, answer)
        self.buffer = answer
        return self._one(p.ACK_OK, request, b"\x00" + struct.pack("<I", len(answer)))

    def _read_chunk(self, request: p.Frame) -> Answer:
        if len(request.payload) < 8:
            return self.refuse(request, "short chunk request")
        start, size = struct.unpack_from("<ii", request.payload)
        largest = p.TCP_MAX_CHUNK if self.transport == "tcp" else p.UDP_MAX_CHUNK
        buffer = self.buffer
        if buffer is None or start < 0 or size <= 0 or size > largest or start + size > len(buffer):
            return self.refuse(request, f"chunk {start}+{size} outside the prepared data")
        chunk = buffer[start:start + size]
        prepare = self._frame(p.CMD_PREPARE_DATA, request, struct.pack("<II", size, 0))
        done = self._frame(p.ACK_OK, request)
        if self.transport == "tcp":
            # The node clients take one frame per socket read: the announcement goes alone,
            # the data and its acknowledgement together (the transport paces the writes).
            return Answer([[prepare], [self._frame(p.CMD_DATA, request, chunk), done]])
        step = p.UDP_DATA_PER_DATAGRAM
        datagrams = [self._frame(p.CMD_DATA, request, chunk[i:i + step]) for i in range(0, len(chunk), step)]
        return Answer([[prepare, *datagrams, done]])

    def _free_data(self, request: p.Frame) -> Answer:
        self.buffer = None
        return self._ok(request)

    def _user_write(self, request: p.Frame) -> Answer:
        if not self.options.allow_writes:
            return self.refuse(request, "writing users over this protocol is off ([zk_pull] allow_writes)")
        try:
            done = self.device.write_user(request.payload, self.actor)
        except WriteRefused as exc:
            return self.refuse(request, str(exc))
        logger.info("zk pull: {} by {}", done, self.peer)
        return self._ok(request)

    def _user_delete(self, request: p.Frame) -> Answer:
        if not self.options.allow_writes:
            return self.refuse(request, "deleting users over this protocol is off ([zk_pull] allow_writes)")
        if len(request.payload) < 2:
            return self.refuse(request, "no uid given")
        try:
            done = self.device.delete_user(struct.unpack_from("<H", request.payload)[0], self.actor)
        except WriteRefused as exc:
            return self.refuse(request, str(exc))
        logger.info("zk pull: {} by {}", done, self.peer)
        return self._ok(request)


_HANDLERS = {
    p.CMD_DISABLEDEVICE: PullSession._ok,
    p.CMD_ENABLEDEVICE: PullSession._ok,
    p.CMD_REFRESHDATA: PullSession._ok,
    p.CMD_REFRESHOPTION: PullSession._ok,
    p.CMD_REG_EVENT: PullSession._ok,
    p.CMD_GET_FREE_SIZES: PullSession._free_sizes,
    p.CMD_GET_TIME: PullSession._get_time,
    p.CMD_SET_TIME: PullSession._set_time,
    p.CMD_OPTIONS_RRQ: PullSession._options,
    p.CMD_GET_VERSION: PullSession._version,
    p.CMD_GET_PINWIDTH: PullSession._pin_width,
    p.CMD_DATA_WRRQ: PullSession._read_request,
    p.CMD_READ_BUFFER: PullSession._read_chunk,
    p.CMD_FREE_DATA: PullSession._free_data,
    p.CMD_USER_WRQ: PullSession._user_write,
    p.CMD_DELETE_USER: PullSession._user_delete,
}

"""ZKTeco's binary "pull" protocol on port 4370: frames, checksums, the comm key, records, times.

A frame is an 8-byte header ``<HHHH>`` (command, checksum, session id, reply id) and a payload.
Over TCP each frame is preceded by ``50 50 82 7D`` and the frame's length as ``<I>``; over UDP a
datagram is one frame. Nothing here does I/O: :class:`TcpFrames` cuts a byte stream into frames
with a bounded buffer, the rest builds and reads bytes.
"""

from __future__ import annotations

import datetime as dt
import struct
from dataclasses import dataclass

# -- commands (the clients' names) -------------------------------------------------------------
CMD_USER_WRQ = 8
CMD_USERTEMP_RRQ = 9
CMD_OPTIONS_RRQ = 11
CMD_OPTIONS_WRQ = 12
CMD_ATTLOG_RRQ = 13
CMD_CLEAR_DATA = 14
CMD_CLEAR_ATTLOG = 15
CMD_DELETE_USER = 18
CMD_DELETE_USERTEMP = 19
CMD_CLEAR_ADMIN = 20
CMD_UNLOCK = 31
CMD_CLEAR_OPLOG = 33
CMD_GET_FREE_SIZES = 50
CMD_GET_PINWIDTH = 69
CMD_GET_TIME = 201
CMD_SET_TIME = 202
CMD_REG_EVENT = 500
CMD_CONNECT = 1000
CMD_EXIT = 1001
CMD_ENABLEDEVICE = 1002
CMD_DISABLEDEVICE = 1003
CMD_RESTART = 1004
CMD_POWEROFF = 1005
CMD_REFRESHDATA = 1013
CMD_REFRESHOPTION = 1014
CMD_GET_VERSION = 1100
CMD_AUTH = 1102
CMD_PREPARE_DATA = 1500
CMD_DATA = 1501
CMD_FREE_DATA = 1502
CMD_DATA_WRRQ = 1503
CMD_READ_BUFFER = 1504

ACK_OK = 2000
ACK_ERROR = 2001
ACK_UNAUTH = 2005
ACK_UNKNOWN = 0xFFFF

FCT_USER = 5

USHRT_MAX = 65535
TCP_MAGIC = b"\x50\x50\x82\x7d"
HEADER = struct.Struct("<HHHH")
TOP = struct.Struct("<4sI")
#: The largest chunk a client asks for over TCP (pyzk, node-zklib and zkteco-js all use 0xFFC0).
TCP_MAX_CHUNK = 0xFFC0
#: Over UDP pyzk reads at most 1,024 bytes of data per datagram and asks for 16 KiB chunks.
UDP_DATA_PER_DATAGRAM = 1024
UDP_MAX_CHUNK = 16 * 1024

USER_RECORD = struct.Struct("<HB8s24sIx7sx24s")       # 72 bytes
ATTENDANCE_RECORD = struct.Struct("<H24sB4sB8s")       # 40 bytes
VERIFY_FACE = 15
NAME_BYTES = 24
USER_ID_BYTES = 24


class ProtocolError(ValueError):
    """Bytes that are not a frame of this protocol."""


@dataclass(frozen=True)
class Frame:
    command: int
    checksum: int
    session: int
    reply: int
    payload: bytes


def checksum(data: bytes) -> int:
    """The header's checksum: a ones'-complement-like sum of little-endian 16-bit words.

    Computed over the frame with its checksum field zero, as the clients compute it.
    """
    total = 0
    end = len(data) - (len(data) % 2)
    for (word,) in struct.iter_unpack("<H", data[:end]):
        total += word
        if total > USHRT_MAX:
            total -= USHRT_MAX
    if len(data) % 2:
        total += data[-1]
    while total > USHRT_MAX:
        total -= USHRT_MAX
    total = ~total
    while total < 0:
        total += USHRT_MAX
    return total


def frame(command: int, session: int, reply: int, payload: bytes = b"") -> bytes:
    """One frame (no TCP top) with its checksum."""
    bare = HEADER.pack(command, 0, session, reply) + payload
    return HEADER.pack(command, checksum(bare), session, reply) + payload


def tcp(packet: bytes) -> bytes:
    """A frame as sent over TCP: the magic and the length first."""
    return TOP.pack(TCP_MAGIC, len(packet)) + packet


def parse(packet: bytes) -> Frame:
    """A frame from its bytes (header and payload); the checksum is read, not enforced.

    Clients differ in how they sum an odd last byte, and a device answers them all.
    """
    if len(packet) < HEADER.size:
        raise ProtocolError(f"a frame has at least {HEADER.size} bytes, got {len(packet)}")
    command, check, session, reply = HEADER.unpack_from(packet)
    return Frame(command, check, session, reply, bytes(packet[HEADER.size:]))


class TcpFrames:
    """Cut a TCP byte stream into frames; never holds more than ``limit`` bytes of one frame.

    ``feed`` returns the complete frames. A stream that does not start with the magic, or
    announces a frame longer than ``limit``, is broken from there on: the frames before it are
    returned and :attr:`broken` says what went wrong (the caller answers them, then closes).
    """

    def __init__(self, limit: int):
        self.limit = limit
        self.broken: ProtocolError | None = None
        self._buffer = bytearray()

    @property
    def pending(self) -> int:
        return len(self._buffer)

    def feed(self, data: bytes) -> list[Frame]:
        if self.broken is not None:
            return []
        self._buffer += data
        frames = []
        while len(self._buffer) >= TOP.size:
            magic, length = TOP.unpack_from(self._buffer)
            if magic != TCP_MAGIC:
                self.broken = ProtocolError("the stream lost the frame start (50 50 82 7D)")
            elif length < HEADER.size or length > self.limit:
                self.broken = ProtocolError(f"frame length {length} outside {HEADER.size}..{self.limit}")
            if self.broken is not None:
                self._buffer.clear()
                return frames
            if len(self._buffer) < TOP.size + length:
                break
            frames.append(parse(bytes(self._buffer[TOP.size:TOP.size + length])))
            del self._buffer[:TOP.size + length]
        return frames


# -- the comm key ------------------------------------------------------------------------------

def comm_key(key: int, session: int, ticks: int) -> bytes:
    """The 4 bytes a client proves it knows the comm key with (ZKTeco's MakeKey).

    The key's 32 bits are reversed, the session id added, the bytes scrambled with "ZKSO"
    and the ticks byte; the ticks byte itself travels in clear as the third byte.
    """
    reversed_bits = int(f"{key & 0xFFFFFFFF:032b}"[::-1], 2)
    k = (reversed_bits + session) & 0xFFFFFFFF
    b = bytes(x ^ y for x, y in zip(struct.pack("<I", k), b"ZKSO"))
    b = b[2:4] + b[0:2]   # the two 16-bit halves swap places
    t = ticks & 0xFF
    return bytes((b[0] ^ t, b[1] ^ t, t, b[3] ^ t))


def comm_key_matches(key: int, session: int, proof: bytes) -> bool:
    return len(proof) >= 4 and comm_key(key, session, proof[2]) == bytes(proof[:4])


# -- times -------------------------------------------------------------------------------------

def encode_time(t: dt.datetime) -> int:
    """A terminal-local time as the protocol's u32 (seconds in a calendar of 31-day months)."""
    return ((((t.year % 100) * 12 * 31 + (t.month - 1) * 31 + t.day - 1) * 86400)
            + (t.hour * 60 + t.minute) * 60 + t.second)


def decode_time(value: int) -> dt.datetime:
    """The inverse of :func:`encode_time` (years 2000-2099); ValueError for an impossible date."""
    second, value = value % 60, value // 60
    minute, value = value % 60, value // 60
    hour, value = value % 24, value // 24
    day, value = value % 31 + 1, value // 31
    month, value = value % 12 + 1, value // 12
    return dt.datetime(2000 + value, month, day, hour, minute, second)


# -- records -----------------------------------------------------------------------------------

def fit_utf8(text: str, limit: int) -> bytes:
    """``text`` as UTF-8 in fewer than ``limit`` bytes, cut on a character boundary.

    One byte is kept for the NUL that C clients (zkemkeeper) read the field up to.
    """
    data = text.encode("utf-8")
    if len(data) < limit:
        return data
    return data[:limit - 1].decode("utf-8", errors="ignore").encode("utf-8")


def user_record(uid: int, name: str, staff_no: str, *, privilege: int = 0) -> bytes:
    """A user as the 72-byte record of ZK8 firmware (no password, no card, group empty)."""
    return USER_RECORD.pack(uid, privilege, b"", fit_utf8(name, NAME_BYTES), 0, b"",
                            fit_utf8(staff_no, USER_ID_BYTES))


def attendance_record(uid: int, staff_no: str, local_time: dt.datetime, *, verify: int = VERIFY_FACE,
                      state: int = 0) -> bytes:
    """A punch as the 40-byte record: uid, user id, verify type, packed local time, state."""
    return ATTENDANCE_RECORD.pack(uid, fit_utf8(staff_no, USER_ID_BYTES), verify,
                                  struct.pack("<I", encode_time(local_time)), state, b"")


def options_reply(key: bytes, value: str) -> bytes:
    """``key=value`` NUL-terminated, as the options answer carries it."""
    return key + b"=" + value.encode("utf-8") + b"\x00"

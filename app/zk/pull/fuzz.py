"""A seeded fuzzer for the 4370 server: random and mutated frames over TCP and UDP.

Used by the tests (no crash, no thread leak) and by ``daka bench zkpull`` (the kiosk's frame
rate while it runs). Mutations start from the requests real clients send (connect, auth, data
requests, chunk reads, options, writes, clears) and flip bits, cut, extend, lie about lengths and
sessions, or send plain noise.
"""

from __future__ import annotations

import random
import socket
import struct
import time
from dataclasses import dataclass

from . import protocol as p


@dataclass
class FuzzReport:
    frames: int = 0
    tcp_connections: int = 0
    udp_datagrams: int = 0
    answers_bytes: int = 0
    seconds: float = 0.0


class FrameFuzzer:
    """Send at least ``n`` bad or odd frames to ``host:port`` with :meth:`run`."""

    def __init__(self, host: str, port: int, *, seed: int = 0, timeout: float = 5.0):
        self.host, self.port, self.timeout = host, port, timeout
        self.rng = random.Random(seed)

    # -- frames ------------------------------------------------------------------------------------
    def _request(self, session: int) -> bytes:
        r = self.rng
        command, payload = r.choice([
            (p.CMD_CONNECT, b""),
            (p.CMD_AUTH, r.randbytes(4)),
            (p.CMD_GET_FREE_SIZES, b""),
            (p.CMD_DATA_WRRQ, struct.pack("<bhii", 1, p.CMD_USERTEMP_RRQ, p.FCT_USER, 0)),
            (p.CMD_DATA_WRRQ, struct.pack("<bhii", 1, p.CMD_ATTLOG_RRQ, 0, 0)),
            (p.CMD_DATA_WRRQ, struct.pack("<bhii", r.randint(-128, 127), r.randint(-32768, 32767),
                                          r.randint(-2**31, 2**31 - 1), r.randint(-2**31, 2**31 - 1))),
            (p.CMD_READ_BUFFER, struct.pack("<ii", r.choice([0, 4, -1, 2**31 - 1, r.randint(0, 5000)]),
                                            r.choice([0xFFC0, 1024, 0, -5, 2**31 - 1, r.randint(1, 70000)]))),
            (p.CMD_FREE_DATA, b""),
            (p.CMD_OPTIONS_RRQ, r.choice([b"~SerialNumber", b"MAC", b"~Nope", r.randbytes(40)]) + b"\x00"),
            (p.CMD_GET_TIME, b""),
            (p.CMD_SET_TIME, struct.pack("<I", r.getrandbits(32))),
            (p.CMD_USER_WRQ, r.randbytes(r.choice([72, 28, 3, 200]))),
            (p.CMD_DELETE_USER, struct.pack("<H", r.getrandbits(16))),
            (p.CMD_CLEAR_ATTLOG, b""),
            (p.CMD_GET_VERSION, b""),
            (r.getrandbits(16), r.randbytes(r.randint(0, 64))),
        ])
        return p.frame(command, session, r.getrandbits(16), payload)

    def _mutate(self, frame: bytes) -> bytes:
        r = self.rng
        kind = r.randrange(7)
        data = bytearray(frame)
        if kind == 0 and data:                       # flip bits
            for _ in range(r.randint(1, 8)):
                data[r.randrange(len(data))] ^= 1 << r.randrange(8)
        elif kind == 1:                              # cut
            data = data[:r.randint(0, len(data))]
        elif kind == 2:                              # extend
            data += r.randbytes(r.randint(1, 300))
        elif kind == 3 and len(data) >= 8:           # another session, or a wrong checksum
            struct.pack_into("<HH", data, 2, r.getrandbits(16), r.getrandbits(16))
        elif kind == 4:                              # noise
            data = bytearray(r.randbytes(r.randint(0, 100)))
        return bytes(data)                           # 5, 6: unchanged (valid frames also reach deep states)

    def _tcp_wrap(self, frame: bytes) -> bytes:
        r = self.rng
        roll = r.random()
        if roll < 0.8:
            return p.tcp(frame)
        if roll < 0.9:   # a lying length: short, long, or huge
            return p.TCP_MAGIC + struct.pack("<I", r.choice([0, 3, len(frame) + 7, 0xFFFFFFFF])) + frame
        return r.randbytes(r.randint(1, 40)) + frame

    # -- sending -----------------------------------------------------------------------------------
    def run(self, n: int) -> FuzzReport:
        report = FuzzReport()
        t0 = time.perf_counter()
        while report.frames < n:
            if self.rng.random() < 0.7:
                self._tcp_round(report)
            else:
                self._udp_round(report)
        report.seconds = time.perf_counter() - t0
        return report

    def _drain(self, sock: socket.socket, report: FuzzReport) -> None:
        sock.setblocking(False)
        try:
            while chunk := sock.recv(65536):
                report.answers_bytes += len(chunk)
        except (BlockingIOError, OSError):
            pass

    def _tcp_round(self, report: FuzzReport) -> None:
        r = self.rng
        try:
            sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        except OSError:
            report.frames += 1   # refused (a limit): the attempt counts
            return
        report.tcp_connections += 1
        try:
            session = 0
            if r.random() < 0.8:
                sock.sendall(p.tcp(p.frame(p.CMD_CONNECT, 0, 0)))
                answer = sock.recv(64)
                if len(answer) >= 16:
                    session = p.parse(answer[8:16]).session
            for _ in range(r.randint(1, 40)):
                frame = self._request(session if r.random() < 0.9 else r.getrandbits(16))
                sock.sendall(self._tcp_wrap(self._mutate(frame)))
                report.frames += 1
                if r.random() < 0.3:
                    self._drain(sock, report)
                    sock.setblocking(True)
                    sock.settimeout(self.timeout)
        except OSError:
            pass   # the server closed a connection it would not serve: that is its job
        finally:
            if r.random() < 0.3:   # leave abruptly (RST) now and then
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()

    def _udp_round(self, report: FuzzReport) -> None:
        r = self.rng
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(self.timeout)
            session = 0
            try:
                sock.sendto(p.frame(p.CMD_CONNECT, 0, 0), (self.host, self.port))
                answer = sock.recv(2048)
                session = p.parse(answer).session
            except (OSError, p.ProtocolError):
                pass
            for _ in range(r.randint(1, 40)):
                frame = self._mutate(self._request(session if r.random() < 0.9 else r.getrandbits(16)))
                try:
                    sock.sendto(frame, (self.host, self.port))
                except OSError:
                    pass
                report.frames += 1
                report.udp_datagrams += 1
            self._drain(sock, report)

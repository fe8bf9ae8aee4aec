"""A TOF200F simulator that speaks Modbus RTU on a pseudo-terminal.

The driver opens :attr:`Tof200fSimulator.port` like a real UART. The simulated sensor measures a
scene that changes over time (a person walks up, stands, leaves) with noise and occasional failed
measurements, and can misbehave on request: corrupt replies, garbage on the line, silence (sensor
unplugged), the port vanishing (USB adapter pulled), or a baud rate different from the host's.

Wrong baud rate: a pty has no wire, but it does keep the termios speed the host set. When that
speed differs from the sensor's, every byte is passed through :func:`uart_resample`, which decodes
the 8N1 waveform sent at one rate the way a UART sampling at the other rate would (start-bit edge,
mid-bit samples, ``\\0`` for a framing error as Linux delivers it). So the sensor receives garbage,
finds no valid request and stays silent, exactly what a real mismatched link does.
"""

from __future__ import annotations

import math
import os
import random
import select
import termios
import threading
import time
import tty
from collections.abc import Callable
from pathlib import Path

from app.hardware.modbus import READ_HOLDING, crc_ok, exception_response, read_response

DISTANCE_REGISTER = 0x34
NO_TARGET = 0xFFFF  # what the simulated sensor reports when nothing is within range
MEASURE_FAILED = 0  # a failed measurement
MAX_RANGE_MM = 4000

_SPEEDS = {getattr(termios, f"B{b}"): b for b in (
    1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800, 500000, 576000, 921600)
    if hasattr(termios, f"B{b}")}


def uart_resample(data: bytes, tx_baud: int, rx_baud: int) -> bytes:
    """The bytes a UART at ``rx_baud`` decodes from ``data`` sent back to back (8N1) at ``tx_baud``."""
    if tx_baud == rx_baud:
        return bytes(data)
    bits: list[int] = []
    for byte in data:
        bits += [0, *((byte >> i) & 1 for i in range(8)), 1]
    n = len(bits)

    def level(t: float) -> int:
        k = math.floor(t * tx_baud)
        return bits[k] if 0 <= k < n else 1  # idle line is high

    out = bytearray()
    period = 1.0 / rx_baud
    t = 0.0
    while True:
        k = max(0, math.ceil(t * tx_baud - 1e-9))
        while k < n and not (bits[k] == 0 and (k == 0 or bits[k - 1] == 1)):
            k += 1  # the next falling edge (start bit candidate)
        if k >= n:
            break
        t0 = k / tx_baud
        if level(t0 + 0.5 * period):  # a glitch, not a start bit
            t = t0 + 1.0 / tx_baud
            continue
        value = sum(level(t0 + (i + 1.5) * period) << i for i in range(8))
        out.append(value if level(t0 + 9.5 * period) else 0)  # framing error -> \0
        t = t0 + 9.5 * period
    return bytes(out)


class WalkUpScene:
    """Distance seen by a terminal facing a corridor: a wall at ``wall_mm``; every ``period_s`` a
    person walks up to ``stand_mm``, stays, and leaves."""

    def __init__(self, wall_mm: float = 2500, stand_mm: float = 450, period_s: float = 12.0) -> None:
        self.wall_mm, self.stand_mm, self.period_s = wall_mm, stand_mm, period_s

    def __call__(self, t: float) -> float | None:
        phase = t % self.period_s
        walk, stay = self.period_s / 6, self.period_s / 4  # 2 s and 3 s of a 12 s cycle
        if phase < walk:
            return self.wall_mm + (self.stand_mm - self.wall_mm) * phase / walk
        if phase < walk + stay:
            return self.stand_mm + 15 * math.sin(phase * 18 / self.period_s * 2)  # sways a little
        if phase < 2 * walk + stay:
            return self.stand_mm + (self.wall_mm - self.stand_mm) * (phase - walk - stay) / walk
        return self.wall_mm


class Tof200fSimulator:
    """The simulated sensor. Use as a context manager; ``port`` is the path to open."""

    def __init__(
        self,
        *,
        baud: int = 115200,
        slave_id: int = 0x50,
        scene: Callable[[float], float | None] | None = None,
        noise_mm: float = 6.0,
        dropout: float = 0.0,
        corrupt: float = 0.0,
        garbage: float = 0.0,
        reply_delay_s: float = 0.002,
        link: str | os.PathLike | None = None,
        seed: int = 0,
    ) -> None:
        self.baud, self.slave_id = baud, slave_id
        self.scene = scene or WalkUpScene()
        self.noise_mm, self.dropout, self.corrupt, self.garbage = noise_mm, dropout, corrupt, garbage
        self.reply_delay_s = reply_delay_s
        self.link = Path(link) if link else None
        self.silent = False  # True: the sensor is unplugged (the line stays quiet)
        self.fixed_mm: float | None = None  # a fixed target instead of the scene
        self.requests = 0  # valid requests received
        self.replies = 0
        self.heard_bytes = 0  # bytes the sensor's UART decoded
        self.garbled_bytes = 0  # of those, bytes that formed no valid request
        self._rng = random.Random(seed)
        self._t0 = time.monotonic()
        self._master = self._slave = -1
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.port = ""

    # -- life cycle -----------------------------------------------------------------------

    def start(self) -> "Tof200fSimulator":
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        attrs = termios.tcgetattr(self._slave)
        speed = next(k for k, v in _SPEEDS.items() if v == self.baud) if self.baud in _SPEEDS.values() else termios.B115200
        attrs[4] = attrs[5] = speed
        termios.tcsetattr(self._slave, termios.TCSANOW, attrs)
        self.port = os.ttyname(self._slave)
        if self.link:
            tmp = self.link.with_name(self.link.name + ".new")
            tmp.unlink(missing_ok=True)
            tmp.symlink_to(self.port)
            tmp.replace(self.link)
        self._stop.clear()
        self._thread = threading.Thread(target=self._serve, daemon=True, name="tof-sim")
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(2)
            self._thread = None
        for fd in (self._master, self._slave):
            if fd >= 0:
                os.close(fd)
        self._master = self._slave = -1

    def unplug(self) -> None:
        """The adapter is pulled: the pty goes away (the host's reads fail) and the link dangles."""
        self.stop()

    def replug(self) -> None:
        """A new pty behind the same ``link`` path (a USB adapter coming back as the same name)."""
        self.start()

    def __enter__(self) -> "Tof200fSimulator":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def path(self) -> str:
        """The path the host should open: the stable link if any, else the pty."""
        return str(self.link) if self.link else self.port

    # -- behaviour ---------------------------------------------------------------------------

    def host_baud(self) -> int | None:
        """The baud rate the host set on its end of the line."""
        return _SPEEDS.get(termios.tcgetattr(self._slave)[5])

    def measure(self) -> int:
        """One register value as the sensor would report it now."""
        if self._rng.random() < self.dropout:
            return self._rng.choice((NO_TARGET, MEASURE_FAILED))
        mm = self.fixed_mm if self.fixed_mm is not None else self.scene(time.monotonic() - self._t0)
        if mm is None or mm > MAX_RANGE_MM:
            return NO_TARGET
        return max(1, min(MAX_RANGE_MM, round(mm + self._rng.gauss(0, self.noise_mm))))

    def _reply(self, request: bytes) -> bytes | None:
        slave, function = request[0], request[1]
        if slave != self.slave_id:
            return None  # another device's request
        if function != READ_HOLDING:
            return exception_response(slave, function, 1)
        register = request[2] << 8 | request[3]
        count = request[4] << 8 | request[5]
        if register != DISTANCE_REGISTER or count != 1:
            return exception_response(slave, function, 2)
        reply = bytearray(read_response(slave, [self.measure()]))
        if self._rng.random() < self.corrupt:
            reply[self._rng.randrange(len(reply))] ^= 1 << self._rng.randrange(8)
        if self._rng.random() < self.garbage:
            reply[:0] = bytes(self._rng.randrange(256) for _ in range(self._rng.randrange(1, 6)))
        return bytes(reply)

    def _serve(self) -> None:
        pending = bytearray()
        while not self._stop.is_set():
            ready, _, _ = select.select([self._master], [], [], 0.05)
            if not ready:
                continue
            try:
                data = os.read(self._master, 256)
            except OSError:
                continue  # the host has no open end right now
            host = self.host_baud() or self.baud
            heard = uart_resample(data, host, self.baud)
            self.heard_bytes += len(heard)
            pending += heard
            while len(pending) >= 8:
                if pending[1] == READ_HOLDING or pending[1] in (0x06, 0x10):
                    frame = bytes(pending[:8])
                    if crc_ok(frame):
                        del pending[:8]
                        self.requests += 1
                        self._answer(frame, host)
                        continue
                del pending[0]  # resynchronise one byte at a time
                self.garbled_bytes += 1

    def _answer(self, request: bytes, host_baud: int) -> None:
        if self.silent:
            return
        reply = self._reply(request)
        if reply is None:
            return
        time.sleep(self.reply_delay_s)
        try:
            os.write(self._master, uart_resample(reply, self.baud, host_baud))
            self.replies += 1
        except OSError:
            pass

"""TOF200F laser distance sensor: Modbus RTU over a UART, polled by a thread.

Publishes the distance in mm and a debounced presence (near / far with hysteresis). A sensor that
stops answering, a port that vanishes or a wrong baud rate gives the ``no_sensor`` state with the
likely cause, and the poller keeps trying: the terminal works on without distance gating.
"""

from __future__ import annotations

import collections
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import serial
from loguru import logger

from app.hardware.modbus import ModbusException, ResponseScanner, read_request

DISTANCE_REGISTER = 0x34
NO_TARGET_VALUES = frozenset({0xFFFF, 0xFFFE})
MEASURE_FAILED_VALUES = frozenset({0})
#: Serial ports tried by ``port = "auto"``: Jetson, Raspberry Pi, generic, USB adapters.
AUTO_PORTS = ("/dev/ttyTHS1", "/dev/ttyAMA0", "/dev/serial0", "/dev/ttyS0", "/dev/ttyUSB0", "/dev/ttyACM0")

STARTING, OK, NO_SENSOR, STOPPED = "starting", "ok", "no_sensor", "stopped"


class SensorTimeout(Exception):
    """No valid reply in time. ``received`` bytes came, none of them a valid frame."""

    def __init__(self, received: int) -> None:
        self.received = received
        super().__init__(
            f"garbled replies ({received} bytes, no valid frame): wrong baud rate or noise on the line?"
            if received else "no reply: sensor unplugged, or wrong port, slave id or baud rate?")


@dataclass(frozen=True)
class Reading:
    distance_mm: int | None  # None: nothing within range (or a failed measurement)
    ts: float  # time.monotonic()
    raw: int  # the register value


@dataclass(frozen=True)
class SensorStatus:
    state: str
    port: str
    reason: str
    distance_mm: int | None
    present: bool | None  # None when there is no sensor: do not gate on distance
    readings: int
    errors: int
    rate_hz: float

    def as_dict(self) -> dict:
        return {**self.__dict__, "rate_hz": round(self.rate_hz, 1)}


class PresenceFilter:
    """Near/far with hysteresis (closer than ``near_mm`` = present, farther than ``far_mm`` = gone,
    in between = unchanged) and debouncing (``confirm`` agreeing readings to change state)."""

    def __init__(self, near_mm: int, far_mm: int, confirm: int = 3) -> None:
        if far_mm <= near_mm:
            raise ValueError(f"far_mm ({far_mm}) must be greater than near_mm ({near_mm})")
        self.near_mm, self.far_mm, self.confirm = near_mm, far_mm, confirm
        self.present = False
        self._streak = 0

    def update(self, distance_mm: int | None) -> bool:
        if distance_mm is not None and distance_mm < self.near_mm:
            wanted = True
        elif distance_mm is None or distance_mm > self.far_mm:
            wanted = False
        else:
            wanted = self.present
        if wanted == self.present:
            self._streak = 0
        else:
            self._streak += 1
            if self._streak >= self.confirm:
                self.present, self._streak = wanted, 0
        return self.present


def open_serial(port: str, baud: int):
    return serial.serial_for_url(port, baudrate=baud, bytesize=8, parity="N", stopbits=1,
                                 timeout=0.005, write_timeout=0.2, exclusive=True)


class Tof200fSensor:
    """Polls the distance register ``poll_hz`` times a second in a thread."""

    def __init__(
        self,
        port: str,
        *,
        baud: int = 115200,
        slave_id: int = 0x50,
        register: int = DISTANCE_REGISTER,
        near_mm: int = 800,
        far_mm: int = 1200,
        poll_hz: float = 20.0,
        reply_timeout_s: float = 0.06,
        lost_after_s: float = 0.5,
        max_range_mm: int = 4000,
        confirm: int = 3,
        reopen_s: float = 1.0,
        serial_factory: Callable[[str, int], object] = open_serial,
        on_reading: Callable[[Reading, bool], None] | None = None,
    ) -> None:
        self.port, self.baud, self.slave_id, self.register = port, baud, slave_id, register
        self.period = 1.0 / poll_hz
        self.reply_timeout_s = reply_timeout_s
        self.lost_after_s = lost_after_s
        self.max_range_mm = max_range_mm
        self.reopen_s = reopen_s
        self.presence = PresenceFilter(near_mm, far_mm, confirm)
        self._serial_factory = serial_factory
        self._on_reading = on_reading
        self._request = read_request(slave_id, register)
        self._serial = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._state, self._reason = STARTING, ""
        self._last: Reading | None = None
        self._last_ok = 0.0
        self._readings = 0
        self._errors = 0
        self._stamps: collections.deque[float] = collections.deque(maxlen=20)
        self.history: collections.deque[Reading] = collections.deque(maxlen=200)
        self.simulator = None  # the Tof200fSimulator behind a sim:// port, owned by this sensor

    # -- one transaction --------------------------------------------------------------------

    def _ensure_open(self):
        if self._serial is None:
            self._serial = self._serial_factory(self.port, self.baud)
        return self._serial

    def close(self) -> None:
        ser, self._serial = self._serial, None
        if ser is not None:
            try:
                ser.close()
            except Exception:  # closing a vanished device may fail; it is gone either way
                pass

    def read_register(self) -> int:
        """Send one read request and return the register value (raises on failure)."""
        ser = self._ensure_open()
        ser.reset_input_buffer()  # a late reply to an earlier request must not be taken for this one
        ser.write(self._request)
        scanner = ResponseScanner(self.slave_id)
        received = 0
        deadline = time.monotonic() + self.reply_timeout_s
        while time.monotonic() < deadline:
            data = ser.read(max(1, ser.in_waiting))
            if not data:
                continue
            received += len(data)
            result = scanner.feed(data)
            if result is not None:
                if result.error is not None:
                    raise result.error
                return result.values[0]
        raise SensorTimeout(received)

    def read_once(self) -> Reading:
        raw = self.read_register()
        if raw in NO_TARGET_VALUES or raw in MEASURE_FAILED_VALUES or raw > self.max_range_mm:
            return Reading(None, time.monotonic(), raw)
        return Reading(raw, time.monotonic(), raw)

    # -- polling thread ---------------------------------------------------------------------

    def start(self) -> "Tof200fSensor":
        if self._thread is None:
            self._stop.clear()
            self._last_ok = time.monotonic()
            self._thread = threading.Thread(target=self._run, daemon=True, name="tof200f")
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=3)
            self._thread = None
        self.close()
        with self._lock:
            self._state = STOPPED
        if self.simulator is not None:
            self.simulator.stop()

    def __enter__(self) -> "Tof200fSensor":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _run(self) -> None:
        next_due = time.monotonic()
        while not self._stop.is_set():
            wait = self.reopen_s if self._serial is None and self._state == NO_SENSOR else 0.0
            try:
                reading = self.read_once()
            except (SensorTimeout, ModbusException) as exc:
                self._failed(str(exc))
            except Exception as exc:  # SerialException, termios.error (EIO), ...: the port is unusable
                self.close()
                self._failed(f"cannot use {self.port}: {exc}", immediately=True)
                wait = self.reopen_s
            else:
                self._publish(reading)
            next_due = max(next_due + self.period, time.monotonic())
            self._stop.wait(max(wait, next_due - time.monotonic()))

    def _publish(self, reading: Reading) -> None:
        present = self.presence.update(reading.distance_mm)
        with self._lock:
            if self._state != OK:
                logger.info("tof200f: sensor answering on {}", self.port)
            self._state, self._reason = OK, ""
            self._last, self._last_ok = reading, reading.ts
            self._readings += 1
            self._stamps.append(reading.ts)
            self.history.append(reading)
        if self._on_reading is not None:
            self._on_reading(reading, present)

    def _failed(self, reason: str, immediately: bool = False) -> None:
        with self._lock:
            self._errors += 1
            silent_for = time.monotonic() - self._last_ok
            if (immediately or silent_for >= self.lost_after_s) and (self._state, self._reason) != (NO_SENSOR, reason):
                logger.warning("tof200f: no sensor on {}: {}", self.port, reason)
                self._state, self._reason = NO_SENSOR, reason
                self._stamps.clear()

    def status(self) -> SensorStatus:
        with self._lock:
            ok = self._state == OK
            rate = 0.0
            if ok and len(self._stamps) >= 2 and self._stamps[-1] > self._stamps[0]:
                rate = (len(self._stamps) - 1) / (self._stamps[-1] - self._stamps[0])
            last = self._last if ok else None
            return SensorStatus(self._state, self.port, self._reason,
                                last.distance_mm if last else None,
                                self.presence.present if ok else None,
                                self._readings, self._errors, rate)


def find_port(baud: int, slave_id: int, candidates=AUTO_PORTS) -> str | None:
    """``port = "auto"``: the first existing candidate port where the sensor answers."""
    for port in candidates:
        if not os.path.exists(port):
            continue
        probe = Tof200fSensor(port, baud=baud, slave_id=slave_id, reply_timeout_s=0.1)
        try:
            probe.read_register()
            return port
        except Exception:  # not this port: busy, absent, another device
            continue
        finally:
            probe.close()
    return None


def sensor_from_config(sensor_cfg, port: str | None = None, **kwargs) -> Tof200fSensor | None:
    """The sensor for the [sensor] section, or None when disabled or not found on any port.

    ``sim://`` runs the simulator (:mod:`app.hardware.tof_sim`) in this process and reads it
    through a pseudo-terminal: the whole driver path, without the hardware.
    """
    if not sensor_cfg.enabled and port is None:
        return None
    port = port or sensor_cfg.port
    kwargs.setdefault("poll_hz", getattr(sensor_cfg, "poll_hz", 20))
    if port.startswith("sim://"):
        from app.hardware.tof_sim import Tof200fSimulator  # lazy: the simulator's pty needs POSIX (termios)

        simulator = Tof200fSimulator(baud=sensor_cfg.baud, slave_id=sensor_cfg.slave_id).start()
        sensor = Tof200fSensor(simulator.port, baud=sensor_cfg.baud, slave_id=sensor_cfg.slave_id,
                               near_mm=sensor_cfg.near_mm, far_mm=sensor_cfg.far_mm, **kwargs)
        sensor.simulator = simulator
        return sensor
    if port == "auto":
        port = find_port(sensor_cfg.baud, sensor_cfg.slave_id)
        if port is None:
            logger.warning("tof200f: no sensor found on {}", ", ".join(AUTO_PORTS))
            return None
    return Tof200fSensor(port, baud=sensor_cfg.baud, slave_id=sensor_cfg.slave_id,
                         near_mm=sensor_cfg.near_mm, far_mm=sensor_cfg.far_mm, **kwargs)

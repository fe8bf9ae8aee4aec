"""Tell systemd how the service is doing (sd_notify) over $NOTIFY_SOCKET, with no dependency.

`daka run` under the unit installed by scripts/flash_and_setup.sh (Type=notify, WatchdogSec=)
holds a :class:`SystemdNotifier`: READY=1 once the terminal is up, WATCHDOG=1 from the kiosk's
UI loop (so a frozen screen stops the pings and systemd restarts the service), STOPPING=1 at
the start of a stop.

Outside systemd (no NOTIFY_SOCKET) every call is a quiet no-op, so the same code runs from a shell.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Mapping

__all__ = ["NotifyError", "SystemdNotifier", "notify", "watchdog_interval"]

ENV_SOCKET = "NOTIFY_SOCKET"


class NotifyError(Exception):
    """NOTIFY_SOCKET is set but cannot be used (bad address, no listener)."""


def _address(value: str) -> str | bytes:
    if value.startswith("@"):  # Linux abstract namespace
        return b"\0" + value[1:].encode()
    if value.startswith("/"):
        return value
    raise NotifyError(f"{ENV_SOCKET}={value!r} is neither a path nor an abstract name (@...)")


def notify(state: str, *, env: Mapping[str, str] | None = None) -> bool:
    """Send one state message ("READY=1", "WATCHDOG=1", "STOPPING=1", "STATUS=...").

    Returns False when not run by systemd (no NOTIFY_SOCKET), True once sent. Raises
    NotifyError when the socket is named but unusable: a unit waiting for READY would
    otherwise time out with no hint why.
    """
    env = os.environ if env is None else env
    value = env.get(ENV_SOCKET, "")
    if not value:
        return False
    if not state or "\0" in state:
        raise ValueError(f"not a notify state: {state!r}")
    address = _address(value)
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
        try:
            sock.sendto(state.encode(), address)
        except OSError as exc:
            raise NotifyError(f"cannot notify systemd at {value}: {exc.strerror or exc}") from exc
    return True


def watchdog_interval(env: Mapping[str, str] | None = None, *, pid: int | None = None) -> float | None:
    """Seconds between pings for this process: half of WATCHDOG_USEC, or None if no watchdog.

    WATCHDOG_PID, when set, must name this process (a child inheriting the environment must not
    feed its parent's watchdog).
    """
    env = os.environ if env is None else env
    usec = env.get("WATCHDOG_USEC", "")
    if not usec:
        return None
    owner = env.get("WATCHDOG_PID", "")
    if owner and int(owner) != (os.getpid() if pid is None else pid):
        return None
    value = int(usec)
    if value <= 0:
        raise NotifyError(f"WATCHDOG_USEC={usec!r} is not a positive number of microseconds")
    return value / 2_000_000


class SystemdNotifier:
    """The terminal's link to systemd: ready(), watchdog(), stopping().

    The kiosk calls watchdog() from its UI thread (every 0.5 s), so a ping proves the screen's
    loop is turning; pings are sent at most every half watchdog interval. Outside systemd every
    call does nothing. A named but unusable socket is logged once, never raised into the UI.
    """

    def __init__(self, env: Mapping[str, str] | None = None,
                 clock: Callable[[], float] | None = None,
                 log: Callable[[str], None] | None = None):
        import time

        self._env = os.environ if env is None else env
        self._clock = clock or time.monotonic
        self._log = log
        self._interval = watchdog_interval(self._env)
        self._last: float | None = None
        self._failed = False
        self._ready = False
        self.sent: list[str] = []

    def _send(self, state: str) -> None:
        if self._failed:
            return
        try:
            if notify(state, env=self._env):
                self.sent.append(state)
        except NotifyError as exc:
            self._failed = True
            if self._log:
                self._log(str(exc))

    def ready(self) -> None:
        self._send("READY=1")
        self._ready = True

    def watchdog(self) -> None:
        if self._interval is None or not self._ready:   # systemd arms the watchdog at READY
            return
        now = self._clock()
        if self._last is None or now - self._last >= self._interval:   # half of WATCHDOG_USEC
            self._last = now
            self._send("WATCHDOG=1")

    def stopping(self) -> None:
        self._send("STOPPING=1")

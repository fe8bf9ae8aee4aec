"""ZKTeco's binary "pull" protocol on TCP/UDP 4370, served by the terminal (docs/hr-integration.md).

``protocol`` (frames, comm key, records), ``device`` (the store as a terminal's users and
attendance log), ``session`` (one client's commands and answers), ``server`` (the TCP and UDP
transports and their limits) and :class:`PullService` here: the server as a service of the
terminal, on when ``[zk_pull] enabled``, restarted when an admin changes its settings.
"""

from __future__ import annotations

import socket
import threading
import uuid
from collections.abc import Callable
from zoneinfo import ZoneInfo

from loguru import logger

from .device import PullDevice
from .server import PullServer
from .session import PullOptions

__all__ = ["PullDevice", "PullOptions", "PullServer", "PullService", "options_from_config"]


def _mac() -> str:
    node = uuid.getnode()
    return ":".join(f"{(node >> s) & 0xFF:02X}" for s in range(40, -1, -8))


def options_from_config(config) -> PullOptions:
    """What the server tells clients about itself, and what it lets them do."""
    ident = config.device.id or socket.gethostname()
    serial = "DAKA" + "".join(c for c in ident.upper() if c.isalnum())[:20]
    return PullOptions(comm_key=config.zk_pull.comm_key, allow_writes=config.zk_pull.allow_writes,
                       allow_set_time=config.zk_pull.allow_set_time, device_name=config.device.name,
                       serial_number=serial, mac=_mac())


class PullService:
    """Start, stop and restart the 4370 server as the settings say."""

    def __init__(self, config, store, *, timezone: Callable[[], ZoneInfo] | None = None, library=None,
                 set_clock: Callable[[str, str], str] | None = None):
        self.config = config
        zone = timezone or (lambda: ZoneInfo(self.config.device.timezone))
        self.device = PullDevice(store, timezone=zone, library=library, set_clock=set_clock)
        self.server: PullServer | None = None
        self.error: str | None = None
        self._shape: tuple | None = None
        self._lock = threading.Lock()

    def start(self) -> PullService:
        self.follow_zk_pull(self.config)
        return self

    def stop(self) -> None:
        with self._lock:
            self._stop_server()

    def follow_zk_pull(self, config) -> None:
        """Make the server match ``config`` (restart it when anything it uses changed)."""
        with self._lock:
            self.config = config
            z = config.zk_pull
            shape = (z.enabled, z.host, z.port, z.tcp, z.udp, z.max_connections, z.per_address, z.idle_seconds,
                     options_from_config(config))
            if shape == self._shape and (self.server is not None or not z.enabled):
                return
            self._stop_server()
            self._shape = shape
            self.error = None
            if not z.enabled:
                return
            if not (z.tcp or z.udp):
                self.error = "neither TCP nor UDP is on"
                logger.warning("zk pull: enabled, but {}", self.error)
                return
            server = PullServer(self.device, shape[-1], host=z.host, port=z.port, tcp=z.tcp, udp=z.udp,
                                max_connections=z.max_connections, per_address=z.per_address,
                                idle_timeout=float(z.idle_seconds))
            try:
                self.server = server.start()
            except OSError as exc:   # the port taken: the terminal runs on, the status says why
                self.error = f"port {z.port}: {exc.strerror or exc}"
                logger.error("zk pull: cannot serve: {}", self.error)

    def _stop_server(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None

    def status(self) -> dict:
        """One line's worth for the admin's system page."""
        z = self.config.zk_pull
        out = {"enabled": z.enabled, "running": self.server is not None, "error": self.error, "port": z.port,
               "comm_key": z.comm_key != 0}
        server = self.server
        if server is not None:
            out.update(server.status())
        return out

"""AdminServer: the admin app on waitress in a daemon thread of the calling process."""

from __future__ import annotations

import logging
import threading
import time

from loguru import logger
from waitress.server import create_server

QUEUE_LOG_EVERY_S = 60.0


class OncePerInterval(logging.Filter):
    """Let one record through per interval. waitress warns "Task queue depth is N" for every
    request that waits for a thread: under load, hundreds of lines a second saying one thing."""

    def __init__(self, seconds: float):
        super().__init__()
        self.seconds, self._last = seconds, float("-inf")
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        now = time.monotonic()
        with self._lock:
            if now - self._last < self.seconds:
                return False
            self._last = now
        return True


def _thin_out_queue_warnings() -> None:
    queue_log = logging.getLogger("waitress.queue")
    if not any(isinstance(f, OncePerInterval) for f in queue_log.filters):
        queue_log.addFilter(OncePerInterval(QUEUE_LOG_EVERY_S))


class AdminServer:
    def __init__(self, app, host: str, port: int, *, threads: int = 8):
        # port 0 = any free port (tests, benchmarks); .url tells which one
        _thin_out_queue_warnings()
        self._server = create_server(app, host=host, port=port, threads=threads, ident="daka",
                                     channel_timeout=60, clear_untrusted_proxy_headers=True)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._server.effective_port

    @property
    def url(self) -> str:
        host = self._server.effective_host
        host = "127.0.0.1" if host in ("0.0.0.0", "") else host
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}"

    def start(self) -> AdminServer:
        self._thread = threading.Thread(target=self._run, name="daka-admin", daemon=True)
        self._thread.start()
        logger.info("admin: listening on {}", self.url)
        return self

    def _run(self) -> None:
        try:
            self._server.run()
        except OSError:  # the socket closed under it by stop()
            pass

    def serve_forever(self) -> None:
        """Serve in the calling thread (``daka admin serve``)."""
        logger.info("admin: listening on {}", self.url)
        self._run()

    def stop(self, timeout: float = 5.0) -> None:
        self._server.close()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self._server.task_dispatcher.shutdown(cancel_pending=True, timeout=timeout)
        # Connections still open when the loop ended (keep-alive clients) and the loop's wake-up
        # trigger: close them now rather than leave their sockets to the garbage collector.
        for dispatcher in list(self._server._map.values()):
            try:
                dispatcher.close()
            except OSError:
                pass

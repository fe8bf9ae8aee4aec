"""AdminServer: the admin app on waitress in a daemon thread of the calling process."""

from __future__ import annotations

import json
import logging
import threading
import time

from loguru import logger
from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser
from waitress.server import BaseWSGIServer, create_server
from waitress.task import ErrorTask
from waitress.utilities import RequestEntityTooLarge

from app.i18n import text
from app.services.status import local_ip
from app.setup_code import no_account_yet

QUEUE_LOG_EVERY_S = 60.0
# waitress reads (and spools to a temporary file) a whole request body before the app sees it,
# so neither the upload limit nor a sign-in check can refuse it: the server itself must.
CONNECTION_LIMIT = 64          # browsers open ~6 connections each; HR systems a few
IDLE_TIMEOUT_S = 30            # a connection that sends nothing for this long is closed
REQUEST_READ_TIMEOUT_S = 120   # a request must be read in full within this (100 MB at ~1 MB/s)


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


class _TimedRequestParser(HTTPRequestParser):
    """A request being read, with the time its first bytes came."""

    def __init__(self, adj):
        super().__init__(adj)
        self.started = time.monotonic()


class _ApiErrorTask(ErrorTask):
    """waitress's own refusals (a body over the limit, a malformed request) as the API's JSON
    errors under /api/, as the admin answers every other error there; plain text elsewhere."""

    def execute(self):
        path = getattr(self.request, "path", None) or ""
        if not path.startswith("/api/"):
            return super().execute()
        e = self.request.error
        body = {"success": False, "error": e.reason.lower().replace(" ", "_"), "message": e.body}
        if isinstance(e, RequestEntityTooLarge):
            # refused before the app, so no session to choose a language: Chinese, the default
            body = {"success": False, "error": "too_large", "message": text("请求过大"),
                    "limit_bytes": self.channel.adj.max_request_body_size - 1}
        data = json.dumps(body, ensure_ascii=False).encode()
        self.status = f"{e.code} {e.reason}"
        self.response_headers.append(("Content-Type", "application/json"))
        self.set_close_on_finish()
        self.content_length = len(data)
        self.write(data)
        return None


class _DeadlineChannel(HTTPChannel):
    """A connection whose request must arrive within a deadline, not just trickle forever.

    waitress only closes a connection idle for ``channel_timeout``: one byte every few seconds
    (slow loris) keeps a spooled body on the disk for as long as the sender likes.
    """

    parser_class = _TimedRequestParser
    error_task_class = _ApiErrorTask

    def overdue(self, now: float, limit: float) -> bool:
        request = self.request  # the one being read; None between requests
        return request is not None and not request.completed and now - request.started > limit

    def handle_close(self):
        # The body of a request cut off half way sits in a temporary file: free the disk now
        # rather than when the garbage collector finds it.
        request, self.request = self.request, None
        if request is not None:
            request.close()
        super().handle_close()


def _enforce_read_deadline(server: BaseWSGIServer, limit: float) -> None:
    idle_check = server.maintenance

    def maintenance(now):
        idle_check(now)
        mono = time.monotonic()
        for channel in list(server.active_channels.values()):
            if isinstance(channel, _DeadlineChannel) and channel.overdue(mono, limit):
                logger.warning("admin: closed a connection from {} whose request was not read within {} s",
                               channel.addr[0] if channel.addr else "?", limit)
                channel.will_close = True

    server.channel_class = _DeadlineChannel
    server.maintenance = maintenance


class AdminServer:
    def __init__(self, app, host: str, port: int, *, threads: int = 8,
                 connection_limit: int = CONNECTION_LIMIT, idle_timeout: int = IDLE_TIMEOUT_S,
                 request_read_timeout: float = REQUEST_READ_TIMEOUT_S, cleanup_interval: int = 5):
        # port 0 = any free port (tests, benchmarks); .url tells which one
        _thin_out_queue_warnings()
        self.app = app
        # waitress refuses a body of max_request_body_size bytes or more; Flask one of more than
        # MAX_CONTENT_LENGTH: the same limit, applied before a byte of the body is read.
        max_body = app.config.get("MAX_CONTENT_LENGTH") or 100 * 1024 * 1024
        self._server = create_server(app, host=host, port=port, threads=threads, ident="daka",
                                     clear_untrusted_proxy_headers=True,
                                     max_request_body_size=max_body + 1, connection_limit=connection_limit,
                                     channel_timeout=idle_timeout, cleanup_interval=cleanup_interval)
        # A host name that resolves to several addresses gives one listening server per address.
        socket_map = getattr(self._server, "_map", None) or getattr(self._server, "map", {})
        for server in list(socket_map.values()):
            if isinstance(server, BaseWSGIServer):
                _enforce_read_deadline(server, request_read_timeout)
        # waitress counts its own sockets (each listening socket, its wake-up pipe) against the
        # limit: without them it served two clients fewer than `connection_limit`, and a client
        # that closed at the limit freed no slot until the idle ones timed out.
        self._server.adj.connection_limit = connection_limit + len(socket_map)
        slots = getattr(app, "extensions", {}).get("daka_sse_slots")
        if slots is not None:  # keep threads for /health, pages and the API whatever tabs are open
            slots.limit = max(1, threads // 2)
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

    @property
    def lan_url(self) -> str:
        """The URL a browser on the LAN opens: bound to every address, the address of the interface
        of the default route (127.0.0.1 works only on the terminal itself)."""
        host = self._server.effective_host
        if host in ("0.0.0.0", "", "::"):
            ip = local_ip()
            if ip is not None:
                return f"http://{ip}:{self.port}"
        return self.url

    def announce(self) -> None:
        """The start's lines for the person setting up: where the admin is, and the first step."""
        url = self.lan_url
        logger.info("admin: listening on {}", url)
        services = getattr(self.app, "extensions", {}).get("daka_admin")
        if services is None:
            return
        try:
            first_run = no_account_yet(services.store)
        except Exception:   # the database is the status page's to report; the admin still serves
            logger.exception("admin: could not tell whether an administrator exists")
            return
        if first_run:
            logger.warning(text("log.first_run", services.config.device.language, url=f"{url}/setup"))

    def start(self) -> AdminServer:
        self._thread = threading.Thread(target=self._run, name="daka-admin", daemon=True)
        self._thread.start()
        self.announce()
        return self

    def _run(self) -> None:
        try:
            self._server.run()
        except OSError:  # the socket closed under it by stop()
            pass

    def serve_forever(self) -> None:
        """Serve in the calling thread (``daka admin serve``)."""
        self.announce()
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

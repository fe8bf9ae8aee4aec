"""A real ADMS server for the tests: django-fingerprint-attendance (PyPI, MIT; nobody on this project
wrote it) in a throw-away Django project, served by waitress on a loopback port in a child process.

``AdmsServer(root)`` makes the project once (``startproject``; ``rest_framework`` and
``fingerprint_attendance`` installed; its urls; a Fernet key in ``TEMPLATE_ENCRYPTION_KEYS``;
``ADMS_REQUIRE_DEVICE_APPROVAL=False``; ``migrate``) on a SQLite file; ``start()`` / ``stop()``
serve it and can be called again on the same data. ``django(code)`` runs Python in the project
(``manage.py shell``, the code on stdin): the tests look at the server's own models and queue its commands with
its own ``queue_command``; a JSON value printed as the last line comes back.

``Scripted`` is the other kind: a loopback HTTP server whose answers a unit test scripts (500s,
slow answers, malformed text), recording what Daka sent.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.helpers.children import Child, free_port

PROJECT = "admsproject"
SETTINGS_TAIL = """

# -- added by tests/helpers/adms_server.py ---------------------------------------------------
INSTALLED_APPS += ["rest_framework", "fingerprint_attendance"]
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
TIME_ZONE = {timezone!r}
USE_TZ = True
DEBUG = False
FINGERPRINT_ATTENDANCE = {{
    "TEMPLATE_ENCRYPTION_KEYS": [{key!r}],
    "ADMS_REQUIRE_DEVICE_APPROVAL": False,
    "ADMS_DELAY": {delay},
    "ADMS_ERROR_DELAY": {error_delay},
    "ADMS_RATE_LIMIT": "100000/m",
}}
LOGGING = {{"version": 1, "disable_existing_loggers": False,
           "handlers": {{"err": {{"class": "logging.StreamHandler"}}}},
           "root": {{"handlers": ["err"], "level": "WARNING"}}}}
"""
URLS = """from django.urls import include, path

urlpatterns = [path("", include("fingerprint_attendance.urls"))]
"""


class AdmsServer:
    def __init__(self, root: Path, *, timezone: str = "Asia/Shanghai", delay: int = 1, error_delay: int = 1):
        pytest.importorskip("fingerprint_attendance", reason="the test extra (django-fingerprint-attendance) "
                                                              "is not installed: make test installs it")
        self.root = Path(root)
        self.project = self.root / PROJECT
        self.port = free_port()
        self.child: Child | None = None
        if not (self.project / "manage.py").exists():
            self._make(timezone, delay, error_delay)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _run(self, *args: str, stdin: str | None = None, timeout: float = 300) -> str:
        done = subprocess.run([sys.executable, *args], cwd=self.project, capture_output=True, text=True,
                              input=stdin, timeout=timeout)
        if done.returncode != 0:
            raise RuntimeError(f"{args}: exit {done.returncode}\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
        return done.stdout

    def _make(self, timezone: str, delay: int, error_delay: int) -> None:
        from cryptography.fernet import Fernet

        self.root.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "django", "startproject", PROJECT], cwd=self.root, check=True,
                       capture_output=True, timeout=120)
        settings = self.project / PROJECT / "settings.py"
        settings.write_text(settings.read_text() + SETTINGS_TAIL.format(
            timezone=timezone, key=Fernet.generate_key().decode(), delay=delay, error_delay=error_delay))
        (self.project / PROJECT / "urls.py").write_text(URLS)
        self._run("manage.py", "migrate", "--noinput")

    def start(self) -> AdmsServer:
        assert self.child is None, "already serving"
        self.child = Child([sys.executable, "-m", "waitress", "--host=127.0.0.1", f"--port={self.port}",
                            "--threads=4", f"{PROJECT}.wsgi:application"], cwd=self.project)
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/iclock/ping?SN=probe", timeout=5) as answer:
                    answer.read()
                break
            except urllib.error.HTTPError:
                break      # it answers: up
            except OSError:
                if self.child.proc.poll() is not None or time.monotonic() > deadline:
                    log = self.child.log
                    self.stop()
                    raise RuntimeError(f"the ADMS server did not come up:\n{log[-3000:]}")
                time.sleep(0.1)
        return self

    def stop(self) -> None:
        if self.child is not None:
            self.child.kill()
            self.child = None

    def django(self, code: str):
        """Run `code` in the project; the JSON on its last printed line."""
        # on stdin: a command with a photo in it is longer than an argument may be
        out = self._run("manage.py", "shell", stdin=textwrap.dedent(code)).strip().splitlines()
        return json.loads(out[-1]) if out else None

    # -- the server's own view of things ---------------------------------------------------------
    def punches(self, serial: str) -> list[dict]:
        return self.django(f"""
            import json
            from fingerprint_attendance.models import Punch
            rows = Punch.objects.filter(device__serial_number={serial!r}).order_by("id")
            print(json.dumps([{{"pin": p.raw_pin, "local": p.device_local_time, "verify": p.verify_mode,
                               "utc": p.punched_at.strftime("%Y-%m-%d %H:%M:%S"), "state": p.raw_state}}
                              for p in rows]))
        """)

    def device(self, serial: str) -> dict | None:
        return self.django(f"""
            import json
            from fingerprint_attendance.models import Device
            d = Device.objects.filter(serial_number={serial!r}).first()
            print(json.dumps(None if d is None else {{"attlog_stamp": d.attlog_stamp,
                "operlog_stamp": d.operlog_stamp, "firmware": d.firmware_version,
                "users": d.reported_user_count, "status": d.status}}))
        """)

    def queue(self, serial: str, command_type: str, payload: dict, *, max_attempts: int = 1) -> int:
        return self.django(f"""
            import json
            from fingerprint_attendance.models import Device
            from fingerprint_attendance.services.commands import queue_command
            device = Device.objects.get(serial_number={serial!r})
            command = queue_command(device, {command_type!r}, json.loads({json.dumps(payload)!r}),
                                    max_attempts={max_attempts})
            print(json.dumps(command.pk))
        """)

    def commands(self, serial: str) -> dict[int, dict]:
        rows = self.django(f"""
            import json
            from fingerprint_attendance.models import DeviceCommand
            rows = DeviceCommand.objects.filter(device__serial_number={serial!r}).order_by("id")
            print(json.dumps([{{"id": c.pk, "type": c.command_type, "status": c.status,
                               "return_code": c.return_code, "response": c.response_body,
                               "error": c.error}} for c in rows]))
        """)
        return {row["id"]: row for row in rows}


class Scripted:
    """A loopback HTTP server: `answer(method, path, params, body) -> (status, text, delay_s)`."""

    def __init__(self, answer):
        self.answer = answer
        self.requests: list[tuple[str, str, dict, bytes]] = []
        scripted = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self, method):
                parts = urlsplit(self.path)
                params = {k: v[0] for k, v in parse_qs(parts.query).items()}
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                scripted.requests.append((method, parts.path, params, body))
                status, text, delay = scripted.answer(method, parts.path, params, body)
                time.sleep(delay)
                data = text.encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", str(len(data)))
                    self.send_header("Date", "Sat, 05 Dec 2026 04:00:00 GMT")
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass   # the client gave up (the slow-server test)

            def do_GET(self):
                self._serve("GET")

            def do_POST(self):
                self._serve("POST")

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def posted(self, table):
        return [body.decode("gb18030") for m, p, q, body in self.requests
                if m == "POST" and p.endswith("/cdata") and q.get("table") == table]

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


if __name__ == "__main__":
    # `python -m tests.helpers.adms_server DIR [PORT]`: serve the server (for `daka bench adms --url`);
    # SIGTERM or Ctrl-C stops it and its waitress child (its own session: signals do not reach it)
    import signal

    def _interrupt(*_args):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    server = AdmsServer(Path(sys.argv[1]))
    if len(sys.argv) > 2:
        server.port = int(sys.argv[2])
    server.start()
    print(server.url, flush=True)
    try:
        server.child.proc.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()

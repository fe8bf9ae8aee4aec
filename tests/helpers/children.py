"""Child processes of the tests: started in their own session, killed for sure at the end.

``inherit_ignored`` starts the child as a background job of a non-interactive shell starts it:
with SIGINT and SIGQUIT ignored (``trap '' INT QUIT; exec ...``), the dispositions a CI runner or a
supervisor may hand down. A leaked child keeps running for hours and fails a later test through a
ResourceWarning, so ``started`` kills the whole process group whatever happened in the test.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# The kiosk's children run from a folder other than the repository's root (nothing may depend on the
# working directory), and not from tests/ itself: its area packages (tests/admin) would shadow `admin`.
KIOSK_TESTS = REPO / "tests" / "kiosk"


class Child:
    """A running child with its stdout and stderr lines collected by two threads."""

    def __init__(self, argv: list[str], *, inherit_ignored: bool = False, env: dict | None = None,
                 unset: tuple[str, ...] = (), cwd: Path | None = None):
        if inherit_ignored:
            argv = ["sh", "-c", "trap '' INT QUIT; exec " + shlex.join(argv)]
        full = {k: v for k, v in os.environ.items() if k not in unset}
        full.update(NO_COLOR="1", **(env or {}))
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=full,
                                     cwd=cwd or REPO, start_new_session=True)
        self.out: list[str] = []
        self.err: list[str] = []
        self._readers = [threading.Thread(target=self.out.extend, args=(self.proc.stdout,), daemon=True),
                         threading.Thread(target=self.err.extend, args=(self.proc.stderr,), daemon=True)]
        for reader in self._readers:
            reader.start()

    @property
    def log(self) -> str:
        return "".join(self.err)

    def wait_for(self, found, timeout: float, what: str) -> None:
        """Wait until found() holds; fail (with the child's stderr) if it exits or the time runs out."""
        deadline = time.monotonic() + timeout
        while not found():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"no {what} from the child (exit {self.proc.poll()}):\n{self.log[-3000:]}")
            time.sleep(0.05)

    def wait_line(self, timeout: float, what: str = "first stdout line") -> str:
        self.wait_for(lambda: bool(self.out), timeout, what)
        return self.out[0]

    def signal_and_wait(self, sig: int, timeout: float = 120) -> int:
        """Send sig and return the exit code; a child that does not stop in time fails the test."""
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the child did not stop within {timeout} s of {signal.Signals(sig).name}:\n"
                        f"{self.log[-3000:]}")

    def kill(self) -> None:
        """Kill the child's whole process group (grandchildren included) and reap it."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        for reader in self._readers:
            reader.join(timeout=10)
        self.proc.stdout.close()
        self.proc.stderr.close()


@contextlib.contextmanager
def started(argv: list[str], **kwargs) -> Iterator[Child]:
    child = Child(argv, **kwargs)
    try:
        yield child
    finally:
        child.kill()


def daka(*args: str) -> list[str]:
    return [sys.executable, "-m", "app.cli.main", *args]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def kiosk_child(args, env: dict | None = None) -> Child:
    """The kiosk process with no display (SDL renders offscreen), run from the kiosk tests' folder."""
    return Child([sys.executable, *args], env=env, unset=("DISPLAY", "WAYLAND_DISPLAY"), cwd=KIOSK_TESTS)

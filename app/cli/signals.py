"""Stop long-running commands on SIGTERM and SIGINT, whatever dispositions the process inherited.

A process started as a background job of a non-interactive shell inherits SIGINT and SIGQUIT as
*ignored*; Python then installs no KeyboardInterrupt handler, and a command that waits for Ctrl-C
never stops. SIGTERM, the signal supervisors and test harnesses send, has no Python handler at all
by default (the process dies without running any cleanup). So every command installs its own
handlers for both, explicitly, at start.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class StopRequested(KeyboardInterrupt):
    """Raised in the main thread when a stop signal arrives (a KeyboardInterrupt, so that code
    written for Ctrl-C unwinds the same way)."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextlib.contextmanager
def _handlers(handler) -> Iterator[None]:
    if not _in_main_thread():  # only the main thread may set handlers (an in-process caller's thread)
        yield
        return
    previous = {s: signal.getsignal(s) for s in STOP_SIGNALS}
    for s in STOP_SIGNALS:
        signal.signal(s, handler)
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h if h is not None else signal.SIG_DFL)


@contextlib.contextmanager
def raise_on_stop_signals() -> Iterator[None]:
    """Turn the first SIGTERM or SIGINT into StopRequested in the main thread.

    Later signals are ignored while the command unwinds, so that a second Ctrl-C cannot cut a
    cleanup (closing a journal, stopping a server) in half.
    """
    raised = threading.Event()

    def handler(signum, _frame):
        if raised.is_set():
            return
        raised.set()
        raise StopRequested(signum)

    with _handlers(handler):
        yield


class StopWaiter:
    """Block the main thread until SIGTERM or SIGINT (``daka hw tof-sim``, ``daka admin serve``)."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.signum: int | None = None

    def _handler(self, signum, _frame) -> None:
        if self.signum is None:
            self.signum = signum
        self._event.set()

    def stop(self) -> None:
        """End the wait from another thread (a server that died, a test)."""
        self._event.set()

    def wait(self) -> int | None:
        """Wait with the handlers installed; return the signal that ended it (None if stop())."""
        with _handlers(self._handler):
            # A timed wait: the main thread wakes up to run the Python-level handler promptly.
            while not self._event.wait(0.5):
                pass
        return self.signum

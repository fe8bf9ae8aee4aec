"""Shared by the screens: loading a screen's .kv file once, the common widgets (base.kv), and
running a job on the terminal's worker with its outcome brought back to the UI thread."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from kivy.clock import Clock
from kivy.lang import Builder

_loaded: set[str] = set()


def load_kv(module_file: str) -> None:
    """Load the .kv file beside `module_file` (once per process)."""
    path = str(Path(module_file).with_suffix(".kv"))
    if path not in _loaded:
        Builder.load_file(path)
        _loaded.add(path)


def run_on_worker(app, func, *args, done: Callable[[Any], None], failed: Callable[[Exception], None]) -> None:
    """Run `func(*args)` on the terminal's worker (storage never on the UI thread); then, on the UI
    thread, `done(result)`, or `failed(error)` if it raised (shown on the screen, not raised into
    Kivy's loop)."""
    future = app.terminal.run_job(func, *args)

    def deliver(_dt) -> None:
        try:
            result = future.result()
        except Exception as exc:
            failed(exc)
            return
        done(result)

    future.add_done_callback(lambda _f: Clock.schedule_once(deliver))


load_kv(__file__)

from ..widgets import longpress  # noqa: E402,F401  (registers LongPressZone for the .kv files)

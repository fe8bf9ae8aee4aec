"""Shared by the screens: loading a screen's .kv file once, and the common widgets (base.kv)."""

from __future__ import annotations

from pathlib import Path

from kivy.lang import Builder

_loaded: set[str] = set()


def load_kv(module_file: str) -> None:
    """Load the .kv file beside `module_file` (once per process)."""
    path = str(Path(module_file).with_suffix(".kv"))
    if path not in _loaded:
        Builder.load_file(path)
        _loaded.add(path)


load_kv(__file__)

from ..widgets import longpress  # noqa: E402,F401  (registers LongPressZone for the .kv files)

"""Kivy's window settings, applied before Kivy is first imported (Kivy reads them at import)."""

from __future__ import annotations

import os

SCREEN_SIZE = (480, 320)


def configure_kivy(config, *, windowed: bool | None = None) -> bool:
    """Set Kivy's environment and window before Kivy is imported; True when rendering offscreen."""
    os.environ.setdefault("KIVY_NO_ARGS", "1")
    os.environ.setdefault("KIVY_NO_CONFIG", "1")
    os.environ.setdefault("KIVY_NO_FILELOG", "1")
    os.environ.setdefault("KIVY_LOG_MODE", "PYTHON")
    offscreen = not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY")
    from kivy.config import Config

    rotation = config.ui.rotation
    w, h = SCREEN_SIZE if rotation in (0, 180) else SCREEN_SIZE[::-1]
    Config.set("graphics", "width", str(w))
    Config.set("graphics", "height", str(h))
    Config.set("graphics", "rotation", str(rotation))
    Config.set("graphics", "resizable", "0")
    full = config.ui.fullscreen if windowed is None else not windowed
    Config.set("graphics", "fullscreen", "auto" if full and not offscreen else "0")
    Config.set("graphics", "maxfps", "60")
    Config.set("kivy", "exit_on_escape", "0")
    Config.set("input", "mouse", "mouse,disable_multitouch")
    return offscreen

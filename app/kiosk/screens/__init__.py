"""The kiosk's screens: one .py (behaviour) and one .kv (layout) each, named as in the flow."""

from __future__ import annotations

from .confirm import ConfirmScreen
from .idle import IdleScreen
from .live import LiveScreen
from .nocamera import NoCameraScreen
from .result import ResultScreen

SCREENS = {"live": LiveScreen, "confirm": ConfirmScreen, "result": ResultScreen, "idle": IdleScreen,
           "no_camera": NoCameraScreen}

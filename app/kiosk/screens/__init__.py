"""The kiosk's screens: one .py (behaviour) and one .kv (layout) each, named as in the flow."""

from __future__ import annotations

from .admin_enrol import AdminEnrolScreen
from .admin_menu import AdminMenuScreen
from .admin_network import AdminNetworkScreen
from .admin_pin import AdminPinScreen
from .admin_selftest import AdminSelfTestScreen
from .admin_settings import AdminSettingsScreen
from .confirm import ConfirmScreen
from .idle import IdleScreen
from .live import LiveScreen
from .nocamera import NoCameraScreen
from .result import ResultScreen

SCREENS = {"live": LiveScreen, "confirm": ConfirmScreen, "result": ResultScreen, "idle": IdleScreen,
           "no_camera": NoCameraScreen, "admin_pin": AdminPinScreen, "admin_menu": AdminMenuScreen,
           "admin_enrol": AdminEnrolScreen, "admin_network": AdminNetworkScreen,
           "admin_settings": AdminSettingsScreen, "admin_selftest": AdminSelfTestScreen}

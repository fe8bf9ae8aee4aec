"""On-device admin, step 1: the PIN (after a long press on the status bar)."""

from __future__ import annotations

from kivy.properties import StringProperty
from kivy.uix.screenmanager import Screen

from ..widgets import keypad  # noqa: F401  (registers the Keypad rule)
from .base import load_kv


class AdminPinScreen(Screen):
    message = StringProperty("")

    def show(self, app) -> None:
        self.message = ""
        self.ids.keypad.value = ""

    def entered(self, app, value: str) -> None:
        if app.check_pin(value):
            app.go_admin("admin_menu")
        else:
            self.message = app.t("pin_wrong")
            self.ids.keypad.value = ""


load_kv(__file__)

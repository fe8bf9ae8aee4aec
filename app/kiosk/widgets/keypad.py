"""An on-screen keypad: digits, delete and OK, keys at least 48 px (gloves, resistive touch)."""

from __future__ import annotations

from kivy.properties import BooleanProperty, NumericProperty, StringProperty
from kivy.uix.gridlayout import GridLayout

from ..screens.base import load_kv


class Keypad(GridLayout):
    value = StringProperty("")
    max_length = NumericProperty(8)
    secret = BooleanProperty(False)
    __events__ = ("on_enter",)

    def press(self, key: str) -> None:
        if key == "del":
            self.value = self.value[:-1]
        elif key == "ok":
            self.dispatch("on_enter", self.value)
        elif len(self.value) < self.max_length:
            self.value += key

    def shown(self) -> str:
        return "●" * len(self.value) if self.secret else self.value

    def on_enter(self, value: str) -> None:
        pass


load_kv(__file__)

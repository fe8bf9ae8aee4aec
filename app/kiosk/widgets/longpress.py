"""A transparent zone that fires `on_long_press` when held (the way into the on-device admin)."""

from __future__ import annotations

from kivy.clock import Clock
from kivy.properties import NumericProperty
from kivy.uix.widget import Widget


class LongPressZone(Widget):
    hold_seconds = NumericProperty(2.0)
    __events__ = ("on_long_press",)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._pending = None

    def on_touch_down(self, touch):
        if self.collide_point(*touch.pos):
            self._cancel()
            self._pending = Clock.schedule_once(lambda _dt: self.dispatch("on_long_press"), self.hold_seconds)
        return super().on_touch_down(touch)

    def on_touch_up(self, touch):
        self._cancel()
        return super().on_touch_up(touch)

    def _cancel(self) -> None:
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None

    def on_long_press(self) -> None:
        pass

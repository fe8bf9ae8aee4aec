"""Confirm card: the enrolled photo, name, staff no and time; one big 确认打卡, 不是我, and the punch
state (上班 by default; a tap chooses the next, as the F-keys of ZKTeco terminals)."""

from __future__ import annotations

from kivy.properties import StringProperty
from kivy.uix.screenmanager import Screen

from .base import load_kv


class ConfirmScreen(Screen):
    name_text = StringProperty("")
    staff_no_text = StringProperty("")
    time_text = StringProperty("")

    _shown = None

    def show(self, app) -> None:
        pending = app.flow.pending
        if pending is None:
            return
        if pending is not self._shown:   # a new card starts at 上班 (0): nobody chose yet
            self._shown = pending
            app.punch_status = 0
        card = pending.card
        self.name_text = card.name
        self.staff_no_text = card.staff_no
        self.time_text = app.now().strftime("%H:%M")
        self.ids.photo.texture = app.photo_texture(card.photo) if card.photo is not None else None
        self.ids.photo.opacity = 1 if card.photo is not None else 0


load_kv(__file__)

"""Confirm card: the enrolled photo, name, staff no and time; one big 确认打卡, and 不是我."""

from __future__ import annotations

from kivy.properties import StringProperty
from kivy.uix.screenmanager import Screen

from .base import load_kv


class ConfirmScreen(Screen):
    name_text = StringProperty("")
    staff_no_text = StringProperty("")
    time_text = StringProperty("")

    def show(self, app) -> None:
        pending = app.flow.pending
        if pending is None:
            return
        card = pending.card
        self.name_text = card.name
        self.staff_no_text = card.staff_no
        self.time_text = app.now().strftime("%H:%M")
        self.ids.photo.texture = app.photo_texture(card.photo) if card.photo is not None else None
        self.ids.photo.opacity = 1 if card.photo is not None else 0


load_kv(__file__)

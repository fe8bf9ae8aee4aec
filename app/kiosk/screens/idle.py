"""Idle clock: nobody near; a tap, a face or the distance sensor wakes the live view."""

from __future__ import annotations

from kivy.uix.screenmanager import Screen

from .base import load_kv


class IdleScreen(Screen):
    pass


load_kv(__file__)

"""On-device admin menu: enrol by capture, network and QR, settings, self-test."""

from __future__ import annotations

from kivy.uix.screenmanager import Screen

from .base import load_kv


class AdminMenuScreen(Screen):
    pass


load_kv(__file__)

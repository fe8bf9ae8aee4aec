"""Idle clock: nobody near; a tap, a face or the distance sensor wakes the live view. On a first
run it also shows the admin's setup code (app/setup_code.py), read off the instance folder."""

from __future__ import annotations

from kivy.app import App
from kivy.clock import Clock
from kivy.properties import StringProperty
from kivy.uix.screenmanager import Screen

from .base import load_kv, run_on_worker

SETUP_CODE_EVERY_S = 5.0  # the code goes away soon after the first account is made


class IdleScreen(Screen):
    setup_code = StringProperty("")

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._setup_code_event = None

    def on_enter(self, *_args) -> None:
        self.refresh_setup_code()
        self._setup_code_event = Clock.schedule_interval(lambda _dt: self.refresh_setup_code(), SETUP_CODE_EVERY_S)

    def on_leave(self, *_args) -> None:
        if self._setup_code_event is not None:
            self._setup_code_event.cancel()
            self._setup_code_event = None

    def refresh_setup_code(self) -> None:
        from app.setup_code import pending_setup_code

        app = App.get_running_app()
        terminal = getattr(app, "terminal", None)
        if terminal is None:
            return

        def shown(code) -> None:
            self.setup_code = code or ""

        run_on_worker(app, pending_setup_code, terminal.instance, done=shown, failed=lambda _exc: shown(None))


load_kv(__file__)

"""Self-test: camera, sensor, database, disk; beeps, blinks the LEDs and pulses the relay."""

from __future__ import annotations

from kivy.properties import BooleanProperty, StringProperty
from kivy.uix.screenmanager import Screen

from .base import load_kv, run_on_worker


class AdminSelfTestScreen(Screen):
    report = StringProperty("")
    busy = BooleanProperty(False)

    def show(self, app) -> None:
        self.report = ""

    def run(self, app) -> None:
        if self.busy:
            return
        self.busy, self.report = True, app.t("working")
        run_on_worker(app, app.terminal.self_test, done=self._done, failed=self._failed)

    def _failed(self, exc: Exception) -> None:
        self.busy, self.report = False, str(exc)

    def _done(self, checks) -> None:
        self.busy = False
        self.report = "\n".join(f"{'OK' if ok else '!!'}  {name}: {detail}" for name, ok, detail in checks)


load_kv(__file__)

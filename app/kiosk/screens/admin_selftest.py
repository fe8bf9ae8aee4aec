"""Self-test: camera, sensor, database, disk; beeps, blinks the LEDs and pulses the relay."""

from __future__ import annotations

from kivy.clock import Clock
from kivy.properties import BooleanProperty, StringProperty
from kivy.uix.screenmanager import Screen

from .base import load_kv


class AdminSelfTestScreen(Screen):
    report = StringProperty("")
    busy = BooleanProperty(False)

    def show(self, app) -> None:
        self.report = ""

    def run(self, app) -> None:
        if self.busy:
            return
        self.busy, self.report = True, app.t("working")
        future = app.terminal.run_job(app.terminal.self_test)
        future.add_done_callback(lambda f: Clock.schedule_once(lambda _dt: self._done(f)))

    def _done(self, future) -> None:
        self.busy = False
        try:
            checks = future.result()
        except Exception as exc:
            self.report = str(exc)
            return
        self.report = "\n".join(f"{'OK' if ok else '!!'}  {name}: {detail}" for name, ok, detail in checks)


load_kv(__file__)

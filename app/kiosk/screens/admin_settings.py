"""Settings on the device: the false-accept rate (1% or the strict 0.1%), the raw match threshold
(the expert way, in force only with [recognition] decide_by_threshold) and sound (run-time
settings of the registry in app/services/settings.py: stored, audited and applied by the
terminal's subscription)."""

from __future__ import annotations

from kivy.properties import BooleanProperty, NumericProperty, StringProperty
from kivy.uix.screenmanager import Screen

from app.services.settings import REGISTRY, threshold_key

from .base import load_kv, run_on_worker

STEP = 0.005


class AdminSettingsScreen(Screen):
    threshold = NumericProperty(0.0)
    false_accept = NumericProperty(0.01)
    by_threshold = BooleanProperty(False)
    sound = BooleanProperty(True)
    message = StringProperty("")

    def show(self, app) -> None:
        rule = app.terminal.pipeline.rule
        self.threshold = rule.threshold
        self.by_threshold = not rule.by_false_accept
        self.false_accept = app.terminal.config.recognition.false_accept if self.by_threshold else rule.false_accept
        self.sound = app.terminal.sound
        self.message = ""

    def nudge(self, app, steps: int) -> None:
        key = threshold_key(app.terminal.config.vision.embedder)  # each embedder has its own scale
        meta = REGISTRY[key].spec.meta   # the schema's range for it
        value = round(min(meta.max, max(meta.min, self.threshold + steps * STEP)), 3)
        self._save(app, key, value)

    def toggle_false_accept(self, app) -> None:
        self._save(app, "recognition.false_accept", 0.01 if self.false_accept < 0.005 else 0.001)

    def toggle_sound(self, app) -> None:
        self._save(app, "ui.sound", not self.sound)

    def _save(self, app, key, value) -> None:
        self.message = app.t("working")
        run_on_worker(app, app.terminal.change_setting, key, value, done=lambda _r: self._saved(app),
                      failed=self._failed)

    def _failed(self, exc: Exception) -> None:
        self.message = str(exc)

    def _saved(self, app) -> None:
        self.show(app)
        self.message = app.t("saved")


load_kv(__file__)

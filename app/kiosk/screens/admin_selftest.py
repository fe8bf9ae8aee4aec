"""Self-test: camera, sensor, database, disk; beeps, blinks the LEDs and pulses the relay.

The checks are app/services/selfcheck.py's `device_checks` (run on the terminal's worker by
`Terminal.self_test`); this screen shows them in the person's language."""

from __future__ import annotations

import re

from kivy.properties import BooleanProperty, StringProperty
from kivy.uix.screenmanager import Screen

from ..texts import TEXTS, text
from .base import load_kv, run_on_worker


class AdminSelfTestScreen(Screen):
    report = StringProperty("")
    busy = BooleanProperty(False)
    _lang = "zh_CN"

    def show(self, app) -> None:
        self.report = ""

    def run(self, app) -> None:
        if self.busy:
            return
        self.busy, self.report, self._lang = True, app.t("working"), app.lang
        run_on_worker(app, app.terminal.self_test, done=self._done, failed=self._failed)

    def _failed(self, exc: Exception) -> None:
        self.busy, self.report = False, str(exc)

    def _done(self, checks) -> None:
        self.busy = False
        self.report = report_text(checks, self._lang)


def detail_text(detail: str, language: str) -> str:
    """The terminal's check details (English, technical) with their known phrases in the language."""
    if not language.startswith("zh"):
        return detail
    detail = detail.replace("not configured", text("not_configured", language))
    detail = detail.replace("streaming", text("streaming", language))
    detail = detail.replace("beep, LEDs, relay pulsed", text("outputs_pulsed", language))
    detail = re.sub(r"journal (\d+) pending", lambda m: text("journal_pending", language, n=m.group(1)), detail)
    return re.sub(r"([\d.]+) GB free", lambda m: text("disk_free", language, gb=m.group(1)), detail)


def report_text(checks, language: str) -> str:
    """One line a check (a selfcheck.Check): 正常 / 异常, the part, what was found."""
    lines = []
    for check in checks:
        name = check.name
        part = text(f"check_{name}", language) if f"check_{name}" in TEXTS else name
        lines.append(f"{text('check_ok' if check.ok else 'check_failed', language)}  {part}: "
                     f"{detail_text(check.detail, language)}")
    return "\n".join(lines)


load_kv(__file__)

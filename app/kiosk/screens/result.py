"""Result: success with today's punches, already clocked in, not recognised, liveness, failure."""

from __future__ import annotations

from kivy.properties import ColorProperty, StringProperty
from kivy.uix.screenmanager import Screen

from .. import flow as F
from .base import load_kv

COLOURS = {F.SUCCESS: (0.16, 0.62, 0.33, 1), F.ALREADY: (0.15, 0.45, 0.75, 1),
           F.UNKNOWN: (0.75, 0.22, 0.2, 1), F.LIVENESS: (0.75, 0.22, 0.2, 1), F.ERROR: (0.75, 0.22, 0.2, 1)}


class ResultScreen(Screen):
    kind = StringProperty("")
    title_text = StringProperty("")
    detail_text = StringProperty("")
    today_text = StringProperty("")
    colour = ColorProperty((0, 0, 0, 1))

    def show(self, app) -> None:
        outcome = app.flow.outcome
        if outcome is None:
            return
        t = app.t
        self.kind = outcome.kind
        self.colour = COLOURS[outcome.kind]
        name = outcome.card.name if outcome.card else ""
        result = outcome.result
        if outcome.kind == F.SUCCESS:
            self.title_text = f"{t('success')}  {result.punch.local_time[:5]}"
            self.detail_text = name
        elif outcome.kind == F.ALREADY:
            self.title_text = t("already", hhmm=result.punch.local_time[:5])
            self.detail_text = name
        elif outcome.kind == F.UNKNOWN:
            self.title_text, self.detail_text = t("unknown"), t("unknown_hint")
        elif outcome.kind == F.LIVENESS:
            self.title_text, self.detail_text = t("liveness"), t("liveness_next")
        else:
            self.title_text, self.detail_text = t("error"), ""
        if result is not None and result.today:
            self.today_text = t("today") + "  " + "  ".join(p.local_time[:5] for p in result.today)
        else:
            self.today_text = ""


load_kv(__file__)

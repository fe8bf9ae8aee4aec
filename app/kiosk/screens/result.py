"""Result: success with today's punches, already clocked in, not recognised, liveness, failure.

After a successful punch a QR code leads the person's phone to their own month (issue 24).
"""

from __future__ import annotations

import numpy as np
import segno
from kivy.properties import ColorProperty, ObjectProperty, StringProperty
from kivy.uix.screenmanager import Screen

from .. import flow as F
from .base import load_kv

COLOURS = {F.SUCCESS: (0.16, 0.62, 0.33, 1), F.ALREADY: (0.15, 0.45, 0.75, 1),
           F.UNKNOWN: (0.75, 0.22, 0.2, 1), F.LIVENESS: (0.75, 0.22, 0.2, 1), F.ERROR: (0.75, 0.22, 0.2, 1)}
QR_BORDER = 2  # quiet-zone modules around the code (the screen behind it is coloured)


def qr_pixels(url: str) -> np.ndarray:
    """The QR code of ``url`` as a BGR image, one pixel a module (the texture scales it, unblurred)."""
    qr = segno.make(url, error="m")
    dark = np.array(list(qr.matrix_iter(scale=1, border=QR_BORDER)), dtype=bool)
    grey = np.where(dark, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(np.dstack([grey, grey, grey]))


class ResultScreen(Screen):
    kind = StringProperty("")
    title_text = StringProperty("")
    detail_text = StringProperty("")
    today_text = StringProperty("")
    qr_text = StringProperty("")
    qr_url = StringProperty("")
    qr_texture = ObjectProperty(None, allownone=True)
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
        self._show_qr(app, outcome)

    def _show_qr(self, app, outcome) -> None:
        links, card = app.self_links, outcome.card
        if outcome.kind != F.SUCCESS or links is None or card is None:
            self.qr_url, self.qr_text, self.qr_texture = "", "", None
            return
        self.qr_url = links.url(card.staff_id, card.staff_no)
        texture = app.photo_texture(qr_pixels(self.qr_url))
        texture.mag_filter = "nearest"  # sharp modules: a phone camera reads crisp edges best
        self.qr_texture = texture
        self.qr_text = app.t("self_service_qr")


load_kv(__file__)

"""On-device enrolment: the staff no on a keypad, then three captures with live quality feedback.

Lookups and enrolments run on the terminal's worker; their results come back through Clock.
The staff member must exist (created in the admin, with or without a photo): the keypad gives
a number, not a name.
"""

from __future__ import annotations

from kivy.properties import BooleanProperty, NumericProperty, StringProperty
from kivy.uix.screenmanager import Screen

from ..widgets import keypad  # noqa: F401
from .base import load_kv, run_on_worker

CAPTURES = 3
PREVIEW = (256, 192)


class AdminEnrolScreen(Screen):
    step = StringProperty("number")     # number, capture, done
    message = StringProperty("")
    quality_text = StringProperty("")
    done_count = NumericProperty(0)
    busy = BooleanProperty(False)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.card = None
        self._renderer = None
        self._texture = None
        self._drawn = None

    def show(self, app) -> None:
        self.step, self.message, self.done_count, self.busy, self.card = "number", "", 0, False, None
        self.ids.keypad.value = ""

    def number_entered(self, app, value: str) -> None:
        if not value or self.busy:
            return
        self.busy, self.message = True, app.t("working")
        run_on_worker(app, app.terminal.cards.find, value, done=lambda card: self._found(app, value, card),
                      failed=self._failed)

    def _failed(self, exc: Exception) -> None:
        self.busy, self.message = False, str(exc)

    def _found(self, app, value, card) -> None:
        self.busy = False
        if card is None:
            self.message = app.t("staff_unknown", no=value)
            return
        self.card, self.step, self.message = card, "capture", f"{card.name}  {card.staff_no}"

    def capture(self, app) -> None:
        if self.busy or self.card is None or self.done_count >= CAPTURES:
            return
        self.busy, self.message = True, app.t("working")
        run_on_worker(app, app.terminal.enroll_capture, self.card, done=lambda result: self._captured(app, result),
                      failed=self._failed)

    def _captured(self, app, result) -> None:
        self.busy = False
        if not result.ok:
            self.message = result.message(app.lang)
            return
        self.done_count += 1
        if self.done_count >= CAPTURES:
            self.step, self.message = "done", app.t("enrol_done", name=self.card.name)
        else:
            self.message = app.t("enrolled_one", n=self.done_count)

    def on_frame(self, app) -> None:
        """The preview and the live quality hint of the nearest face."""
        if self.step != "capture":
            return
        from ..app import bgr_texture
        from ..overlay import LiveRenderer

        latest = app.latest_frame()
        if latest is None or (latest.seq, id(app.latest_update)) == self._drawn:
            return
        self._drawn = (latest.seq, id(app.latest_update))
        if self._renderer is None:
            self._renderer = LiveRenderer(app.renderer.text, PREVIEW)
        picture = self._renderer.render(latest.frame, app.latest_update, app.lang)
        self._texture = bgr_texture(picture, self._texture)
        self.ids.preview.texture = self._texture
        self.ids.preview.canvas.ask_update()
        tracks = app.latest_update.result.tracks if app.latest_update else []
        if not tracks:
            self.quality_text = app.t("look")
        else:
            nearest = max(tracks, key=lambda t: t.box[2] - t.box[0])
            self.quality_text = nearest.quality.message(app.lang) if not nearest.quality.ok else app.t("ready_capture")


load_kv(__file__)

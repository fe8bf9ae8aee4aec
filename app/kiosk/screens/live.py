"""Live view: the newest camera frame with face boxes and names, the status bar, a hint."""

from __future__ import annotations

from kivy.uix.screenmanager import Screen

from .base import load_kv


class LiveScreen(Screen):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._texture = None
        self._drawn = (None, None)

    def on_frame(self, app) -> None:
        """Draw the newest frame if it, or the vision result, changed since the last draw."""
        from ..app import bgr_texture

        latest = app.latest_frame()
        if latest is None:
            return
        key = (latest.seq, id(app.latest_update))
        if key == self._drawn:
            return
        self._drawn = key
        picture = app.renderer.render(latest.frame, app.latest_update, app.lang)
        self._texture = bgr_texture(picture, self._texture)
        view = self.ids.view
        if view.texture is not self._texture:
            view.texture = self._texture
        view.canvas.ask_update()


load_kv(__file__)

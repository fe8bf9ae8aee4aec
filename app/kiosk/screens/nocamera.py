"""No camera: says so plainly, with the reason and where the admin is."""

from __future__ import annotations

from kivy.properties import StringProperty
from kivy.uix.screenmanager import Screen

from .base import load_kv


class NoCameraScreen(Screen):
    reason_text = StringProperty("")
    admin_text = StringProperty("")

    def show(self, app) -> None:
        self.reason_text = app.camera_reason[:120]
        ip = app.ip
        self.admin_text = f"{app.t('admin_url')}: http://{ip}:{app.admin_port}/" if ip else ""


load_kv(__file__)

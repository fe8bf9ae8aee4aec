"""Network: this terminal's address, the admin URL and a QR code of it (segno)."""

from __future__ import annotations

import numpy as np
from kivy.properties import StringProperty
from kivy.uix.screenmanager import Screen

from .base import load_kv


def qr_image(text: str, scale: int = 5, border: int = 2) -> np.ndarray:
    """A black-on-white QR code of `text` as a BGR array (modules `scale` px wide)."""
    import segno

    modules = np.array(segno.make(text, error="m").matrix, dtype=bool)
    modules = np.pad(modules, border)
    picture = np.where(modules, 0, 255).astype(np.uint8)
    picture = np.kron(picture, np.ones((scale, scale), np.uint8))
    return np.repeat(picture[:, :, None], 3, axis=2)


class AdminNetworkScreen(Screen):
    url = StringProperty("")
    details = StringProperty("")

    def show(self, app) -> None:
        from ..app import bgr_texture

        ip = app.ip
        self.url = f"http://{ip}:{int(app.admin_port)}/" if ip else app.t("offline")
        camera = app.status.get("camera", {})
        self.details = "\n".join([
            f"{app.t('device')}: {app.device_name}",
            f"IP: {ip or '-'}",
            f"{app.t('camera_state')}: {camera.get('state', '-')} {camera.get('fps', '')}",
            f"{app.t('pending', n=int(app.pending))}",
        ])
        if ip:
            self.ids.qr.texture = bgr_texture(qr_image(self.url))
            self.ids.qr.opacity = 1
        else:
            self.ids.qr.opacity = 0


load_kv(__file__)

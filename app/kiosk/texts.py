"""The screens' texts: a short key (``"confirm"``) is ``kiosk.confirm`` in the app's catalogue (app/i18n).

A key with a dot (``quality.blurry``, ``liveness.challenge``) is already a catalogue key.
"""

from __future__ import annotations

from app import i18n


def _key(key: str) -> str:
    return key if "." in key else f"kiosk.{key}"


def text(key: str, language: str = "zh_CN", **values) -> str:
    return i18n.text(_key(key), language, **values)


def has(key: str) -> bool:
    return i18n.has(_key(key))

"""The admin's language: the session's choice (the 中文 / English switch), else the device setting.

Texts come from the app's catalogue (app/i18n): templates call ``_("保存")``, the Chinese text being
its own key, and get it in the page's language.
"""

from __future__ import annotations

from flask import Flask, g, session

from app.i18n import LANGUAGES, text


def language() -> str:
    lang = g.get("language")
    if lang is None:
        lang = session.get("lang")
        if lang not in LANGUAGES:
            from .context import services

            lang = services().setting("device.language")
        g.language = lang if lang in LANGUAGES else "zh_CN"
    return g.language


def gettext(key: str, **values) -> str:
    return text(key, language(), **values)


def init_i18n(app: Flask) -> None:
    app.jinja_env.globals.update(_=gettext, language=language)

"""The devices page of a central store (a fleet centre): each terminal's name, location, version,
heartbeat, camera and sensor state, punches waiting in its journal, last punch and last error,
a terminal silent for longer than ``fleet.silent_after_min`` flagged; and per terminal, its
setting overrides.

Who sees what: every signed-in account reads (as it reads attendance); only administrators
change an override (settings are the system's, as on the global settings page).
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for

from app.config import ConfigError
from app.fleet.central import is_centre

from ..context import services
from ..i18n import gettext as _
from ..i18n import language
from ..security import require_admin
from ..settings.routes import typed_value, problem_sentence
from . import service

bp = Blueprint("fleet", __name__, url_prefix="/fleet")


def centre() -> bool:
    """Whether this admin's store is a fleet centre (read once per request)."""
    if "daka_fleet_centre" not in g:
        g.daka_fleet_centre = is_centre(services().store)
    return g.daka_fleet_centre


@bp.app_context_processor
def _navigation():
    return {"fleet_centre": centre}


@bp.before_request
def _only_on_a_centre():
    if request.method not in ("GET", "HEAD"):
        require_admin()   # the refusal a change gets wherever it is sent, a centre or not
    if not centre():
        abort(404, description=_("这台终端不是终端集群的中心数据库，没有终端设备页。"))


_SWITCH_WORDS = ("true", "false", "1", "0", "on", "off")


def _refusal(setting, value_text: str) -> str:
    """Why a typed override was refused: the settings page's sentence; for a list, its values."""
    if setting.choices:
        return _("请填写以下值之一：{values}", values="、".join(str(v) for v, _t in setting.choices))
    return problem_sentence(setting, value_text)


def _silent_after() -> int:
    return services().setting("fleet.silent_after_min")


@bp.get("/")
def index():
    return render_template("fleet/index.html", devices=service.devices(services().store),
                           silent_after=_silent_after())


@bp.route("/<device_id>", methods=["GET", "POST"])
def device(device_id: str):
    store = services().store
    # PostgreSQL text holds no NUL: such an id or key names nothing (and is never sent)
    d = None if "\x00" in device_id else service.device(store, device_id)
    if d is None:
        abort(404, description=_("没有这台终端"))
    error, typed = None, {}
    if request.method == "POST":
        key = request.form.get("key", "")
        settings = service.overridable()
        if "remove" in request.form:
            gone = request.form["remove"]
            if "\x00" not in gone and service.remove_override(store, device_id, gone, g.actor):
                flash(_("已删除这台终端的单独设置，恢复使用全局设置"))
            return redirect(url_for("fleet.device", device_id=device_id))
        value_text = request.form.get("value", "")
        typed = {"key": key, "value": value_text}
        if key not in settings:
            error = _("请从列表中选择一项设置。")
        elif settings[key].input == "bool" and value_text.strip().lower() not in _SWITCH_WORDS:
            error = _("开关类设置请填写 true（开）或 false（关）。")
        else:
            try:
                service.set_override(store, device_id, key, typed_value(settings[key], value_text), g.actor)
            except ConfigError:
                error = _refusal(settings[key], value_text)
            else:
                flash(_("已保存这台终端的单独设置"))
                return redirect(url_for("fleet.device", device_id=device_id))
    lang = language()
    overrides = service.overrides(store, device_id)
    everywhere = services().settings.all()
    return render_template("fleet/device.html", d=d, silent_after=_silent_after(), overrides=overrides,
                           everywhere=everywhere, settings=service.overridable(), registry=service.REGISTRY,
                           lang=lang, error=error, typed=typed), (400 if error else 200)

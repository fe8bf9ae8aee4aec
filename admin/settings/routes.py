"""The settings page, generated from the run-time settings registry (app/services/settings.py):
every registered key (of the recognition rules, the embedder in use's), grouped, with its label
and help in the page's language, an input for its type, its choices, and a note where it
applies only at the next start."""

from __future__ import annotations

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for

from app.config import ConfigError
from app.services.settings import REGISTRY, RuntimeSetting

from ..context import services
from ..i18n import gettext as _
from ..i18n import language
from ..security import require_admin

bp = Blueprint("settings", __name__, url_prefix="/settings")
bp.before_request(require_admin)  # settings hold the webhook secret: administrators only

_TRUE = ("1", "true", "on")


def typed_value(setting: RuntimeSetting, text: str):
    """The form's text as the key's type; left as text when it does not parse (the schema's
    check then names the problem, and the page shows what was typed)."""
    kind = setting.spec.type
    if kind is bool:
        return text.strip().lower() in _TRUE
    if kind in (int, float):
        try:
            return kind(text.strip())
        except ValueError:
            return text
    return text


# A sentence for the keys whose rule is a custom check (the schema's own text is for daka.toml).
_CHECK_SENTENCES = {
    "device.name": "名称应为 1 至 64 个字符，不含控制字符。",
    "device.timezone": "请选择有效的时区，例如 Asia/Shanghai。",
    "push.webhook_url": "请填写以 http:// 或 https:// 开头的地址，或留空表示不推送。",
}


def _number(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def problem_sentence(setting: RuntimeSetting, text: str) -> str:
    """Why the admin's typed value was refused, as a sentence in the page's language.

    The schema's checks (app/config) word their problems for daka.toml (``expected an integer ...
    (remove the quotes)``); here the same rule is said for a person filling a form: what to type."""
    spec = setting.spec
    lo, hi = spec.meta.min, spec.meta.max
    if spec.meta.choices is not None:
        return _("请从列表中选择一项。")
    if spec.type in (int, float):
        kind = _("整数") if spec.type is int else _("数字")
        if lo is not None and hi is not None:
            return _("请输入 {lo} 至 {hi} 之间的{kind}。", lo=_number(spec.type(lo)), hi=_number(spec.type(hi)),
                     kind=kind)
        if lo is not None:
            return _("请输入不小于 {lo} 的{kind}。", lo=_number(spec.type(lo)), kind=kind)
        if hi is not None:
            return _("请输入不大于 {hi} 的{kind}。", hi=_number(spec.type(hi)), kind=kind)
        return _("请输入{kind}。", kind=kind)
    key = _CHECK_SENTENCES.get(setting.key)
    if key is not None:
        return _(key)
    return _("这个值不可用，请参考下方说明修改。")


def offered(embedder: str) -> dict[str, RuntimeSetting]:
    """The registry's keys this terminal offers: all but the decision rules of the embedders not
    in use (each embedder has its own similarity scale; only the one in use means anything)."""
    return {key: s for key, s in REGISTRY.items() if s.embedder is None or s.embedder[0] == embedder}


def _groups(lang: str, settings: dict[str, RuntimeSetting]) -> list[tuple[str, list[RuntimeSetting]]]:
    """The offered keys by group, groups and keys in registration order."""
    groups: dict[str, list[RuntimeSetting]] = {}
    for setting in settings.values():
        groups.setdefault(setting.group_text(lang), []).append(setting)
    return list(groups.items())


@bp.route("/", methods=["GET", "POST"])
def index():
    """Every value saved here overrides daka.toml; a live key reaches a running terminal at once
    (docs/config.md, "Settings changed in the admin")."""
    settings = services().settings
    fields = offered(services().config.vision.embedder)
    errors: dict[str, str] = {}
    typed: dict[str, str] = {}
    if request.method == "POST" and "reset" in request.form:
        key = request.form["reset"]
        if key not in fields:
            abort(400, description=_("没有这项设置。"))
        settings.reset(key, actor=g.actor)
        services().forget_settings()
        flash(_("已恢复配置文件的值"))
        return redirect(url_for("settings.index"))
    if request.method == "POST":
        current = settings.all()
        for key, setting in fields.items():
            if key not in request.form:
                continue
            text = request.form[key]
            if setting.secret and text == "":
                continue  # an empty secret field keeps the stored secret
            value = typed_value(setting, text)
            if value == current.get(key):
                continue
            try:
                settings.set(key, value, actor=g.actor)
            except ConfigError:
                errors[key] = problem_sentence(setting, text)
                if not setting.secret:
                    typed[key] = text   # shown again as typed, to correct
        services().forget_settings()
        if not errors:
            flash(_("已保存"))
            return redirect(url_for("settings.index"))
    return render_template("settings/index.html", **_page(settings, fields, errors, typed)), (400 if errors else 200)


def _page(settings, fields: dict[str, RuntimeSetting], errors: dict[str, str], typed: dict[str, str]) -> dict:
    stored = settings.stored()
    # the file's value beside each value an admin changed, so the override is visible
    overridden = {key: settings.default(key) for key in fields
                  if key in stored and stored[key] != settings.default(key)}
    values = {**settings.all(), **typed}
    return {"groups": _groups(language(), fields), "values": values,
            "errors": errors, "overridden": overridden}

from __future__ import annotations

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for

from app.config import ConfigError
from app.vision.decision import DecisionRule

from ..context import services
from ..i18n import gettext as _
from ..security import require_admin

bp = Blueprint("settings", __name__, url_prefix="/settings")
bp.before_request(require_admin)  # settings hold the webhook secret: administrators only

# (key, label, input kind); choices come from the config schema
FIELDS = (
    ("device.name", "设备名称", "text"),
    ("recognition.threshold", "识别阈值", "number"),
    ("attendance.confirm_seconds", "确认超时（秒）", "number"),
    ("attendance.dedupe_seconds", "重复打卡间隔（秒）", "number"),
    ("attendance.flush_seconds", "写入间隔（秒）", "number"),
    ("storage.retention_days", "保留天数", "number"),
    ("push.webhook_url", "推送地址", "text"),
    ("push.secret", "推送密钥", "secret"),
    ("gpio.relay_mode", "门禁继电器", "choice"),
    ("device.timezone", "时区", "text"),
    ("device.language", "语言", "choice"),
)
CHOICES = {
    "gpio.relay_mode": (("pulse", "每次打卡开门"), ("off", "关闭")),
    "device.language": (("zh_CN", "中文"), ("en", "English")),
}


def _fields() -> tuple:
    """FIELDS with the threshold of the embedder in use (each embedder has its own scale)."""
    key = DecisionRule.setting_keys(services().config.vision.embedder)[0]
    return tuple((key, label, kind) if k == "recognition.threshold" else (k, label, kind)
                 for k, label, kind in FIELDS)


def _typed(key: str, text: str):
    default = services().settings.default(key)
    if isinstance(default, bool):
        return text in ("1", "true", "on")
    if isinstance(default, int):
        try:
            return int(text.strip())
        except ValueError:
            return text
    if isinstance(default, float):
        try:
            return float(text.strip())
        except ValueError:
            return text
    return text


@bp.route("/", methods=["GET", "POST"])
def index():
    """Every value saved here overrides daka.toml and reaches a running terminal at once
    (docs/config.md, "Settings changed in the admin")."""
    settings = services().settings
    errors: dict[str, str] = {}
    keys = {key for key, _label, _kind in _fields()}
    if request.method == "POST" and "reset" in request.form:
        key = request.form["reset"]
        if key not in keys:
            abort(400, description=f"{key} is not a setting of this page")
        settings.reset(key, actor=g.actor)
        services().forget_settings()
        flash(_("已恢复配置文件的值"))
        return redirect(url_for("settings.index"))
    if request.method == "POST":
        current = settings.all()
        for key, _label, kind in _fields():
            if key not in request.form:
                continue
            text = request.form[key]
            if kind == "secret" and text == "":
                continue  # an empty secret field keeps the stored secret
            value = _typed(key, text)
            if value == current.get(key):
                continue
            try:
                settings.set(key, value, actor=g.actor)
            except ConfigError as exc:
                errors[key] = "; ".join(exc.problems)
        services().forget_settings()
        if not errors:
            flash(_("已保存"))
            return redirect(url_for("settings.index"))
    return render_template("settings/index.html", **_page(settings, errors)), (400 if errors else 200)


def _page(settings, errors: dict[str, str]) -> dict:
    stored = settings.stored()
    # the file's value beside each value an admin changed, so the override is visible
    overridden = {key: settings.default(key) for key, _label, _kind in _fields()
                  if key in stored and stored[key] != settings.default(key)}
    return {"fields": _fields(), "values": settings.all(), "errors": errors, "choices": CHOICES,
            "overridden": overridden}

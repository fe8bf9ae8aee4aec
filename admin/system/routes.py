from __future__ import annotations

import datetime as dt
import json

from flask import (Blueprint, abort, after_this_request, current_app, flash, g, redirect, render_template,
                   request, send_file, url_for)
from sqlalchemy import func, select

from app.store import AdminUser, ApiToken, AuditEntry

from ..auth import tokens, users
from ..context import services
from ..i18n import gettext as _
from ..paging import page_number
from ..security import require_admin
from . import backup, clock

bp = Blueprint("system", __name__, url_prefix="/system")
bp.before_request(require_admin)  # the whole system section is for administrators
LOG_TAIL_LINES = 300
AUDIT_PAGE = 50


def _log_files() -> dict[str, object]:
    folder = services().instance.logs_dir
    return {p.name: p for p in sorted(folder.glob("*.log*")) if p.is_file()} if folder.is_dir() else {}


@bp.get("/")
def index():
    return _page()


def _page(new_token: str | None = None):
    svc = services()
    logs = _log_files()
    tail = ""
    if logs:
        newest = max(logs.values(), key=lambda p: p.stat().st_mtime)
        lines = newest.read_text("utf-8", errors="replace").splitlines()[-LOG_TAIL_LINES:]
        tail = "\n".join(lines)
    with svc.store.session() as s:
        token_rows = list(s.scalars(select(ApiToken).order_by(ApiToken.id.desc())))
        user_rows = list(s.scalars(select(AdminUser).order_by(AdminUser.username)))
    now = dt.datetime.now(svc.timezone())
    return render_template("system/index.html", logs=list(logs), tail=tail, tokens=token_rows,
                           users=user_rows, now=now, new_token=new_token,
                           sqlite=svc.store.dialect == "sqlite", ntp=clock.ntp_enabled(),
                           adms=adms_status(svc), zk_pull=svc.status().get("zk_pull"))


def _failed(message: str, detail: str, action: str, **audited):
    """A failure the admin caused or met: a sentence in the error style, the technical detail folded
    under it (and in the log), and an audit row saying what was tried."""
    current_app.logger.warning("%s failed: %s", action, detail)
    with services().store.session() as s:
        services().store.audit(s, g.actor, action, error=detail, **audited)
    flash(message, "error")
    flash(detail, "error-detail")
    return redirect(url_for("system.index")), 303


def _clock_failure(exc: clock.ClockError) -> str:
    """What a person can act on: a refused value is theirs to fix; anything else is the helper's."""
    if exc.bad_value:
        return _("日期或时间无效：日期应为 2000 至 2099 年的真实日期，时间为 时:分:秒。")
    return _("终端没有改变时间：设置时间的辅助程序无法运行或拒绝了请求（详情见下方，并已写入日志）。"
             "请检查安装时配置的 sudo 规则，或联系安装人员。")


@bp.post("/time")
def set_time():
    date, time = request.form.get("date", ""), request.form.get("time", "")
    try:
        out = clock.set_system_time(current_app.config["DAKA_SET_TIME_COMMAND"], date, time)
    except clock.ClockError as exc:
        return _failed(_clock_failure(exc), str(exc), "set_time_failed", date=date[:20], time=time[:20])
    with services().store.session() as s:
        services().store.audit(s, g.actor, "set_time", date=request.form["date"], time=request.form["time"],
                               output=out)
    flash(_("时间已设置") + " " + _("网络校时已关闭，可点“恢复网络校时”重新开启"))
    return redirect(url_for("system.index"))


@bp.post("/time/ntp")
def restore_ntp():
    try:
        out = clock.restore_network_time(current_app.config["DAKA_SET_TIME_COMMAND"])
    except clock.ClockError as exc:
        return _failed(_("恢复网络校时失败：设置时间的辅助程序无法运行或拒绝了请求（详情见下方，并已写入日志）。"),
                       str(exc), "restore_ntp_failed")
    with services().store.session() as s:
        services().store.audit(s, g.actor, "restore_ntp", output=out)
    flash(_("网络校时已恢复"))
    return redirect(url_for("system.index"))


@bp.get("/logs/<name>")
def log_file(name: str):
    path = _log_files().get(name)  # only names listed from the folder, never a path from the client
    if path is None:
        abort(404)
    return send_file(path, as_attachment=True, download_name=name, mimetype="text/plain")


@bp.get("/backup")
def download_backup():
    svc = services()
    try:
        target = backup.backup_to(svc.store, backup.temp_file())
    except backup.BackupError as exc:
        current_app.logger.warning("backup failed: %s", exc)
        abort(409, description=_("这里只能备份 SQLite 数据库；PostgreSQL 请用 pg_dump。"))

    @after_this_request
    def _cleanup(response):
        target.unlink(missing_ok=True)
        return response

    with svc.store.session() as s:
        svc.store.audit(s, g.actor, "backup")
    stamp = dt.datetime.now(svc.timezone()).strftime("%Y%m%d-%H%M%S")
    return send_file(target, as_attachment=True, download_name=f"daka-{stamp}.sqlite3",
                     mimetype="application/vnd.sqlite3")


@bp.post("/restore")
def restore():
    svc = services()
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        flash(_("请选择要恢复的备份文件。"), "error")
        return redirect(url_for("system.index")), 303
    path = backup.temp_file()
    try:
        upload.save(path)
        backup.restore_from(svc.store, path)
    except backup.BackupError as exc:
        return _failed(_("不是有效的备份文件，当前数据未改动。请选择从本系统“下载备份”得到的文件。"), str(exc),
                       "restore_failed", file=(upload.filename or "")[:255])
    finally:
        path.unlink(missing_ok=True)
    with svc.store.session() as s:
        svc.store.audit(s, g.actor, "restore")
    if svc.library_loaded:
        svc.library.load_gallery()
    flash(_("备份已恢复"))
    return redirect(url_for("system.index"))


@bp.post("/tokens")
def create_token():
    try:
        token = tokens.create(services().store, request.form.get("name", ""), g.actor,
                              role=request.form.get("role", "admin"))
    except ValueError:
        flash(_("令牌名称应为 1 至 64 个字符，不含控制字符。"), "error")
        return redirect(url_for("system.index")), 303
    # Shown once, in this answer only (no-store): never put in the session cookie, which is
    # signed but readable by whoever holds it.
    return _page(new_token=token)


@bp.post("/tokens/<int:token_id>/revoke")
def revoke_token(token_id: int):
    if not tokens.revoke(services().store, token_id, g.actor):
        abort(404)
    return redirect(url_for("system.index"))


def _account_change(change, confirm: bool = True) -> object:
    """Run `change(form)` (after the password and its confirmation agree, when `confirm`); flash
    the outcome."""
    form = request.form
    try:
        if confirm and form.get("password", "") != form.get("confirm", ""):
            raise users.UserError("两次输入的密码不一致")
        change(form)
    except users.UserError as exc:
        flash(_(exc.key, **exc.values), "error")
        return redirect(url_for("system.index")), 303
    flash(_("已保存"))
    return redirect(url_for("system.index"))


@bp.post("/users")
def create_user():
    return _account_change(lambda form: users.create_user(
        services().store, form.get("username", ""), form.get("password", ""), form.get("role", "viewer"), g.actor))


@bp.post("/users/<int:user_id>/password")
def set_password(user_id: int):
    return _account_change(lambda form: users.set_password(services().store, user_id, form.get("password", ""),
                                                           g.actor))


@bp.post("/users/<int:user_id>/active")
def set_user_active(user_id: int):
    active = request.form.get("active") == "1"
    return _account_change(lambda form: users.set_active(services().store, user_id, active, g.actor),
                           confirm=False)


@bp.post("/users/<int:user_id>/delete")
def delete_user(user_id: int):
    return _account_change(lambda form: users.delete_user(services().store, user_id, g.actor), confirm=False)


@bp.get("/audit")
def audit():
    pg = page_number()
    with services().store.session() as s:
        total = s.scalar(select(func.count()).select_from(AuditEntry))
        rows = list(s.scalars(select(AuditEntry).order_by(AuditEntry.id.desc())
                              .offset((pg - 1) * AUDIT_PAGE).limit(AUDIT_PAGE)))
    shown = [(r, json.loads(r.detail or "{}")) for r in rows]
    return render_template("system/audit.html", rows=shown, page=pg, pages=max(1, -(-total // AUDIT_PAGE)),
                           total=total)


# -- ZKTeco PUSH (ADMS) link, issue 18 ----------------------------------------------------------
def adms_status(svc) -> dict | None:
    """The ADMS block: the running terminal's link (its status), else None (a standalone admin)."""
    if svc.status_provider is None:
        return None
    try:
        return (svc.status_provider() or {}).get("adms")
    except Exception:   # the rest of the page shows whatever the terminal's status does
        current_app.logger.exception("ADMS status not read")
        return None

from __future__ import annotations

from flask import (Blueprint, abort, current_app, flash, jsonify, redirect, render_template, request,
                   session, url_for)
from flask_login import current_user, login_user, logout_user

from ..context import services
from ..extensions import login_manager
from ..i18n import LANGUAGES, gettext
from ..security import safe_next
from . import users

bp = Blueprint("auth", __name__)


@login_manager.user_loader
def _load_user(user_id: str):
    return users.load(services().store, user_id)


def _client() -> str:
    return request.remote_addr or "?"


@bp.get("/health")
def health():
    with services().store.session() as s:
        s.execute(__import__("sqlalchemy").text("SELECT 1"))
    return jsonify({"ok": True})


@bp.route("/login", methods=["GET", "POST"])
def login():
    if not users.any_user():
        return redirect(url_for("auth.setup"))
    target = safe_next(request.values.get("next"))
    if request.args.get("lang") in LANGUAGES:
        session["lang"] = request.args["lang"]
    error = None
    if request.method == "POST":
        throttle = current_app.extensions["daka_login_throttle"]
        if throttle.blocked(_client()):
            return render_template("auth/login.html", error=gettext("尝试次数过多，请稍后再试"),
                                   next=target), 429
        cfg = services().config.admin
        user, reason = users.authenticate(services().store, request.form.get("username", "").strip(),
                                          request.form.get("password", ""),
                                          attempts=cfg.login_attempts, lockout_minutes=cfg.lockout_minutes)
        if user is None:
            throttle.failed(_client())
            error = gettext(reason)
        else:
            throttle.reset(_client())
            lang = session.get("lang")
            session.clear()  # a fresh session at sign-in: nothing planted before survives
            if lang:
                session["lang"] = lang
            login_user(user)
            session.permanent = True
            session["seen"] = __import__("time").time()
            return redirect(target or url_for("dashboard.index"))
    return render_template("auth/login.html", error=error, next=target), (401 if error else 200)


@bp.route("/setup", methods=["GET", "POST"])
def setup():
    """First run: set the administrator's password (only while no account exists)."""
    if users.any_user():
        return redirect(url_for("auth.login"))
    error = None
    if request.method == "POST":
        password = request.form.get("password", "")
        if password != request.form.get("confirm", ""):
            error = gettext("两次输入的密码不一致")
        else:
            try:
                users.create_user(services().store, request.form.get("username", "admin") or "admin",
                                  password, "admin", actor="setup")
            except users.UserError as exc:
                error = gettext(str(exc))
            else:
                return redirect(url_for("auth.login"))
    return render_template("auth/setup.html", error=error), (400 if error else 200)


@bp.post("/logout")
def logout():
    logout_user()
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang
    return redirect(url_for("auth.login"))


@bp.post("/language")
def language():
    lang = request.form.get("lang")
    if lang not in LANGUAGES:
        abort(400)
    session["lang"] = lang
    return redirect(safe_next(request.form.get("next")) or url_for("dashboard.index"))


@bp.app_context_processor
def _user():
    return {"me": current_user}

from __future__ import annotations

import math
import time

from flask import (Blueprint, abort, current_app, flash, jsonify, make_response, redirect, render_template, request,
                   session, url_for)
from flask_login import current_user, login_user, logout_user
from sqlalchemy import text

from app import setup_code

from ..context import services
from ..extensions import login_manager
from ..i18n import LANGUAGES, gettext
from ..security import safe_next
from . import throttle, users

bp = Blueprint("auth", __name__)


@login_manager.user_loader
def _load_user(user_id: str):
    return users.load(services().store, user_id)


def _client() -> str:
    return request.remote_addr or "?"


@bp.get("/health")
def health():
    with services().store.session() as s:
        s.execute(text("SELECT 1"))
    return jsonify({"ok": True})


def _too_many(template: str, retry_after_s: float, **context):
    response = make_response(render_template(template, error=gettext("尝试次数过多，请稍后再试"), **context), 429)
    response.headers["Retry-After"] = str(max(1, math.ceil(retry_after_s)))
    return response


@bp.route("/login", methods=["GET", "POST"])
def login():
    if not users.any_user():
        return redirect(url_for("auth.setup"))
    target = safe_next(request.values.get("next"))
    _choose_language()
    error = None
    # the name just set up at /setup (or typed in a failed attempt) is filled in again
    username = session.pop("login_name", "") if request.method == "GET" else request.form.get("username", "")
    if request.method == "POST":
        svc, address = services(), _client()
        addresses = current_app.extensions["daka_address_throttle"]
        username, password = request.form.get("username", "").strip(), request.form.get("password", "")
        if not addresses.admit(address):
            return _too_many("auth/login.html", addresses.window, next=target)
        policy = throttle.Policy.from_config(svc.config.admin)
        admission = throttle.begin(svc.store, username, address, policy)
        if not admission.allowed:
            return _too_many("auth/login.html", admission.retry_after_s, next=target)
        user = users.authenticate(svc.store, username, password)
        if user is None:
            with svc.store.session() as s:
                svc.store.audit(s, "anonymous", "login_failed", username=username[:64], address=address)
                if admission.counted == policy.free_attempts:
                    svc.store.audit(s, "anonymous", "login_throttled", username=username[:64], address=address)
            # One answer for every failure: it never tells whether the name exists.
            error = gettext("用户名或密码错误")
        else:
            addresses.release(address)
            throttle.succeeded(svc.store, username, address)
            lang = session.get("lang")
            session.clear()  # a fresh session at sign-in: nothing planted before survives
            if lang:
                session["lang"] = lang
            login_user(user)
            session.permanent = True
            session["seen"] = time.time()
            return redirect(target or url_for("dashboard.index"))
    return render_template("auth/login.html", error=error, next=target, username=username), (401 if error else 200)


def _choose_language() -> None:
    """?lang= on the pages shown before sign-in (login, setup): the 中文 / English links."""
    if request.args.get("lang") in LANGUAGES:
        session["lang"] = request.args["lang"]


@bp.route("/setup", methods=["GET", "POST"])
def setup():
    """First run: the first administrator, for whoever has the setup code shown on the terminal."""
    if users.any_user():
        return redirect(url_for("auth.login"))
    svc = services()
    _choose_language()
    error = None
    if request.method == "POST":
        addresses = current_app.extensions["daka_address_throttle"]
        form = request.form
        if not addresses.admit(_client()):
            return _too_many("auth/setup.html", addresses.window)
        if not setup_code.matches(svc.instance, form.get("setup_code", "")):
            error = gettext("设置码错误")
        elif form.get("password", "") != form.get("confirm", ""):
            error = gettext("两次输入的密码不一致")
        else:
            name = form.get("username", "admin").strip() or "admin"
            try:
                users.claim_first_admin(svc.store, name, form.get("password", ""))
            except users.SetupDone:
                return redirect(url_for("auth.login"))
            except users.UserError as exc:
                error = gettext(exc.key, **exc.values)
            else:
                addresses.release(_client())
                setup_code.discard(svc.instance)
                session["login_name"] = name
                flash(gettext("管理员账户 {username} 已创建，请用刚才设置的密码登录。", username=name))
                return redirect(url_for("auth.login"))
    return render_template("auth/setup.html", error=error, username=request.form.get("username", "admin")), \
        (400 if error else 200)


@bp.post("/logout")
def logout():
    if current_user.is_authenticated:
        # A new nonce: a copy of this session's cookie (or any other of this user's) is dead too.
        users.end_sessions(services().store, current_user.id)
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

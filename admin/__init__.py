"""Daka admin: the Flask blueprints (pages and the JSON API) built on the app services.

``create_app`` is the one place that wires things: the store's Flask app, the admin's config,
the extensions, the blueprints. It never starts a scheduler; the terminal passes its live
store / library / attendance so that an enrolment here updates the live gallery at once.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from app.instance import instance_secret

__all__ = ["create_app"]

SECRET_FILE = "admin_secret.key"


def _secret_key(root: Path) -> bytes:
    """A per-instance key kept in the instance folder (0600), made on first use."""
    return instance_secret(root, SECRET_FILE)


def create_app(config, instance, *, store=None, library=None, attendance=None,
               status_provider=None, test_config: dict | None = None):
    # lazy, all of them: the blueprints load Flask, SQLAlchemy and OpenCV (~2 s), and this package is
    # imported by `daka --help` (admin.cli, its command parsers, lives in it).
    from flask import Flask

    from app.store import open_store

    from . import api, attendance as attendance_pages, auth, dashboard, events, fleet, labels, makeup, me, rules, settings, staff, system
    from .auth.users import any_user
    from .dashboard.routes import StreamSlots
    from .context import AdminServices
    from .extensions import csrf, login_manager
    from .i18n import init_i18n
    from .security import init_security

    if store is None:
        store = open_store(config, instance)
    # Pages use store.session(); the app itself binds no database extension.
    app = Flask("admin", instance_path=str(instance.root))
    admin = config.admin
    app.config.update(
        SECRET_KEY=_secret_key(instance.root),
        MAX_CONTENT_LENGTH=admin.max_upload_mb * 1024 * 1024,
        SESSION_COOKIE_NAME="daka_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_SECURE=admin.cookie_secure,
        REMEMBER_COOKIE_HTTPONLY=True,
        PERMANENT_SESSION_LIFETIME=dt.timedelta(minutes=admin.session_timeout_min),
        WTF_CSRF_TIME_LIMIT=None,  # the session's own timeout bounds the token
        SSE_MAX_SECONDS=55.0,
        SSE_POLL_SECONDS=1.0,
        DAKA_SET_TIME_COMMAND=admin.set_time_command,
    )
    # The seed's field order, UTF-8 Chinese rather than \u escapes: smaller and cheaper answers.
    app.json.sort_keys = False
    app.json.ensure_ascii = False
    if test_config:
        app.config.update(test_config)
    app.extensions["daka_admin"] = AdminServices(
        config, instance, store, library=library, attendance=attendance, status_provider=status_provider)

    login_manager.init_app(app)
    csrf.init_app(app)
    init_i18n(app)
    labels.init_labels(app)
    init_security(app, has_accounts=any_user)
    for module in (auth, dashboard, staff, attendance_pages, events, makeup, me, rules, settings, system, fleet, api):
        app.register_blueprint(module.bp)
    app.register_blueprint(api.docs_bp)
    # Live-feed streams hold a web server thread each: at most half of them (AdminServer sets
    # the figure from the threads it really runs).
    app.extensions["daka_sse_slots"] = StreamSlots(max(1, admin.threads // 2))
    _register_error_answers(app)
    return app


# The admin's own words for each error page (title, sentence), in the page's language: Werkzeug's
# English descriptions never reach a person. A route's own sentence (abort(..., description=_(...)))
# replaces the sentence.
PAGE_ERRORS = {
    400: ("请求有误", "提交的内容无法处理，请检查后重试。"),
    401: ("请先登录", "请登录后再试。"),
    403: ("没有权限", "您的账户没有权限执行此操作，如需要请联系管理员。"),
    404: ("未找到", "找不到这个页面或记录，它可能已被删除。"),
    405: ("请求有误", "这个页面不支持此操作。"),
    409: ("无法执行", "当前状态下不能执行此操作，请刷新页面后重试。"),
    413: ("文件过大", "上传的内容超过 {mb} MB 的上限，请分批上传或缩小后再试。"),
    429: ("操作过于频繁", "请稍后再试。"),
    500: ("出错了", "服务器处理时出错，已记入日志。请稍后再试，如仍出错请联系管理员。"),
}
PAGE_ERROR_FALLBACK = ("出错了", "无法完成此操作，请稍后再试。")


def _register_error_answers(app) -> None:
    """Every error as the caller reads it: JSON ``{"success": false, ...}`` under /api (whatever
    the status, 404, 405 and 500 included), the admin's own error page, in the user's language,
    elsewhere.

    Registered last, so these answers replace any registered before for the same status.
    """
    from flask import jsonify, render_template, request  # lazy: as in create_app
    from flask_wtf.csrf import CSRFError
    from werkzeug.exceptions import HTTPException, InternalServerError, default_exceptions

    from .i18n import gettext

    def page_text(exc, code: int) -> tuple[str, str]:
        title, sentence = PAGE_ERRORS.get(code, PAGE_ERROR_FALLBACK)
        if isinstance(exc, CSRFError):
            return gettext("页面已过期"), gettext("页面已过期，请刷新页面后重新提交。")
        values = {"mb": app.config["MAX_CONTENT_LENGTH"] // (1024 * 1024)} if code == 413 else {}
        own = exc.description if exc.description != type(exc).description else None
        # only a route's own sentence, made through the catalogue, is shown; Werkzeug's class text never
        return gettext(title), own or gettext(sentence, **values)

    def answer(exc):
        if not isinstance(exc, HTTPException):  # an unhandled error: Flask logged it already
            exc = InternalServerError()
        code = exc.code or 500
        if request.path.startswith("/api/") or request.blueprint == "api":
            if code == 413:
                body = {"success": False, "error": "too_large", "message": gettext("请求过大"),
                        "limit_bytes": app.config["MAX_CONTENT_LENGTH"]}
            else:
                body = {"success": False, "error": (exc.name or str(code)).lower().replace(" ", "_"),
                        "message": exc.description or ""}
            response = jsonify(body)
        else:
            try:
                title, message = page_text(exc, code)
                # the kind, for scripts and tests: "csrf" for an expired form, else the status's name
                reason = "csrf" if isinstance(exc, CSRFError) else (exc.name or str(code)).lower().replace(" ", "_")
                response = app.make_response(render_template("error.html", code=code, title=title,
                                                              message=message, reason=reason))
            except Exception:  # the error page itself failed (its layout reads the database)
                app.logger.exception("the error page could not be rendered")
                response = app.make_response((f"{code} {exc.name}", code, {"Content-Type": "text/plain"}))
        response.status_code = code
        # what the standard answer carries: Allow on a 405, WWW-Authenticate on a 401 ...
        for name, value in exc.get_headers():
            if name.lower() != "content-type":
                response.headers[name] = value
        return response

    for code in default_exceptions:
        app.register_error_handler(code, answer)

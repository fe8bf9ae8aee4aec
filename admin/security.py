"""Cross-cutting protections: who may reach what, headers, safe redirects, per-address throttling."""

from __future__ import annotations

import functools
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from urllib.parse import urlsplit

from flask import Flask, abort, g, redirect, request, session, url_for
from flask.sessions import SecureCookieSessionInterface
from flask_login import current_user, logout_user

from app.setup_code import ensure_setup_code

# Endpoints that answer without a session: signing in, the first-run password, health, assets.
PUBLIC_ENDPOINTS = {"auth.login", "auth.setup", "auth.health", "static"}

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
VIEWER_ACTIONS = {"auth.logout", "auth.language"}
# Roles, most to least: admin (everything), hr (staff, departments, schedules, leave, corrections,
# reports: every change outside the system), viewer (reads).
MANAGER_ROLES = frozenset({"admin", "hr"})
# The system: settings, accounts, tokens, backups, the clock, logs. Their blueprints also refuse
# anyone but an administrator on every method (require_admin), reads included.
SYSTEM_BLUEPRINTS = frozenset({"system", "settings"})


def may_change(role: str, endpoint: str) -> bool:
    """Whether ``role`` may send a change (a POST ...) to ``endpoint``."""
    if endpoint in VIEWER_ACTIONS or role == "admin":
        return True
    return role == "hr" and endpoint.partition(".")[0] not in SYSTEM_BLUEPRINTS


def manages() -> bool:
    """For templates: whether the signed-in user may change staff, corrections and the rules."""
    return bool(current_user.is_authenticated and current_user.role in MANAGER_ROLES)

CSP = ("default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
       "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")


def safe_next(target: str | None) -> str | None:
    """A same-site path to go back to after signing in, or None (no open redirects)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or any(ord(c) < 32 for c in target):
        return None
    return target


class AddressThrottle:
    """Sign-in and set-up attempts per client address in a sliding window, across names: one
    address cannot walk through accounts. An attempt is counted when it starts (``admit``), so
    concurrent attempts cannot all pass a check made before any of them is counted."""

    def __init__(self, limit: int, window_seconds: float = 300.0, clock=time.monotonic):
        self.limit, self.window, self._clock = limit, window_seconds, clock
        self._attempts: dict[str, deque] = defaultdict(deque)
        self._lock = threading.Lock()

    SWEEP_ABOVE = 1024  # addresses tracked before the quiet ones are dropped

    def _prune(self, key: str, now: float) -> deque:
        if len(self._attempts) > self.SWEEP_ABOVE:
            for other in [k for k, q in self._attempts.items() if not q or now - q[-1] > self.window]:
                del self._attempts[other]
        q = self._attempts[key]
        while q and now - q[0] > self.window:
            q.popleft()
        return q

    def admit(self, key: str) -> bool:
        """Count an attempt from ``key``, or refuse it (not counted) when the window is full."""
        with self._lock:
            now = self._clock()
            q = self._prune(key, now)
            if len(q) >= self.limit:
                return False
            q.append(now)
            return True

    def release(self, key: str) -> None:
        """A successful attempt does not count against its address."""
        with self._lock:
            q = self._attempts.get(key)
            if q:
                q.pop()
            if not q:
                self._attempts.pop(key, None)


class PagesOnlySessionInterface(SecureCookieSessionInterface):
    """Signed-cookie sessions for the pages; the bearer-token API gets Flask's empty, read-only
    null session: no cookie to verify on each call, none set in an answer."""

    def open_session(self, app, request):
        if request.path.startswith("/api/"):
            return self.make_null_session(app)
        return super().open_session(app, request)


def wants_json() -> bool:
    return request.blueprint == "api" or request.path.startswith("/api/")


def init_security(app: Flask, *, has_accounts: Callable[[], bool]) -> None:
    """Guard every page; `has_accounts()` says whether any admin account exists yet (until one
    does, every page leads to /setup). It is passed in, so that security, which the feature
    packages use, imports none of them."""
    services = app.extensions["daka_admin"]
    admin_cfg = services.config.admin
    # Per address: twice the free attempts of one name, so one address cannot walk through accounts.
    app.extensions["daka_address_throttle"] = AddressThrottle(admin_cfg.login_attempts * 2)
    # First run: the code that /setup asks for (shown on the terminal's screen and logged).
    ensure_setup_code(services.store, services.instance)
    timeout = admin_cfg.session_timeout_min * 60
    app.session_interface = PagesOnlySessionInterface()
    app.jinja_env.globals["manages"] = manages

    @app.before_request
    def require_login():
        endpoint = request.endpoint
        if endpoint is None:
            return None  # 404 / 405 follow
        if endpoint in PUBLIC_ENDPOINTS or app.view_functions[endpoint].__dict__.get("public"):
            return None
        if wants_json():
            return None  # the API checks its bearer token itself
        if not has_accounts():
            return redirect(url_for("auth.setup"))
        if not current_user.is_authenticated:
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        seen = session.get("seen", 0)
        now = time.time()
        if now - seen > timeout:
            logout_user()
            session.clear()
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        if request.endpoint != "dashboard.events":  # the live feed must not keep a session alive
            session["seen"] = now
        session.permanent = True
        g.actor = current_user.username
        # Viewers only read; hr changes everything but the system: refused whatever the page.
        if request.method not in SAFE_METHODS and not may_change(current_user.role, endpoint):
            abort(403)
        return None

    @app.after_request
    def headers(response):
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if request.endpoint != "static":
            response.headers.setdefault("Cache-Control", "no-store")
        return response


def require_admin():
    """The system is for administrators only (hr and viewers get 403)."""
    if not current_user.is_authenticated or current_user.role != "admin":
        abort(403)


def admin_only(view):
    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        require_admin()
        return view(*args, **kwargs)
    return wrapped

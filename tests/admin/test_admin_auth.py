"""Admin authentication and security: every route guarded, CSRF, roles, lockout, sessions, redirects."""

from __future__ import annotations

import time

import pytest
from tests.helpers.admin_app import ADMIN_PW, VIEWER_PW, build_app, csrf_token, login, post

PUBLIC = {"auth.login", "auth.setup", "auth.health", "static"}
# the staff member's own page (issue 24): no session, its signed link is the key; without one, refused
SELF_SERVICE = {"me.open_link", "me.page", "me.ask"}
VIEWER_MAY_POST = {"auth.logout", "auth.language"}


def _routes(app):
    """(endpoint, method, url) for every rule, with sample arguments filled in."""
    out = []
    for rule in app.url_map.iter_rules():
        args = {}
        for name, conv in rule._converters.items():
            kind = type(conv).__name__
            args[name] = {"IntegerConverter": 1, "AnyConverter": None}.get(kind, "x")
            if kind == "AnyConverter":
                args[name] = sorted(conv.items)[0] if hasattr(conv, "items") else "approve"
        with app.test_request_context():
            from flask import url_for

            if rule.endpoint == "static":
                args["filename"] = "app.css"
            if "decision" in args:
                args["decision"] = "approve"
            url = url_for(rule.endpoint, **args)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            out.append((rule.endpoint, method, url))
    return out


def test_first_run_forces_the_admin_password(app, instance):
    from app.setup_code import pending_setup_code

    c = app.test_client()
    r = c.get("/staff/")
    assert r.status_code == 302 and r.location.endswith("/setup")
    token = csrf_token(c, "/setup")
    code = pending_setup_code(instance)
    r = c.post("/setup", data={"username": "admin", "password": "short", "confirm": "short", "csrf_token": token,
                               "setup_code": code})
    assert r.status_code == 400
    r = c.post("/setup", data={"username": "admin", "password": ADMIN_PW, "confirm": ADMIN_PW, "csrf_token": token,
                               "setup_code": code})
    assert r.status_code == 302 and r.location.endswith("/login")
    # once an account exists the set-up page is gone
    assert c.get("/setup").location.endswith("/login")
    assert login(c, "admin", ADMIN_PW).status_code == 302
    assert c.get("/staff/").status_code == 200


def test_no_route_but_login_and_health_answers_without_a_session(app, users):
    c = app.test_client()
    routes = _routes(app)
    assert len(routes) > 30
    for endpoint, method, url in routes:
        r = c.open(url, method=method)
        r.close()  # static files stream from disk
        if endpoint in PUBLIC:
            assert r.status_code in (200, 302, 400), (endpoint, r.status_code)
            continue
        if endpoint in SELF_SERVICE:  # no link: 403; a form post without its CSRF token: 400
            assert r.status_code in (400, 403), (endpoint, r.status_code)
            continue
        if url.startswith("/api/"):
            assert r.status_code == 401, (method, url, r.status_code)
            assert r.is_json and r.headers["WWW-Authenticate"].startswith("Bearer")
        elif method == "GET":
            assert r.status_code == 302 and "/login" in r.location, (method, url, r.status_code)
        else:  # a form post without a session fails the CSRF check before anything else
            assert r.status_code in (302, 400), (method, url, r.status_code)
            assert b'data-reason="csrf"' in r.data or "/login" in (r.location or ""), (method, url)
    assert c.get("/health").get_json() == {"ok": True}


def test_every_form_post_needs_the_csrf_token(admin_client, app):
    for endpoint, method, url in _routes(app):
        if method != "POST" or url.startswith("/api/") or endpoint in PUBLIC:
            continue
        r = admin_client.post(url, data={})
        assert r.status_code == 400 and b'data-reason="csrf"' in r.data, (url, r.status_code)
    assert post(admin_client, "/settings/", {"device.name": "门口一号"}).status_code == 302


def test_viewer_reads_but_cannot_change_anything(viewer_client, app):
    for endpoint, method, url in _routes(app):
        if url.startswith("/api/") or endpoint in PUBLIC | VIEWER_MAY_POST:
            continue
        if method == "POST":
            r = post(viewer_client, url, {})
            assert r.status_code == 403, (url, r.status_code)
    for url in ("/", "/staff/", "/attendance/", "/attendance/summary", "/makeup/", "/docs"):
        assert viewer_client.get(url).status_code == 200, url
    for url in ("/system/", "/system/audit", "/system/backup", "/settings/"):
        assert viewer_client.get(url).status_code in (403,), url


def test_one_address_is_throttled_across_accounts(admin_config, instance, sqlite_store, users):
    app = build_app(admin_config(admin={"login_attempts": 2}), instance, sqlite_store)
    c = app.test_client()
    for name in ("a", "b", "c", "d"):
        assert login(c, name, "nope").status_code == 401
    assert login(c, "hr", VIEWER_PW).status_code == 429


def test_sign_in_starts_a_fresh_session(app, users):
    c = app.test_client()
    csrf_token(c)
    with c.session_transaction() as sess:
        sess["planted"] = "by an attacker"
        sess["_user_id"] = "1:999"
    before = c.get_cookie("daka_session").value
    assert login(c, "admin", ADMIN_PW).status_code == 302
    after = c.get_cookie("daka_session").value
    assert after != before
    with c.session_transaction() as sess:
        assert "planted" not in sess
        assert sess["_user_id"] != "1:999"
    # the cookie captured before signing in does not open the admin
    other = app.test_client()
    other.set_cookie("daka_session", before)
    assert other.get("/staff/").status_code == 302


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "/\\evil.example",
                                    "javascript:alert(1)", "/\r\nLocation: http://evil.example"])
def test_no_open_redirect_after_sign_in(app, users, target):
    r = login(app.test_client(), "admin", ADMIN_PW, next=target)
    assert r.status_code == 302
    assert r.location == "/"


def test_sign_in_returns_to_a_local_page(app, users):
    c = app.test_client()
    r = c.get("/attendance/?staff=HR1")
    assert r.status_code == 302
    assert login(c, "admin", ADMIN_PW, next="/attendance/?staff=HR1").location == "/attendance/?staff=HR1"


def test_idle_session_times_out(admin_client):
    assert admin_client.get("/staff/").status_code == 200
    with admin_client.session_transaction() as sess:
        sess["seen"] = time.time() - 31 * 60
    r = admin_client.get("/staff/")
    assert r.status_code == 302 and "/login" in r.location
    assert admin_client.get("/staff/").status_code == 302


def test_changing_a_password_ends_that_users_sessions(app, users, admin_client, viewer_client, sqlite_store):
    from sqlalchemy import select

    from app.store import AdminUser

    with sqlite_store.session() as s:
        hr = s.scalar(select(AdminUser.id).where(AdminUser.username == "hr"))
    r = post(admin_client, f"/system/users/{hr}/password", {"password": "a new one 123", "confirm": "a new one 123"})
    assert r.status_code == 302
    assert viewer_client.get("/staff/").status_code == 302
    assert login(app.test_client(), "hr", "a new one 123").status_code == 302


def test_cookie_flags_and_security_headers(admin_config, instance, sqlite_store, users):
    app = build_app(admin_config(admin={"cookie_secure": True}), instance, sqlite_store)
    c = app.test_client()
    r = login(c, "admin", ADMIN_PW)
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Secure" in cookie
    page = c.get("/login")
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    assert page.headers["X-Frame-Options"] == "DENY"
    assert page.headers["X-Content-Type-Options"] == "nosniff"


def test_passwords_are_stored_with_scrypt(sqlite_store, users):
    from sqlalchemy import select

    from app.store import AdminUser

    with sqlite_store.session() as s:
        hashes = list(s.scalars(select(AdminUser.password_hash)))
    assert hashes and all(h.startswith("scrypt:") and ADMIN_PW not in h for h in hashes)


def test_logout_ends_the_session(admin_client):
    r = post(admin_client, "/logout")
    assert r.status_code == 302
    assert admin_client.get("/staff/").status_code == 302


def test_language_switch(admin_client):
    assert "人员与人脸库" in admin_client.get("/staff/").get_data(as_text=True)
    post(admin_client, "/language", {"lang": "en", "next": "/staff/"})
    html = admin_client.get("/staff/").get_data(as_text=True)
    assert "Staff &amp; faces" in html and "人员与人脸库" not in html


def test_an_admin_creates_an_account_and_a_mismatched_confirmation_changes_nothing(app, users, admin_client,
                                                                                   sqlite_store):
    from sqlalchemy import func, select

    from app.store import AdminUser

    def count():
        with sqlite_store.session() as s:
            return s.scalar(select(func.count()).select_from(AdminUser))

    before = count()
    r = post(admin_client, "/system/users", {"username": "hr2", "password": "first pass 123",
                                             "confirm": "other pass 123", "role": "viewer"})
    assert r.status_code == 303 and count() == before
    r = post(admin_client, "/system/users", {"username": "hr2", "password": "first pass 123",
                                             "confirm": "first pass 123", "role": "viewer"})
    assert r.status_code == 302 and count() == before + 1
    assert login(app.test_client(), "hr2", "first pass 123").status_code == 302

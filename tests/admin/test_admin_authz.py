"""Authorization sweep: every route of the url_map, as anonymous, viewer, hr and admin, by session and
by API token, over real HTTP. A route missing from ACCESS fails the test: say who may use it."""

from __future__ import annotations

import pytest
import requests
from tests.helpers.admin_app import ADMIN_PW, VIEWER_PW, api_token, build_app
from tests.helpers.auth_http import CSRF_RE, page_csrf, served, sign_in

PUBLIC, SIGNED_IN, ADMIN, API_READ, API_ADMIN = "public", "signed-in", "admin", "api-read", "api-admin"
# hr and admin: staff, departments, corrections, schedules, leave, reports (issue 24)
MANAGE = "manage"
# the staff member's own page: no account, a signed link bound to one person (refused without one)
SELF = "self"
HR_PW = "human resources 3"
SESSION_ROLES = {"viewer": ("hr", VIEWER_PW), "hr": ("hrm", HR_PW), "admin": ("admin", ADMIN_PW)}

# Who may use each (endpoint, method): the intended protection, written down by hand.
ACCESS = {
    ("auth.login", "GET"): PUBLIC, ("auth.login", "POST"): PUBLIC,
    ("auth.setup", "GET"): PUBLIC, ("auth.setup", "POST"): PUBLIC,
    ("auth.health", "GET"): PUBLIC, ("static", "GET"): PUBLIC,
    # viewers (HR) read; both roles may sign out and switch the language
    ("auth.logout", "POST"): SIGNED_IN, ("auth.language", "POST"): SIGNED_IN,
    ("dashboard.index", "GET"): SIGNED_IN, ("dashboard.events", "GET"): SIGNED_IN,
    ("dashboard.status", "GET"): SIGNED_IN,
    ("attendance.index", "GET"): SIGNED_IN, ("attendance.export", "GET"): SIGNED_IN,
    ("attendance.summary", "GET"): SIGNED_IN,
    ("docs.docs", "GET"): SIGNED_IN, ("docs.openapi", "GET"): SIGNED_IN,
    ("makeup.index", "GET"): SIGNED_IN,
    ("staff.index", "GET"): SIGNED_IN, ("staff.edit", "GET"): SIGNED_IN, ("staff.photo", "GET"): SIGNED_IN,
    # records (issue 25): viewers read the lists and a punch's detail; the face pictures are admins' only
    ("records.index", "GET"): SIGNED_IN, ("records.export", "GET"): SIGNED_IN, ("records.punch", "GET"): SIGNED_IN,
    ("records.event_snapshot", "GET"): ADMIN, ("records.punch_snapshot", "GET"): ADMIN,
    ("staff.department_list", "GET"): SIGNED_IN, ("staff.import_form", "GET"): SIGNED_IN,
    # changes to staff and corrections: hr and administrators
    ("makeup.create", "POST"): MANAGE, ("makeup.decide", "POST"): MANAGE,
    ("staff.edit", "POST"): MANAGE, ("staff.active", "POST"): MANAGE, ("staff.delete", "POST"): MANAGE,
    ("staff.create", "POST"): MANAGE, ("staff.delete_template", "POST"): MANAGE, ("staff.upload", "POST"): MANAGE,
    ("staff.add_photo", "POST"): MANAGE, ("staff.department_create", "POST"): MANAGE,
    ("staff.department_rename", "POST"): MANAGE, ("staff.department_delete", "POST"): MANAGE,
    ("staff.import_preview", "POST"): MANAGE, ("staff.import_confirm", "POST"): MANAGE,
    ("makeup.bulk", "POST"): MANAGE, ("me.code", "GET"): MANAGE,
    # the staff member's page: its signed link, then that browser's session, whoever is signed in
    ("me.open_link", "GET"): SELF, ("me.page", "GET"): SELF, ("me.ask", "POST"): SELF,
    # settings and the system section: administrators only
    ("settings.index", "GET"): ADMIN, ("settings.index", "POST"): ADMIN,
    ("system.index", "GET"): ADMIN, ("system.audit", "GET"): ADMIN, ("system.download_backup", "GET"): ADMIN,
    ("system.log_file", "GET"): ADMIN, ("system.restore", "POST"): ADMIN, ("system.set_time", "POST"): ADMIN,
    ("system.restore_ntp", "POST"): ADMIN,
    ("system.create_token", "POST"): ADMIN, ("system.revoke_token", "POST"): ADMIN,
    ("system.create_user", "POST"): ADMIN, ("system.set_user_active", "POST"): ADMIN,
    ("system.delete_user", "POST"): ADMIN, ("system.set_password", "POST"): ADMIN,
    # the JSON API: bearer tokens only; viewer tokens read
    ("api.get_face_libraries", "GET"): API_READ, ("api.get_attend_infos", "POST"): API_READ,
    ("api.download_facelib", "GET"): API_READ,
    # the seed backend's own spellings of the two above (deprecated aliases)
    ("api.get_attended_infos", "POST"): API_READ, ("api.down_facelib", "GET"): API_READ,
    ("api.add_face_libs", "PUT"): API_ADMIN, ("api.clear_data", "GET"): API_ADMIN,
    ("api.delete_face", "DELETE"): API_ADMIN, ("api.update_sys_time", "PUT"): API_ADMIN,
    # issue 24: attendance reports (read) and rules (read; changes by hr and administrators,
    # admin/rules/access.py)
    **{("attendance." + e, "GET"): SIGNED_IN for e in ("monthly", "monthly_export", "grid", "grid_export",
                                                       "days", "days_export")},
    **{("rules." + e, "GET"): SIGNED_IN for e in ("index", "shifts", "schedules", "calendar", "leave")},
    **{("rules." + e, "POST"): MANAGE for e in ("save_shift", "delete_shift", "save_schedule", "delete_schedule",
                                               "assign", "unassign", "set_day", "delete_day", "add_leave",
                                               "delete_leave", "staff_dates")},
    # issue 20: a fleet's devices page (a 404 on a standalone store): read by everyone, overrides by admins
    ("fleet.index", "GET"): SIGNED_IN, ("fleet.device", "GET"): SIGNED_IN, ("fleet.device", "POST"): ADMIN,
}
SAMPLE = {"IntegerConverter": 999999, "UnicodeConverter": "x.log", "PathConverter": "app.css"}


def _routes(app) -> list[tuple[str, str, str]]:
    """(endpoint, method, url) of every rule, sample arguments filled in; signing out comes last."""
    from flask import url_for

    out = []
    for rule in app.url_map.iter_rules():
        args = {}
        for name, conv in rule._converters.items():
            kind = type(conv).__name__
            args[name] = sorted(conv.items)[0] if kind == "AnyConverter" else SAMPLE.get(kind, "csv")
        with app.test_request_context():
            url = url_for(rule.endpoint, **args)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            out.append((rule.endpoint, method, url))
    return sorted(out, key=lambda r: r[0] == "auth.logout")


def test_every_route_is_classified(admin_config, instance, sqlite_store):
    app = build_app(admin_config(), instance, sqlite_store)
    found = {(endpoint, method) for endpoint, method, _url in _routes(app)}
    assert found - ACCESS.keys() == set(), "new routes: add them to ACCESS with the protection they need"
    assert ACCESS.keys() - found == set(), "routes gone: remove them from ACCESS"


def _refused_to_login(r) -> bool:
    return r.status_code == 302 and "/login?next=" in r.headers.get("Location", "")


def _allowed(r) -> bool:
    return r.status_code not in (401, 403) and not _refused_to_login(r)


@pytest.fixture
def world(admin_config, instance, sqlite_store, users):
    from admin.auth.users import create_user

    create_user(sqlite_store, "hrm", HR_PW, "hr", actor="test")
    app = build_app(admin_config(), instance, sqlite_store)
    tokens = {"admin": api_token(sqlite_store, "admin", "erp"), "viewer": api_token(sqlite_store, "viewer", "payroll"),
              "hr": api_token(sqlite_store, "hr", "hr-office")}
    with served(app) as base:
        yield app, base, tokens


def _anonymous(base) -> tuple[requests.Session, str]:
    s = requests.Session()
    return s, CSRF_RE.search(s.get(base + "/login", timeout=30).text).group(1)


def _sweep(app, base, session: requests.Session, csrf: str, headers: dict) -> dict:
    """Each route once with this identity; every form post carries a valid CSRF token, so what
    answers is the authorization, not the CSRF check."""
    out = {}
    for endpoint, method, url in _routes(app):
        api = url.startswith("/api/")
        data = None if api or method == "GET" else {"csrf_token": csrf}
        json_body = {} if api and method != "GET" else None
        r = session.request(method, base + url, data=data, json=json_body, headers=headers,
                            allow_redirects=False, timeout=60)
        r.close()
        out[(endpoint, method)] = r
    return out


def test_anonymous_reaches_only_the_public_routes(world):
    app, base, _tokens = world
    s, csrf = _anonymous(base)
    for key, r in _sweep(app, base, s, csrf, {}).items():
        kind = ACCESS[key]
        if kind == PUBLIC:
            # (an empty sign-in is answered 401 "wrong user name or password", not refused)
            assert r.status_code < 500 and r.status_code != 403 and not _refused_to_login(r), (key, r.status_code)
        elif kind in (API_READ, API_ADMIN):
            assert r.status_code == 401 and r.headers["WWW-Authenticate"].startswith("Bearer"), key
            assert r.json()["success"] is False
        elif kind == SELF:
            assert r.status_code in (400, 403) and not _refused_to_login(r), (key, r.status_code)
        else:
            assert _refused_to_login(r), (key, r.status_code)
    s.close()


ALLOWED = {"viewer": {SIGNED_IN}, "hr": {SIGNED_IN, MANAGE}, "admin": {SIGNED_IN, MANAGE, ADMIN}}


@pytest.mark.parametrize("role", ["viewer", "hr", "admin"])
def test_sessions_open_pages_by_role_and_never_the_api(world, role):
    app, base, _tokens = world
    s = sign_in(base, *SESSION_ROLES[role])
    for key, r in _sweep(app, base, s, page_csrf(s, base), {}).items():
        kind = ACCESS[key]
        if kind in (API_READ, API_ADMIN):
            assert r.status_code == 401, (key, r.status_code)  # a session cookie is no token
        elif kind in ALLOWED[role]:
            assert _allowed(r) and r.status_code < 500, (key, r.status_code)
        elif kind in (MANAGE, ADMIN):
            assert r.status_code == 403, (key, r.status_code)
        elif kind == SELF:  # an admin session is not a staff member's link
            assert r.status_code in (400, 403), (key, r.status_code)
    s.close()


@pytest.mark.parametrize("role", ["viewer", "hr", "admin"])
def test_tokens_open_the_api_by_role_and_never_a_page(world, role):
    app, base, tokens = world
    s, csrf = _anonymous(base)
    for key, r in _sweep(app, base, s, csrf, {"Authorization": f"Bearer {tokens[role]}"}).items():
        kind = ACCESS[key]
        if kind == API_READ or (kind == API_ADMIN and role == "admin"):
            assert _allowed(r) and r.status_code < 500, (key, r.status_code)
        elif kind == API_ADMIN:
            assert r.status_code == 403 and r.json()["success"] is False, (key, r.status_code)
        elif kind == SELF:
            assert r.status_code in (400, 403), (key, r.status_code)
        elif kind != PUBLIC:
            assert _refused_to_login(r), (key, r.status_code)  # a token opens no page
    s.close()

"""Accounts and sessions: logout ends copied cookies, deactivation and deletion (never the last
active administrator), new API tokens kept out of the session cookie."""

from __future__ import annotations

import re

import pytest
import requests
from tests.helpers.admin_app import ADMIN_PW, VIEWER_PW, build_app, login, post
from tests.helpers.auth_http import all_at_once, page_csrf, served, sign_in
from sqlalchemy import func, select


def _user_id(store, name: str) -> int:
    from app.store import AdminUser

    with store.session() as s:
        return s.scalar(select(AdminUser.id).where(AdminUser.username == name))


def _active_admins(store) -> int:
    from app.store import AdminUser

    with store.session() as s:
        return s.scalar(select(func.count()).select_from(AdminUser)
                        .where(AdminUser.role == "admin", AdminUser.active.is_(True)))


def test_logout_ends_a_copied_session_cookie(app, users):
    with served(app) as base:
        browser = sign_in(base, "admin", ADMIN_PW)
        copy = requests.Session()
        copy.cookies.update(browser.cookies)  # the cookie, stolen while the session was open
        assert copy.get(base + "/staff/", allow_redirects=False, timeout=30).status_code == 200
        token = page_csrf(browser, base)
        r = browser.post(base + "/logout", data={"csrf_token": token}, allow_redirects=False, timeout=30)
        assert r.status_code == 302
        r = copy.get(base + "/staff/", allow_redirects=False, timeout=30)
        assert r.status_code == 302 and "/login" in r.headers["Location"]
        # signing in again works, and opens a new session only
        again = sign_in(base, "admin", ADMIN_PW)
        assert again.get(base + "/staff/", allow_redirects=False, timeout=30).status_code == 200
        assert copy.get(base + "/staff/", allow_redirects=False, timeout=30).status_code == 302
        for s in (browser, copy, again):
            s.close()


def test_a_new_api_token_is_shown_once_and_never_put_in_the_session_cookie(app, admin_client):
    r = post(admin_client, "/system/tokens", {"name": "payroll", "role": "viewer"}, page="/system/")
    cookie = admin_client.get_cookie("daka_session").value
    decoded = app.session_interface.get_signing_serializer(app).loads(cookie)  # signed, not encrypted
    assert "daka_" not in repr(decoded)
    assert r.status_code == 200 and r.headers["Cache-Control"] == "no-store"
    html = r.get_data(as_text=True)
    token = re.search(r'id="new-token">(daka_[^<]+)<', html).group(1)
    assert html.count(token) == 1
    for raw in [cookie] + r.headers.getlist("Set-Cookie"):
        assert token not in raw and token[5:] not in raw
    assert token not in admin_client.get("/system/").get_data(as_text=True)
    assert app.test_client().get("/api/get_face_libraries",
                                 headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_token_hashes_are_what_is_stored(app, admin_client, sqlite_store):
    import hashlib

    from app.store import ApiToken

    html = post(admin_client, "/system/tokens", {"name": "hr", "role": "admin"}, page="/system/").get_data(as_text=True)
    token = re.search(r'id="new-token">(daka_[^<]+)<', html).group(1)
    with sqlite_store.session() as s:
        row = s.scalar(select(ApiToken).where(ApiToken.name == "hr"))
        stored = [str(v) for v in (row.token_sha256, row.prefix, row.name, row.created_by)]
    assert row.token_sha256 == hashlib.sha256(token.encode()).hexdigest()
    assert not any(token in v for v in stored) and len(row.prefix) < 16
    with sqlite_store.engine.connect() as conn:  # nowhere else in the database either
        dump = "\n".join(str(r) for t in ("api_tokens", "audit_log") for r in conn.exec_driver_sql(f"SELECT * FROM {t}"))
    assert token not in dump


def test_a_deactivated_account_cannot_sign_in_its_sessions_and_tokens_end(admin_config, instance, sqlite_store):
    from admin.auth.users import create_user
    from admin.auth.tokens import create

    create_user(sqlite_store, "admin", ADMIN_PW, "admin", actor="test")
    boss = create_user(sqlite_store, "boss", VIEWER_PW, "admin", actor="test")
    token = create(sqlite_store, "boss's script", "boss")
    other = create(sqlite_store, "admin's script", "admin")
    app = build_app(admin_config(), instance, sqlite_store)
    api = app.test_client()
    assert api.get("/api/get_face_libraries", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    boss_client, admin = app.test_client(), app.test_client()
    assert login(boss_client, "boss", VIEWER_PW).status_code == 302
    assert login(admin, "admin", ADMIN_PW).status_code == 302
    page = admin.get("/system/").get_data(as_text=True)
    assert f'/system/users/{boss}/active' in page and f'/system/users/{boss}/delete' in page

    r = post(admin, f"/system/users/{boss}/active", {"active": "0"}, page="/system/")
    assert r.status_code == 302
    assert boss_client.get("/staff/").status_code == 302           # the open session ended
    r = login(app.test_client(), "boss", VIEWER_PW)
    assert r.status_code == 401 and "用户名或密码错误" in r.get_data(as_text=True)
    assert api.get("/api/get_face_libraries", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert api.get("/api/get_face_libraries", headers={"Authorization": f"Bearer {other}"}).status_code == 200
    assert "停用" in admin.get("/system/").get_data(as_text=True)

    assert post(admin, f"/system/users/{boss}/active", {"active": "1"}, page="/system/").status_code == 302
    assert login(app.test_client(), "boss", VIEWER_PW).status_code == 302


def test_a_deleted_account_is_gone_with_its_sessions(admin_client, app, users, viewer_client, sqlite_store):
    from app.store import AuditEntry

    hr = _user_id(sqlite_store, "hr")
    assert post(admin_client, f"/system/users/{hr}/delete", page="/system/").status_code == 302
    assert _user_id(sqlite_store, "hr") is None
    assert viewer_client.get("/staff/").status_code == 302
    assert login(app.test_client(), "hr", VIEWER_PW).status_code == 401
    with sqlite_store.session() as s:
        assert s.scalar(select(AuditEntry.action).where(AuditEntry.action == "delete_user")) == "delete_user"
    assert post(admin_client, "/system/users/999/delete", page="/system/").status_code == 303  # none such


def test_the_last_active_administrator_stays(admin_client, users, sqlite_store):
    me = _user_id(sqlite_store, "admin")
    for path, form in ((f"/system/users/{me}/active", {"active": "0"}), (f"/system/users/{me}/delete", {})):
        r = post(admin_client, path, form, page="/system/")
        assert r.status_code == 303
        page = admin_client.get("/system/").get_data(as_text=True)
        assert "不能停用或删除最后一个管理员" in page
    assert _active_admins(sqlite_store) == 1 and _user_id(sqlite_store, "admin") == me
    # a viewer is no administrator: it goes, and the admin still cannot
    assert post(admin_client, f"/system/users/{_user_id(sqlite_store, 'hr')}/active", {"active": "0"},
                page="/system/").status_code == 302
    assert post(admin_client, f"/system/users/{me}/delete", page="/system/").status_code == 303


@pytest.mark.parametrize("change", ["deactivate", "delete"])
def test_two_admins_removing_each_other_at_once_leave_one(store, change):
    """Each sees another active admin before it changes: the database must still keep one."""
    from admin.auth.users import UserError, create_user, delete_user, set_active

    for round_ in range(6):
        a = create_user(store, f"a{round_}", ADMIN_PW, "admin", actor="test")
        b = create_user(store, f"b{round_}", ADMIN_PW, "admin", actor="test")
        with store.session() as s:  # only these two are active admins in this round
            from app.store import AdminUser

            s.query(AdminUser).filter(AdminUser.id.notin_([a, b])).update({"active": False})

        def remove(target, actor):
            try:
                if change == "deactivate":
                    set_active(store, target, False, actor)
                else:
                    delete_user(store, target, actor)
                return "done"
            except UserError:
                return "refused"

        results = all_at_once([lambda: remove(b, f"a{round_}"), lambda: remove(a, f"b{round_}")])
        assert sorted(results) == ["done", "refused"], (round_, results)
        assert _active_admins(store) == 1

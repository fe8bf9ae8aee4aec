"""First run: the setup code shown on the terminal, and exactly one first administrator."""

from __future__ import annotations

import stat
import subprocess
import sys

import pytest
from tests.helpers.admin_app import ADMIN_PW, build_app, csrf_token, login
from tests.helpers.auth_http import all_at_once, client, served
from sqlalchemy import func, select


def _accounts(store):
    from app.store import AdminUser

    with store.session() as s:
        return list(s.scalars(select(AdminUser.username).order_by(AdminUser.id)))


def test_the_setup_code_is_made_at_start_kept_private_logged_and_asked_for(admin_config, instance, store):
    from loguru import logger

    from app.setup_code import FILE_NAME, pending_setup_code

    lines: list[str] = []
    handler = logger.add(lines.append, level="WARNING", format="{message}")
    try:
        app = build_app(admin_config(), instance, store)
    finally:
        logger.remove(handler)
    code = pending_setup_code(instance)
    assert code and len(code.replace("-", "")) == 10
    path = instance.root / FILE_NAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert any(code in line for line in lines)
    # a restart keeps the code that the installer may have written down
    build_app(admin_config(), instance, store)
    assert pending_setup_code(instance) == code

    c = app.test_client()
    token = csrf_token(c, "/setup")
    form = {"username": "admin", "password": ADMIN_PW, "confirm": ADMIN_PW, "csrf_token": token}
    for wrong in ("", "AAAAA-AAAAA", code[:-1]):
        r = c.post("/setup", data={**form, "setup_code": wrong})
        assert r.status_code == 400 and "设置码错误" in r.get_data(as_text=True)
    assert _accounts(store) == []
    # typed in lower case, without the dash: still the code
    r = c.post("/setup", data={**form, "setup_code": code.replace("-", "").lower()})
    assert r.status_code == 302 and r.location.endswith("/login")
    assert _accounts(store) == ["admin"]
    assert pending_setup_code(instance) is None and not path.exists()  # spent
    assert c.get("/setup").location.endswith("/login")
    assert login(c, "admin", ADMIN_PW).status_code == 302


def test_four_concurrent_claims_make_exactly_one_administrator(admin_config, instance, store):
    """The review's setup_race.py on a served admin: four anonymous posts released at once."""
    from app.setup_code import pending_setup_code

    app = build_app(admin_config(), instance, store)
    code = pending_setup_code(instance)
    with served(app) as base:
        clients = [client(base, "/setup") for _ in range(4)]

        def claim(i):
            s, token = clients[i]
            r = s.post(base + "/setup", data={"csrf_token": token, "setup_code": code, "username": f"admin{i}",
                                              "password": ADMIN_PW, "confirm": ADMIN_PW},
                       allow_redirects=False, timeout=60)
            return r.status_code, r.headers.get("Location", "")

        results = all_at_once([lambda i=i: claim(i) for i in range(4)])
    assert all(status == 302 and loc.endswith("/login") for status, loc in results), results
    accounts = _accounts(store)
    assert len(accounts) == 1, accounts
    from app.store import SetupClaim

    with store.session() as s:
        assert s.scalar(select(SetupClaim.username)) == accounts[0]


def test_the_database_refuses_a_second_first_administrator(instance, store):
    """The guarantee is the claim row's key, not a count read before the insert: a claim that
    passed its count (no account yet) while another committed is refused by the database."""
    from admin.auth.users import SetupDone, claim_first_admin
    from app.store import AdminUser, SetupClaim

    with store.session() as s:  # another claim has committed its row (its account not visible yet)
        s.add(SetupClaim(id=1, username="first"))
    with pytest.raises(SetupDone):
        claim_first_admin(store, "second", ADMIN_PW)
    with store.session() as s:
        assert s.scalar(select(func.count()).select_from(AdminUser)) == 0
    with pytest.raises(Exception), store.session() as s:  # and the table holds one row at most
        s.add(SetupClaim(id=2, username="third"))


def test_no_setup_code_once_an_account_exists(admin_config, instance, sqlite_store):
    from admin.auth.users import create_user
    from app.setup_code import pending_setup_code

    build_app(admin_config(), instance, sqlite_store)
    assert pending_setup_code(instance)
    create_user(sqlite_store, "admin", ADMIN_PW, "admin", actor="test")
    build_app(admin_config(), instance, sqlite_store)  # the next start removes it
    assert pending_setup_code(instance) is None


def test_an_account_made_with_the_cli_spends_the_code(admin_config, instance, sqlite_store):
    from app.setup_code import pending_setup_code

    build_app(admin_config(), instance, sqlite_store)
    assert pending_setup_code(instance)
    r = subprocess.run([sys.executable, "-m", "app.cli.main", "--instance", str(instance.root), "admin",
                        "create-user", "admin"], input=ADMIN_PW + "\n", capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    assert pending_setup_code(instance) is None


def test_a_damaged_code_file_is_replaced(admin_config, instance, sqlite_store):
    from app.setup_code import FILE_NAME, pending_setup_code

    (instance.root / FILE_NAME).write_text("not a code\n")
    assert pending_setup_code(instance) is None
    build_app(admin_config(), instance, sqlite_store)
    assert pending_setup_code(instance)


def test_an_unwritable_code_leaves_the_admin_up_and_set_up_closed(admin_config, instance, sqlite_store):
    from loguru import logger

    from app.setup_code import FILE_NAME, pending_setup_code

    (instance.root / FILE_NAME).mkdir()  # the code cannot be written there
    lines: list[str] = []
    handler = logger.add(lines.append, level="ERROR", format="{message}")
    try:
        app = build_app(admin_config(), instance, sqlite_store)
    finally:
        logger.remove(handler)
    assert pending_setup_code(instance) is None
    assert any("daka admin create-user" in line for line in lines)
    c = app.test_client()
    r = c.post("/setup", data={"csrf_token": csrf_token(c, "/setup"), "setup_code": "", "username": "admin",
                               "password": ADMIN_PW, "confirm": ADMIN_PW})
    assert r.status_code == 400 and _accounts(sqlite_store) == []


def test_guessing_the_code_is_throttled_per_address(admin_config, instance, sqlite_store):
    from app.setup_code import pending_setup_code

    app = build_app(admin_config(admin={"login_attempts": 3}), instance, sqlite_store)
    c = app.test_client()
    form = {"csrf_token": csrf_token(c, "/setup"), "username": "admin", "password": ADMIN_PW, "confirm": ADMIN_PW}
    statuses = [c.post("/setup", data={**form, "setup_code": f"AAAAA-AAAA{i}"}).status_code for i in range(2, 9)]
    assert statuses == [400] * 6 + [429]
    # even the right code waits now, from that address
    assert c.post("/setup", data={**form, "setup_code": pending_setup_code(instance)}).status_code == 429
    assert _accounts(sqlite_store) == []

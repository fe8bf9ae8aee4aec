"""Fixtures of the admin tests: a signed-in test client on a SQLite instance, a stand-in clock
helper (helpers: tests/helpers/admin_app.py)."""

from __future__ import annotations

import stat
import sys
from pathlib import Path

import pytest

from tests.helpers.admin_app import ADMIN_PW, VIEWER_PW, build_app, login
from tests.helpers.browser import admin_server, chromium


@pytest.fixture
def fake_clock(tmp_path) -> Path:
    """A stand-in for scripts/daka-set-time: records its arguments, fails on request."""
    log = tmp_path / "set-time.log"
    script = tmp_path / "fake-set-time"
    script.write_text(f"#!{sys.executable}\nimport sys\n"
                      f"open({str(log)!r}, 'a').write(' '.join(sys.argv[1:]) + '\\n')\n"
                      "print('clock set')\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script


@pytest.fixture
def admin_config(make_config, fake_clock):
    def make(**sections):
        admin = {"set_time_command": str(fake_clock), **sections.pop("admin", {})}
        return make_config(admin=admin, **sections)
    return make


@pytest.fixture
def sqlite_store(instance, admin_config):
    from app.store import open_store

    s = open_store(admin_config(), instance)
    yield s
    s.dispose()


@pytest.fixture
def app(admin_config, instance, sqlite_store):
    return build_app(admin_config(), instance, sqlite_store)


@pytest.fixture
def users(sqlite_store):
    from admin.auth.users import create_user

    create_user(sqlite_store, "admin", ADMIN_PW, "admin", actor="test")
    create_user(sqlite_store, "hr", VIEWER_PW, "viewer", actor="test")
    return {"admin": ADMIN_PW, "hr": VIEWER_PW}


@pytest.fixture
def admin_client(app, users):
    c = app.test_client()
    assert login(c, "admin", ADMIN_PW).status_code == 302
    return c


@pytest.fixture
def viewer_client(app, users):
    c = app.test_client()
    assert login(c, "hr", VIEWER_PW).status_code == 302
    return c


@pytest.fixture
def browser(tmp_path):
    """A headless Chromium (1280x900, zh-CN, downloads in tmp_path/downloads): tests/helpers/browser.py."""
    with chromium(downloads=tmp_path / "downloads") as driver:
        yield driver


@pytest.fixture
def server(admin_config, instance, sqlite_store):
    """The admin on a loopback port with one admin account (``admin`` / ADMIN_PW)."""
    from admin.auth.users import create_user

    create_user(sqlite_store, "admin", ADMIN_PW, "admin", actor="test")
    app = build_app(admin_config(), instance, sqlite_store)
    app.config["SSE_MAX_SECONDS"] = 2.0
    with admin_server(app) as srv:
        yield srv

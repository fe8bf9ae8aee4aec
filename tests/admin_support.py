"""Fixtures and helpers shared by the admin tests (imported by tests/test_admin_*.py)."""

from __future__ import annotations

import datetime as dt
import re
import stat
import sys
import uuid
from pathlib import Path

import pytest

ADMIN_PW, VIEWER_PW = "correct horse 1", "battery staple 2"
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


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


def build_app(config, instance, store, **kw):
    from admin import create_app

    return create_app(config, instance, store=store,
                      test_config={"TESTING": True, "SSE_MAX_SECONDS": 0.0, "SSE_POLL_SECONDS": 0.01}, **kw)


@pytest.fixture
def app(admin_config, instance, sqlite_store):
    return build_app(admin_config(), instance, sqlite_store)


@pytest.fixture
def users(sqlite_store):
    from admin.auth.users import create_user

    create_user(sqlite_store, "admin", ADMIN_PW, "admin", actor="test")
    create_user(sqlite_store, "hr", VIEWER_PW, "viewer", actor="test")
    return {"admin": ADMIN_PW, "hr": VIEWER_PW}


def csrf_token(client, path: str = "/login") -> str:
    html = client.get(path).get_data(as_text=True)
    m = CSRF_RE.search(html)
    assert m, f"no CSRF token on {path}"
    return m.group(1)


def login(client, username: str, password: str, **extra):
    token = csrf_token(client)
    return client.post("/login", data={"username": username, "password": password, "csrf_token": token, **extra})


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


def post(client, path: str, data: dict | None = None, page: str | None = None, **kw):
    """POST a form with the CSRF token taken from a page the user can see."""
    data = dict(data or {})
    data["csrf_token"] = csrf_token(client, page or "/")
    return client.post(path, data=data, **kw)


def add_staff(store, staff_no: str, name: str, department: str = "", active: bool = True) -> int:
    from app.store import Staff

    with store.session() as s:
        st = Staff(staff_no=staff_no, name=name, department=department, active=active)
        s.add(st)
        s.flush()
        return st.id


def add_punch(store, staff_id, staff_no: str, name: str, local: dt.datetime, tz="Asia/Shanghai",
              source: str = "face") -> int:
    import zoneinfo

    from app.store import Punch

    aware = local.replace(tzinfo=zoneinfo.ZoneInfo(tz))
    with store.session() as s:
        p = Punch(uuid=uuid.uuid4(), staff_id=staff_id, staff_no=staff_no, name=name,
                  punched_at=aware.astimezone(dt.UTC).replace(tzinfo=None), local_date=local.date(),
                  device_id="test", score=0.99, source=source)
        s.add(p)
        s.flush()
        return p.id


def api_token(store, role: str = "admin", name: str = "hr-system") -> str:
    from admin.auth.tokens import create

    return create(store, name, "test", role=role)


def send_files(client, method: str, path: str, files: list[tuple[bytes, str]], field: str = "files[]",
               form: dict | None = None, **kw):
    """A multipart request built in memory (the test client's own builder leaks a temporary file)."""
    from werkzeug.datastructures import FileStorage, MultiDict
    import io

    from werkzeug.test import encode_multipart

    values = MultiDict(form or {})
    for data, name in files:
        values.add(field, FileStorage(io.BytesIO(data), filename=name))
    boundary, body = encode_multipart(values)
    return client.open(path, method=method, data=body,
                       content_type=f"multipart/form-data; boundary={boundary}", **kw)

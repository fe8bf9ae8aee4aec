"""Helpers of the admin tests: the app, sign-in and CSRF, rows and tokens (fixtures: tests/admin/conftest.py)."""

from __future__ import annotations

import datetime as dt
import re
import uuid

ADMIN_PW, VIEWER_PW = "correct horse 1", "battery staple 2"
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def build_app(config, instance, store, **kw):
    from admin import create_app

    return create_app(config, instance, store=store,
                      test_config={"TESTING": True, "SSE_MAX_SECONDS": 0.0, "SSE_POLL_SECONDS": 0.01}, **kw)


def csrf_token(client, path: str = "/login") -> str:
    html = client.get(path).get_data(as_text=True)
    m = CSRF_RE.search(html)
    assert m, f"no CSRF token on {path}"
    return m.group(1)


def login(client, username: str, password: str, **extra):
    token = csrf_token(client)
    return client.post("/login", data={"username": username, "password": password, "csrf_token": token, **extra})


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
              source: str = "face", device_id: str = "test") -> int:
    import zoneinfo

    from app.store import Punch

    aware = local.replace(tzinfo=zoneinfo.ZoneInfo(tz))
    with store.session() as s:
        p = Punch(uuid=uuid.uuid4(), staff_id=staff_id, staff_no=staff_no, name=name,
                  punched_at=aware.astimezone(dt.UTC).replace(tzinfo=None), local_date=local.date(),
                  device_id=device_id, score=0.99, source=source)
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

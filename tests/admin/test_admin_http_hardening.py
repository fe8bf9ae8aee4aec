"""The admin's HTTP edges: request bodies refused before they are spooled, slow requests cut,
live-feed streams that leave threads for the API, bad dates and page numbers as 400s, JSON errors
for every /api status, long API ranges in flat memory (issue 16, findings 1, 9, 10, 17, 18)."""

from __future__ import annotations

import datetime as dt
import json
import re
import select
import socket
import threading
import tracemalloc
import urllib.request
import uuid

import pytest
import requests
from tests.helpers.admin_app import VIEWER_PW, add_punch, add_staff, api_token, build_app, post
from tests.helpers.waiting import wait_for

CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def served(admin_config, instance, sqlite_store):
    """Start AdminServers on loopback; every one is stopped at teardown."""
    from admin.server import AdminServer

    servers = []

    def serve(app=None, **kw):
        server = AdminServer(app or build_app(admin_config(), instance, sqlite_store), "127.0.0.1", 0, **kw)
        servers.append(server.start())
        return server
    yield serve
    for server in servers:
        server.stop()


def _connect(server) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=60)
    return sock


def _read_until_closed(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


# -- finding 1: request bodies --------------------------------------------------------------------

def test_an_anonymous_body_over_the_upload_limit_is_refused_before_it_is_read(served, admin_config, instance,
                                                                              sqlite_store):
    app = build_app(admin_config(admin={"max_upload_mb": 1}), instance, sqlite_store)
    server = served(app, threads=2)
    limit = app.config["MAX_CONTENT_LENGTH"]
    with _connect(server) as sock:
        # Only the head: a server that wanted the body would wait for it (and spool it to /tmp).
        sock.sendall(b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n"
                     b"Content-Length: %d\r\n\r\n" % (limit + 1))
        answer = _read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
    # A body of exactly the limit is still taken (and then judged by the app: here, no CSRF token).
    with _connect(server) as sock:
        sock.sendall(b"POST /login HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                     b"Content-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n" % limit)
        sock.sendall(b"\0" * limit)
        answer = _read_until_closed(sock)
    assert not answer.startswith(b"HTTP/1.1 413 "), answer[:200]


def test_an_api_body_over_the_limit_gets_the_api_s_json_413(served, admin_config, instance, sqlite_store):
    app = build_app(admin_config(admin={"max_upload_mb": 1}), instance, sqlite_store)
    server = served(app, threads=2)
    with _connect(server) as sock:
        sock.sendall(b"PUT /api/add_face_libs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer x\r\n"
                     b"Content-Type: multipart/form-data; boundary=b\r\nContent-Length: %d\r\n\r\n" % (1 << 30))
        answer = _read_until_closed(sock)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413 ") and b"Content-Type: application/json" in head, head
    assert json.loads(body) == {"success": False, "error": "too_large", "message": "请求过大",
                                "limit_bytes": 1024 * 1024}


def test_a_trickled_request_is_cut_at_the_read_deadline_and_the_server_goes_on(served):
    # The idle timeout (30 s) never fires: a byte comes every 50 ms. Only the whole-request
    # deadline (1 s here) can end it.
    server = served(threads=2, request_read_timeout=1, cleanup_interval=1)
    sock = _connect(server)
    try:
        sock.sendall(b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n"
                     b"Content-Length: 100000\r\n\r\n")
        closed = threading.Event()

        def trickle_until_closed() -> bool:
            readable, _, _ = select.select([sock], [], [], 0.05)
            try:
                if readable and sock.recv(65536) == b"":
                    closed.set()
                else:
                    sock.sendall(b"\0")
            except OSError:  # reset by the server
                closed.set()
            return closed.is_set()
        wait_for(trickle_until_closed, timeout=120, step=0)
    finally:
        sock.close()
    with urllib.request.urlopen(server.url + "/health", timeout=60) as r:
        assert json.load(r) == {"ok": True}


def test_connections_beyond_the_cap_wait_until_one_closes(served):
    """The cap is the clients', as docs/admin.md says: waitress counted its own sockets against it,
    served two clients fewer, and a client closing at the cap freed no slot until the idle ones
    timed out (the idle time-out is long here, so only a freed slot can serve the late one)."""
    server = served(threads=2, idle_timeout=600)
    idle = [_connect(server) for _ in range(64)]  # the cap docs/admin.md gives
    late = None
    try:
        # Each idle connection is accepted (a request on it would be answered) ...
        idle[0].sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        assert idle[0].recv(4096).startswith(b"HTTP/1.1 200 ")
        # ... and one more is left in the listen queue: no answer while the others stay open
        late = _connect(server)
        late.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        readable, _, _ = select.select([late], [], [], 2.0)
        assert not readable, "a connection over the cap was served"
        idle[-1].sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")   # the 64th is a client too
        assert idle[-1].recv(4096).startswith(b"HTTP/1.1 200 ")
        idle.pop(0).close()
        assert _read_until_closed(late).startswith(b"HTTP/1.1 200 ")
    finally:
        for sock in [*idle, *([late] if late else [])]:
            sock.close()


# -- finding 9: live-feed streams -----------------------------------------------------------------

def _session_cookie(url: str, username: str, password: str) -> str:
    with requests.Session() as s:
        token = CSRF_RE.search(s.get(url + "/login", timeout=60).text).group(1)
        r = s.post(url + "/login", data={"username": username, "password": password, "csrf_token": token},
                   allow_redirects=False, timeout=60)
        assert r.status_code == 302
        return "; ".join(f"{c.name}={c.value}" for c in s.cookies)


def _first_retry(sock: socket.socket) -> int:
    """The retry: figure at the start of an event stream."""
    data = b""
    while b"retry: " not in data or not re.search(rb"retry: (\d+)\n", data):
        chunk = sock.recv(4096)
        assert chunk, data
        data += chunk
    head = data.split(b"\r\n", 1)[0]
    assert head.startswith(b"HTTP/1.1 200 "), data[:300]
    return int(re.search(rb"retry: (\d+)\n", data).group(1))


def test_twenty_dashboard_tabs_leave_health_and_the_api_answered(served, admin_config, instance, sqlite_store,
                                                                 users):
    app = create_streaming_app(admin_config, instance, sqlite_store)
    server = served(app, threads=4)
    cookie = _session_cookie(server.url, "hr", VIEWER_PW)
    token = api_token(sqlite_store, role="viewer")
    tabs = []
    try:
        for _ in range(20):
            sock = _connect(server)
            sock.sendall(f"GET /dashboard/events HTTP/1.1\r\nHost: x\r\nCookie: {cookie}\r\n"
                         "Accept: text/event-stream\r\n\r\n".encode())
            tabs.append(sock)
        retries = sorted(_first_retry(sock) for sock in tabs)
        # two tabs stream; the others are answered at once and told to come back in 10 s
        assert retries == [2000] * 2 + [10_000] * 18
        slots = app.extensions["daka_sse_slots"]
        assert slots.limit == 2 and slots.open == 2  # half of the 4 threads
        with urllib.request.urlopen(server.url + "/health", timeout=60) as r:
            assert json.load(r) == {"ok": True}
        r = requests.get(server.url + "/api/get_face_libraries", headers=bearer(token), timeout=60)
        assert r.status_code == 200 and r.json() == []
        # the streams really are live: a new punch reaches them
        sid = add_staff(sqlite_store, "E1", "张三")
        add_punch(sqlite_store, sid, "E1", "张三", dt.datetime(2026, 12, 4, 9, 0))
        streaming = [sock for sock in tabs if _poll_for(sock, b"event: punch")]
        assert len(streaming) == 2
    finally:
        for sock in tabs:
            sock.close()
    wait_for(lambda: slots.open == 0, timeout=60)  # each stream ended and gave its slot back


def _poll_for(sock: socket.socket, needle: bytes) -> bool:
    """Whether ``needle`` arrives on an open stream (False for a stream the server ended)."""
    seen = b""

    def arrived() -> bool:
        nonlocal seen
        readable, _, _ = select.select([sock], [], [], 0.05)
        if readable:
            chunk = sock.recv(65536)
            if not chunk:
                return True
            seen += chunk
        return needle in seen
    wait_for(arrived, timeout=60, step=0)
    return needle in seen


def create_streaming_app(admin_config, instance, sqlite_store):
    from admin import create_app

    return create_app(admin_config(), instance, store=sqlite_store,
                      test_config={"TESTING": True, "SSE_MAX_SECONDS": 600.0, "SSE_POLL_SECONDS": 0.05})


def test_a_stream_gives_its_slot_back_however_it_ends(app, users):
    from tests.helpers.admin_app import login

    slots = app.extensions["daka_sse_slots"]
    c = app.test_client()
    assert login(c, "hr", VIEWER_PW).status_code == 302
    for method in ("GET", "HEAD"):
        r = c.open("/dashboard/events", method=method)
        assert r.status_code == 200
        r.close()
        assert slots.open == 0, method
    # Over the cap: a short answer, with what is new, and no slot taken.
    take = [slots.take() for _ in range(slots.limit)]
    r = c.get("/dashboard/events")
    assert r.get_data(as_text=True).startswith("retry: 10000\n") and slots.open == slots.limit
    for release in take:
        release()
        release()  # twice is harmless
    assert slots.open == 0


# -- finding 10: dates, page numbers, event ids ---------------------------------------------------

@pytest.mark.parametrize("body", [
    {"start_time": "9999-12-31", "end_time": "9999-12-31"},
    {"start_time": "0001-01-01", "end_time": "0001-01-02"},
    {"start_time": "0001-01-01 00:00:00", "end_time": "2026-12-31"},
    {"start_time": "2026-01-01", "end_time": "9999-12-30"},
])
def test_overflowing_api_dates_are_a_json_400(app, sqlite_store, body):
    c = app.test_client()
    token = api_token(sqlite_store)
    r = c.post("/api/get_attend_infos", json=body, headers=bearer(token))
    assert r.status_code == 400 and r.get_json()["success"] is False
    assert "out of range" in r.get_json()["message"]
    r = c.get("/api/clear_data", query_string=body, headers=bearer(token))
    assert r.status_code == 400 and r.get_json()["success"] is False


@pytest.mark.parametrize("query", ["from=9999-12-31&to=9999-12-31", "from=0001-01-01&to=0001-01-01",
                                   "from=2026-01-01&to=9999-12-31"])
@pytest.mark.parametrize("page", ["/attendance/", "/attendance/summary", "/attendance/export.xlsx",
                                  "/attendance/export.csv"])
def test_overflowing_page_dates_are_a_400_that_says_why(admin_client, page, query):
    r = admin_client.get(f"{page}?{query}")
    assert r.status_code == 400
    assert "日期超出范围（1900 至 9998 年）" in r.get_data(as_text=True)


def test_page_date_messages_come_in_english_too(admin_client):
    post(admin_client, "/language", {"lang": "en"})
    r = admin_client.get("/attendance/?from=0001-01-01")
    assert r.status_code == 400 and "Date out of range (years 1900 to 9998)" in r.get_data(as_text=True)
    assert "Dates look like 2026-01-31" in admin_client.get("/attendance/?from=x").get_data(as_text=True)


@pytest.mark.parametrize("page", ["/staff/", "/attendance/", "/makeup/?state=all", "/system/audit"])
def test_huge_page_numbers_are_a_400_and_garbage_is_page_one(admin_client, page):
    sep = "&" if "?" in page else "?"
    r = admin_client.get(f"{page}{sep}page=99999999999999999999")
    assert r.status_code == 400 and "页码超出范围" in r.get_data(as_text=True)
    for fine in ("-5", "abc", "1000000"):
        assert admin_client.get(f"{page}{sep}page={fine}").status_code == 200, fine


def test_a_makeup_at_year_one_is_refused(admin_client, sqlite_store):
    add_staff(sqlite_store, "E001", "张三")
    r = post(admin_client, "/makeup/", {"staff_no": "E001", "time": "0001-01-01 00:00", "reason": "x"},
             page="/makeup/")
    assert r.status_code == 400 and "补卡时间超出范围（1900 至 9998 年）" in r.get_data(as_text=True)


@pytest.mark.parametrize("headers,query", [({"Last-Event-ID": "9" * 30}, ""), ({"Last-Event-ID": "-1"}, ""),
                                           ({"Last-Event-ID": "x"}, ""), ({}, "?after=99999999999999999999")])
def test_an_impossible_last_event_id_is_a_400(admin_client, headers, query):
    r = admin_client.get("/dashboard/events" + query, headers=headers)
    assert r.status_code == 400 and "无效的事件编号" in r.get_data(as_text=True)
    assert admin_client.get("/dashboard/events", headers={"Last-Event-ID": str(2**63 - 1)}).status_code == 200


# -- findings 10 and 18: JSON errors under /api ---------------------------------------------------

def test_every_api_error_is_json_with_success_false(admin_config, instance, sqlite_store, monkeypatch):
    from app.attendance import queries

    app = build_app(admin_config(admin={"max_upload_mb": 1}), instance, sqlite_store)
    app.config["PROPAGATE_EXCEPTIONS"] = False  # answer a 500 as in production, not raise in the test
    c = app.test_client()
    token = bearer(api_token(sqlite_store))

    r = c.get("/api/no_such_thing", headers=token)
    assert r.status_code == 404 and r.get_json()["success"] is False and r.get_json()["error"] == "not_found"
    r = c.get("/api/delete_face", headers=token)
    assert r.status_code == 405 and r.get_json()["success"] is False
    assert r.headers["Allow"].split(", ") and "DELETE" in r.headers["Allow"]
    r = c.post("/api/get_attend_infos", data=b"\0" * (1024 * 1024 + 1), headers=token,
               content_type="application/json")
    assert r.status_code == 413 and r.get_json() == {"success": False, "error": "too_large", "message": "请求过大",
                                                      "limit_bytes": 1024 * 1024}

    def broken(*_a, **_kw):
        raise RuntimeError("the database went away")
    monkeypatch.setattr(queries, "punches_json", broken)
    r = c.post("/api/get_attend_infos", json={"start_time": "2026-01-01", "end_time": "2026-01-02"}, headers=token)
    assert r.status_code == 500 and r.mimetype == "application/json"
    assert r.get_json()["success"] is False and "the database went away" not in r.get_data(as_text=True)


def test_page_errors_stay_pages(admin_client, monkeypatch, app):
    from app.attendance import queries

    r = admin_client.get("/no/such/page")
    assert r.status_code == 404 and r.mimetype == "text/html"
    r = admin_client.post("/health")
    assert r.status_code == 405 and "GET" in r.headers["Allow"]
    app.config["PROPAGATE_EXCEPTIONS"] = False

    def broken(*_a, **_kw):
        raise RuntimeError("boom")
    monkeypatch.setattr(queries, "count", broken)
    r = admin_client.get("/attendance/")
    page = r.get_data(as_text=True)
    assert r.status_code == 500 and r.mimetype == "text/html" and "错误代码 500" in page and "出错了" in page


def test_the_openapi_document_admits_null_names_and_requires_success_false():
    from admin.api.openapi import spec

    schemas = spec()["components"]["schemas"]
    file_result = schemas["FileResult"]["properties"]
    assert file_result["staff_no"]["nullable"] and file_result["name"]["nullable"]
    assert schemas["Error"]["properties"]["success"]["enum"] == [False]
    assert "success" in schemas["Error"]["required"]
    for path, ops in spec()["paths"].items():
        for method, op in ops.items():
            assert op["responses"]["405"]["headers"]["Allow"]["required"], (path, method)


# -- finding 17: long API ranges ------------------------------------------------------------------

def _seed_punches(store, count: int, start: int = 0) -> None:
    from sqlalchemy import insert

    from app.store import Punch

    sid = add_staff(store, f"S{start}", f"员工{start}")
    first = dt.datetime(2001, 1, 1)
    rows = [{"uuid": uuid.uuid4(), "staff_id": sid, "staff_no": f"S{start}", "name": f"员工{start}",
             "punched_at": first + dt.timedelta(hours=7 * (start + i)), "local_date": dt.date(2001, 1, 1),
             "device_id": "t", "score": 0.9, "source": "face"} for i in range(count)]
    with store.session() as s:
        s.execute(insert(Punch), rows)


def _peak_while_reading(client, token) -> tuple[int, bytes]:
    """tracemalloc's peak while the whole 100-year answer is read, and the answer's bytes."""
    tracemalloc.start()
    try:
        r = client.post("/api/get_attend_infos", json={"start_time": "2000-01-01", "end_time": "2099-12-31"},
                        headers=bearer(token), buffered=False)
        assert r.status_code == 200 and r.is_streamed
        parts = [len(chunk) for chunk in r.iter_encoded()]
        peak = tracemalloc.get_traced_memory()[1]
        r.close()
    finally:
        tracemalloc.stop()
    return peak, sum(parts)


def test_a_hundred_year_range_is_streamed_in_flat_memory(app, sqlite_store):
    token = api_token(sqlite_store, role="viewer")
    client = app.test_client()
    _seed_punches(sqlite_store, 4000)  # two whole batches of the stream
    small_peak, small_size = _peak_while_reading(client, token)
    _seed_punches(sqlite_store, 26000, start=4000)
    big_peak, big_size = _peak_while_reading(client, token)
    assert big_size > 7 * small_size
    # Seven times the rows, the same memory (a list of every row grew with the range: 5 times the
    # peak here before, 234 MB for 300,000 punches).
    assert big_peak < 1.3 * small_peak, (small_peak, big_peak)
    # and the answer is the seed's, complete and in time order
    body = client.post("/api/get_attend_infos", json={"start_time": "2000-01-01", "end_time": "2099-12-31"},
                       headers=bearer(token)).get_json()
    assert len(body) == 30000 and body[0] == {"name": "员工0", "staff_id": "S0", "attend_time": "2001-01-01 08:00:00",
                                                 "device_id": "t"}
    assert [x["attend_time"] for x in body] == sorted(x["attend_time"] for x in body)

"""The seed's JSON API with the exact payloads of DESIGN.md, behind bearer tokens."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys

import pytest
from tests.helpers.admin_app import add_punch, add_staff, api_token, build_app, send_files


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def token(sqlite_store):
    return api_token(sqlite_store)


@pytest.fixture
def api(app, token):
    c = app.test_client()
    c.environ_base.update({"HTTP_AUTHORIZATION": f"Bearer {token}"})
    return c


def _upload(api, photos, names):
    return send_files(api, "PUT", "/api/add_face_libs", [(photos[src].read_bytes(), name) for src, name in names])


def test_add_face_libs_takes_chinese_names_and_reports_each_file(api, photos, sqlite_store, app):
    r = _upload(api, photos, [("obama.jpg", "HR0878_奥巴马.jpg"), ("biden.jpg", "HR0879_拜登.jpg"),
                              ("32bit.png", "no-staff-number.png")])
    assert r.status_code == 200
    body = r.get_json()
    by_file = {f["file"]: f for f in body["files"]}
    assert by_file["HR0878_奥巴马.jpg"]["ok"] and by_file["HR0879_拜登.jpg"]["ok"]
    assert by_file["no-staff-number.png"] == {**by_file["no-staff-number.png"], "ok": False, "reason": "bad_name"}
    assert body["enrolled"] == 2 and body["refused"] == 1 and body["success"] is False
    # the live gallery of the admin's library holds both people now
    assert len(app.extensions["daka_admin"].library.gallery) == 2

    libs = api.get("/api/get_face_libraries").get_json()
    assert [(x["staff_id"], x["name"]) for x in libs] == [("HR0878", "奥巴马"), ("HR0879", "拜登")]
    assert all(dt.datetime.strptime(x["update_time"], "%Y-%m-%d %H:%M:%S") for x in libs)

    photo = api.get("/api/download_facelib?staff_id=HR0878")
    assert photo.status_code == 200 and photo.data == photos["obama.jpg"].read_bytes()
    photo.close()

    r = api.delete("/api/delete_face", json={"face_id": "HR0878"})
    assert r.status_code == 200 and r.get_json()["success"] is True
    assert [x["staff_id"] for x in api.get("/api/get_face_libraries").get_json()] == ["HR0879"]
    assert len(app.extensions["daka_admin"].library.gallery) == 1
    assert list(app.extensions["daka_admin"].instance.photos_dir.iterdir()).__len__() == 1
    missing = api.delete("/api/delete_face", json={"face_id": "HR0878"})
    assert missing.status_code == 404 and missing.get_json()["success"] is False


def test_get_attend_infos_returns_every_punch_in_the_range(api, sqlite_store):
    sid = add_staff(sqlite_store, "HR0878", "张三")
    add_punch(sqlite_store, sid, "HR0878", "张三", dt.datetime(2022, 4, 18, 8, 59, 10))
    add_punch(sqlite_store, sid, "HR0878", "张三", dt.datetime(2022, 4, 18, 8, 59, 40))  # not de-duplicated
    add_punch(sqlite_store, sid, "HR0878", "张三", dt.datetime(2022, 4, 18, 18, 1, 0))
    add_punch(sqlite_store, sid, "HR0878", "张三", dt.datetime(2022, 4, 19, 9, 0, 0))
    r = api.post("/api/get_attend_infos", json={"start_time": "2022-04-18 00:00:00", "end_time": "2022-04-18 23:59:59"})
    assert r.status_code == 200
    assert r.get_json() == [
        {"name": "张三", "staff_id": "HR0878", "attend_time": "2022-04-18 08:59:10", "device_id": "test"},
        {"name": "张三", "staff_id": "HR0878", "attend_time": "2022-04-18 08:59:40", "device_id": "test"},
        {"name": "张三", "staff_id": "HR0878", "attend_time": "2022-04-18 18:01:00", "device_id": "test"},
    ]
    bad = api.post("/api/get_attend_infos", json={"start_time": "yesterday", "end_time": "2022-04-18"})
    assert bad.status_code == 400 and bad.get_json()["error"] == "bad_request"
    assert api.post("/api/get_attend_infos", data="not json", content_type="application/json").status_code == 400


def test_clear_data_deletes_the_range_only(api, sqlite_store):
    sid = add_staff(sqlite_store, "HR1", "李四")
    for day in (17, 18, 19):
        add_punch(sqlite_store, sid, "HR1", "李四", dt.datetime(2022, 4, day, 9, 0, 0))
    r = api.get("/api/clear_data?start_time=2022-04-18 00:00:00&end_time=2022-04-18 23:59:59")
    assert r.status_code == 200 and r.get_json() == {"success": True, "deleted": 1}
    left = api.post("/api/get_attend_infos", json={"start_time": "2022-04-01", "end_time": "2022-04-30"}).get_json()
    assert [x["attend_time"][:10] for x in left] == ["2022-04-17", "2022-04-19"]


def test_update_sys_time_goes_through_the_helper_with_validated_arguments(api, fake_clock):
    r = api.put("/api/update_sys_time", json={"date": "2022-04-18", "time": "15:56:00"})
    assert r.status_code == 200 and r.get_json()["success"] is True
    log = fake_clock.parent / "set-time.log"
    assert log.read_text().splitlines() == ["2022-04-18 15:56:00"]
    for body in ({"date": "2022-04-18; reboot", "time": "15:56:00"}, {"date": "2022-13-40", "time": "15:56:00"},
                 {"date": "2022-04-18", "time": "$(id)"}, {"date": 20220418, "time": "15:56:00"}):
        bad = api.put("/api/update_sys_time", json=body)
        assert bad.status_code == 400, body
    assert log.read_text().splitlines() == ["2022-04-18 15:56:00"]


def test_tokens_missing_wrong_or_revoked_are_refused(app, sqlite_store, token):
    from sqlalchemy import select

    from admin.auth.tokens import revoke
    from app.store import ApiToken

    c = app.test_client()
    assert c.get("/api/get_face_libraries").status_code == 401
    assert c.get("/api/get_face_libraries", headers=bearer("daka_not-a-token")).status_code == 401
    assert c.get("/api/get_face_libraries", headers={"Authorization": f"Basic {token}"}).status_code == 401
    assert c.get("/api/get_face_libraries", headers=bearer(token)).status_code == 200
    with sqlite_store.session() as s:
        row = s.scalar(select(ApiToken))
        assert row.token_sha256 != token and token not in row.prefix * 3
    assert revoke(sqlite_store, row.id, "test")
    r = c.get("/api/get_face_libraries", headers=bearer(token))
    assert r.status_code == 401 and r.get_json()["success"] is False


def test_viewer_tokens_only_read(app, sqlite_store):
    token = api_token(sqlite_store, role="viewer", name="payroll")
    c = app.test_client()
    assert c.get("/api/get_face_libraries", headers=bearer(token)).status_code == 200
    assert c.post("/api/get_attend_infos", headers=bearer(token),
                  json={"start_time": "2022-04-18", "end_time": "2022-04-18"}).status_code == 200
    assert c.delete("/api/delete_face", headers=bearer(token), json={"face_id": "x"}).status_code == 403
    assert c.get("/api/clear_data?start_time=2022-01-01&end_time=2022-12-31", headers=bearer(token)).status_code == 403
    assert c.put("/api/update_sys_time", headers=bearer(token), json={"date": "2022-04-18", "time": "15:56:00"}).status_code == 403


def test_download_facelib_cannot_leave_the_photos_folder(api, sqlite_store, instance):
    from app.store import FaceTemplate

    secret = instance.root / "daka.toml"
    assert secret.exists()
    sid = add_staff(sqlite_store, "HR9", "王五")
    with sqlite_store.session() as s:
        s.add(FaceTemplate(staff_id=sid, descriptor=b"\0" * 512, model_id="m", photo_file="../daka.toml",
                           photo_sha256="0" * 64))
    for q in ("HR9", "../daka.toml", "../../etc/passwd", "%2e%2e%2fdaka.toml"):
        r = api.get("/api/download_facelib", query_string={"staff_id": q})
        assert r.status_code == 404, q
        assert secret.read_bytes() not in r.data


def test_oversized_uploads_are_refused_with_413(admin_config, instance, sqlite_store, token):
    app = build_app(admin_config(admin={"max_upload_mb": 1}), instance, sqlite_store)
    c = app.test_client()
    r = send_files(c, "PUT", "/api/add_face_libs", [(b"\xff" * (1024 * 1024 + 10), "HR1_大.jpg")],
                   headers=bearer(token))
    assert r.status_code == 413 and r.get_json()["error"] == "too_large"


def test_openapi_document_lists_every_seed_endpoint(app):
    from admin.api.openapi import spec

    doc = spec()
    assert doc["openapi"].startswith("3.")
    seed = {("/api/add_face_libs", "put"), ("/api/get_face_libraries", "get"), ("/api/delete_face", "delete"),
            ("/api/get_attend_infos", "post"), ("/api/download_facelib", "get"), ("/api/clear_data", "get"),
            ("/api/update_sys_time", "put")}
    aliases = {("/api/get_attended_infos", "post"), ("/api/down_facelib", "get")}  # the seed backend's spellings
    assert {(p, m) for p, ops in doc["paths"].items() for m in ops} == seed | aliases
    assert all(doc["paths"][p][m]["deprecated"] for p, m in aliases)
    # and the app serves each of them with that method
    routes = {(r.rule, m.lower()) for r in app.url_map.iter_rules() for m in r.methods}
    assert seed <= routes


def test_cli_creates_users_from_stdin_and_prints_tokens_once(tmp_path, app, sqlite_store):
    env_instance = str(app.extensions["daka_admin"].instance.root)
    run = [sys.executable, "-m", "app.cli.main", "--instance", env_instance, "admin"]
    r = subprocess.run([*run, "create-user", "王经理", "--role", "viewer"], input="a good password\n",
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"user": "王经理", "role": "viewer"}
    short = subprocess.run([*run, "create-user", "x"], input="short\n", capture_output=True, text=True, timeout=60)
    assert short.returncode == 1
    r = subprocess.run([*run, "create-token", "考勤系统"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    token = r.stdout.strip()
    assert token.startswith("daka_")
    assert app.test_client().get("/api/get_face_libraries", headers=bearer(token)).status_code == 200


@pytest.mark.parametrize("zone", ["Asia/Shanghai", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe",
                                  "Asia/Kathmandu"])
def test_local_times_match_the_zone_rules_across_offset_changes(zone):
    import zoneinfo

    from app.attendance.localtime import LocalTimes, local_time_of

    tz = zoneinfo.ZoneInfo(zone)
    fmt = LocalTimes(tz)
    t = dt.datetime(2025, 1, 1)
    while t < dt.datetime(2026, 1, 1):  # every 7 minutes 13 seconds of a year, DST changes included
        assert fmt(t) == local_time_of(t, tz), (zone, t)
        t += dt.timedelta(minutes=7, seconds=13)


def test_api_and_makeup_on_both_databases(store, instance, admin_config):
    """The same flow on SQLite and PostgreSQL: make-up approval, attendance query, clear."""
    from admin.makeup import service as makeup

    app = build_app(admin_config(), instance, store)
    svc = app.extensions["daka_admin"]
    sid = add_staff(store, "PG1", "数据库")
    add_punch(store, sid, "PG1", "数据库", dt.datetime(2022, 4, 18, 8, 0, 5))
    req = makeup.create(svc, "PG1", "2022-04-18 17:30", "外出", actor="test")
    punch_id = makeup.decide(svc, req, True, actor="test")
    assert punch_id is not None
    with pytest.raises(makeup.MakeupError):
        makeup.decide(svc, req, False, actor="test")
    c = app.test_client()
    h = bearer(api_token(store))
    rows = c.post("/api/get_attend_infos", headers=h,
                  json={"start_time": "2022-04-18 00:00:00", "end_time": "2022-04-18 23:59:59"}).get_json()
    assert [r["attend_time"] for r in rows] == ["2022-04-18 08:00:05", "2022-04-18 17:30:00"]
    assert c.get("/api/clear_data?start_time=2022-04-18&end_time=2022-04-18", headers=h).get_json()["deleted"] == 2


@pytest.mark.parametrize("zone,first,last", [
    ("Asia/Shanghai", "2025-03-29 00:00:00", "2025-03-31 23:59:59"),    # no offset change
    ("Europe/Berlin", "2025-03-28 00:00:00", "2025-03-29 23:59:59"),    # before the change: fixed offset
    ("Europe/Berlin", "2025-03-29 00:00:00", "2025-03-31 23:59:59"),    # across the change
    ("Europe/Berlin", "2025-01-01 00:00:00", "2025-12-31 23:59:59"),    # a year
])
def test_attendance_times_are_local_whichever_path_formats_them(store, instance, admin_config, zone, first, last):
    import zoneinfo

    from app.attendance.localtime import local_time_of

    app = build_app(admin_config(device={"timezone": zone}), instance, store)
    sid = add_staff(store, "TZ1", "时区")
    tz = zoneinfo.ZoneInfo(zone)
    from app.store import Punch

    with store.session() as s:
        utc_times = [dt.datetime(2025, 3, 28, 22, 0) + dt.timedelta(minutes=37 * i, microseconds=123456)
                     for i in range(200)]
        for t in utc_times:
            s.add(Punch(uuid=__import__("uuid").uuid4(), staff_id=sid, staff_no="TZ1", name="时区", punched_at=t,
                        local_date=t.date(), device_id="t", source="face"))
    start = dt.datetime.strptime(first, "%Y-%m-%d %H:%M:%S")
    end = dt.datetime.strptime(last, "%Y-%m-%d %H:%M:%S")
    expected = [local_time_of(t, tz) for t in utc_times
                if start <= dt.datetime.strptime(local_time_of(t, tz), "%Y-%m-%d %H:%M:%S") <= end]
    rows = app.test_client().post("/api/get_attend_infos", headers=bearer(api_token(store)),
                                  json={"start_time": first, "end_time": last}).get_json()
    assert [r["attend_time"] for r in rows] == expected and expected


def test_the_end_of_a_range_is_inclusive_to_its_last_second(api, sqlite_store):
    sid = add_staff(sqlite_store, "E1", "末秒")
    add_punch(sqlite_store, sid, "E1", "末秒", dt.datetime(2022, 4, 18, 23, 59, 59, 500000))
    add_punch(sqlite_store, sid, "E1", "末秒", dt.datetime(2022, 4, 19, 0, 0, 0))
    rows = api.post("/api/get_attend_infos", json={"start_time": "2022-04-18 00:00:00",
                                                   "end_time": "2022-04-18 23:59:59"}).get_json()
    assert [r["attend_time"] for r in rows] == ["2022-04-18 23:59:59"]


def test_the_bearer_api_neither_reads_nor_sets_the_session_cookie(app, admin_client, token):
    """The API answers from its token alone: a page session is not opened (no Vary: Cookie, no
    Set-Cookie), does not authenticate, and the pages keep their session."""
    assert admin_client.get_cookie("daka_session") is not None
    r = admin_client.get("/api/get_face_libraries")
    assert r.status_code == 401
    r = admin_client.post("/api/get_attend_infos", headers=bearer(token),
                          json={"start_time": "2022-04-18", "end_time": "2022-04-18"})
    assert r.status_code == 200 and r.get_json() == []
    assert "Set-Cookie" not in r.headers and "Cookie" not in r.headers.get("Vary", "")
    assert r.headers["Cache-Control"] == "no-store" and r.headers["X-Content-Type-Options"] == "nosniff"
    page = admin_client.get("/")
    assert page.status_code == 200 and "Cookie" in page.headers.get("Vary", "")

"""Admin pages through the Flask test client: library, attendance, make-up, settings, system, feed."""

from __future__ import annotations

import datetime as dt
import io
import re
import sqlite3
import zoneinfo

import pytest
from tests.helpers.admin_app import add_punch, add_staff, build_app, csrf_token, login, post, send_files
from sqlalchemy import func, select

from app.store import AuditEntry, FaceTemplate, MakeupRequest, Punch, Staff
from app.services.settings import threshold_key


def _actions(store) -> list[str]:
    with store.session() as s:
        return list(s.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))


def test_upload_list_thumbnail_download_and_delete(admin_client, photos, sqlite_store, app):
    token = csrf_token(admin_client, "/staff/")
    r = send_files(admin_client, "POST", "/staff/upload",
                   [(photos["obama.jpg"].read_bytes(), "HR0001_奥巴马.jpg"),
                    (photos["biden.jpg"].read_bytes(), "HR0002_拜登.jpg"),
                    (b"not an image", "HR0003_坏文件.jpg")], field="files", form={"csrf_token": token})
    html = r.get_data(as_text=True)
    assert r.status_code == 200
    assert "HR0001_奥巴马.jpg" in html and "HR0003_坏文件.jpg" in html and "无法读取这个文件，请上传 JPG 或 PNG 照片" in html
    assert html.count('class="ok"') == 2 and html.count('class="refused"') == 1
    listing = admin_client.get("/staff/").get_data(as_text=True)
    assert "奥巴马" in listing and "拜登" in listing and "坏文件" not in listing
    assert "拜登" in admin_client.get("/staff/?q=HR0002").get_data(as_text=True)
    assert "奥巴马" not in admin_client.get("/staff/?q=HR0002").get_data(as_text=True)

    with sqlite_store.session() as s:
        obama = s.scalar(select(Staff).where(Staff.staff_no == "HR0001"))
        t_id = s.scalar(select(FaceTemplate.id).where(FaceTemplate.staff_id == obama.id))
    thumb = admin_client.get(f"/staff/photo/{t_id}?thumb=1")
    assert thumb.status_code == 200 and thumb.mimetype == "image/jpeg" and thumb.data[:2] == b"\xff\xd8"
    thumb.close()
    full = admin_client.get(f"/staff/photo/{t_id}?download=1")
    assert full.data == photos["obama.jpg"].read_bytes()
    assert "attachment" in full.headers["Content-Disposition"]
    full.close()

    # One entry per photo on the person's page, whatever the number of embedding models
    edit = admin_client.get(f"/staff/{obama.id}").get_data(as_text=True)
    assert edit.count("thumb=1") == 1

    gallery = app.extensions["daka_admin"].library.gallery
    assert len(gallery) == 2
    photos_dir = app.extensions["daka_admin"].instance.photos_dir
    assert len(list(photos_dir.iterdir())) == 2
    assert post(admin_client, f"/staff/{obama.id}/delete", page="/staff/").status_code == 302
    with sqlite_store.session() as s:
        assert s.get(Staff, obama.id) is None
        assert s.scalar(select(func.count(func.distinct(FaceTemplate.photo_file)))) == 1
    assert len(gallery) == 1 and len(list(photos_dir.iterdir())) == 1
    assert "delete_staff" in _actions(sqlite_store)


def test_zip_upload_gives_a_result_per_member(admin_client, photos):
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("人员/HR0100_王小明.jpg", photos["obama2.jpg"].read_bytes())
        z.writestr("readme.txt", b"hello")
    token = csrf_token(admin_client, "/staff/")
    r = send_files(admin_client, "POST", "/staff/upload", [(buf.getvalue(), "photos.zip")], field="files",
                   form={"csrf_token": token})
    html = r.get_data(as_text=True)
    assert "HR0100_王小明.jpg" in html and "readme.txt" in html
    assert html.count('class="ok"') == 1 and html.count('class="refused"') == 1


def test_edit_deactivate_and_reactivate(admin_client, sqlite_store):
    sid = add_staff(sqlite_store, "HR7", "赵六")
    r = post(admin_client, f"/staff/{sid}", {"name": "赵六六", "department": "生产部"}, page=f"/staff/{sid}")
    assert r.status_code == 302
    assert post(admin_client, f"/staff/{sid}", {"name": "", "department": ""}, page=f"/staff/{sid}").status_code == 400
    post(admin_client, f"/staff/{sid}/active", {"active": "0"}, page=f"/staff/{sid}")
    with sqlite_store.session() as s:
        st = s.get(Staff, sid)
        assert (st.name, st.department, st.active) == ("赵六六", "生产部", False)
    post(admin_client, f"/staff/{sid}/active", {"active": "1"}, page=f"/staff/{sid}")
    with sqlite_store.session() as s:
        assert s.get(Staff, sid).active
    assert {"edit_staff", "deactivate_staff", "activate_staff"} <= set(_actions(sqlite_store))


def test_script_and_sql_in_names_are_harmless(admin_client, sqlite_store):
    evil = "<script>alert(1)</script>"
    sid = add_staff(sqlite_store, "X1", evil, department="'; DROP TABLE staff; --")
    add_punch(sqlite_store, sid, "X1", evil, dt.datetime(2022, 4, 18, 9, 0))
    for url in ("/staff/", f"/staff/{sid}", "/attendance/?from=2022-04-18", "/attendance/summary?from=2022-04-18", "/"):
        html = admin_client.get(url).get_data(as_text=True)
        assert evil not in html and "&lt;script&gt;" in html, url
    r = admin_client.get("/staff/", query_string={"q": "' OR 1=1 --"})
    assert r.status_code == 200 and "&lt;script&gt;" not in r.get_data(as_text=True)
    r = admin_client.get("/staff/", query_string={"q": "%"})
    assert "&lt;script&gt;" not in r.get_data(as_text=True)  # % is a character, not a wildcard
    with sqlite_store.session() as s:
        assert s.scalar(select(func.count()).select_from(Staff)) == 1
    csv_body = admin_client.get("/attendance/export.csv?from=2022-04-18&view=summary").data.decode("utf-8-sig")
    assert "'=cmd" not in csv_body
    add_staff(sqlite_store, "X2", "=cmd|' /C calc'!A0")
    csv_body = admin_client.get("/attendance/export.csv?from=2022-04-18&view=summary").data.decode("utf-8-sig")
    assert "'=cmd|" in csv_body  # a formula is exported as text


@pytest.fixture
def week(sqlite_store):
    a = add_staff(sqlite_store, "HR01", "张三", department="生产部")
    b = add_staff(sqlite_store, "HR02", "李四", department="财务部")
    add_staff(sqlite_store, "HR03", "王五", department="生产部")
    add_punch(sqlite_store, a, "HR01", "张三", dt.datetime(2022, 4, 18, 8, 55))
    add_punch(sqlite_store, a, "HR01", "张三", dt.datetime(2022, 4, 18, 12, 0))
    add_punch(sqlite_store, a, "HR01", "张三", dt.datetime(2022, 4, 18, 18, 5))
    add_punch(sqlite_store, b, "HR02", "李四", dt.datetime(2022, 4, 18, 9, 1))
    add_punch(sqlite_store, b, "HR02", "李四", dt.datetime(2022, 4, 19, 0, 30))
    return a, b


def test_attendance_filters_and_pagination(admin_client, sqlite_store, week):
    html = admin_client.get("/attendance/?from=2022-04-18&to=2022-04-18").get_data(as_text=True)
    assert re.search(r'id="total">4<', html)
    html = admin_client.get("/attendance/?from=2022-04-18&to=2022-04-19&department=财务部").get_data(as_text=True)
    assert re.search(r'id="total">2<', html) and "张三" not in html.split('id="punches"')[1]
    html = admin_client.get("/attendance/?from=2022-04-18&to=2022-04-19&staff=张").get_data(as_text=True)
    assert re.search(r'id="total">3<', html)
    assert admin_client.get("/attendance/?from=2022-04-19&to=2022-04-18").status_code == 400
    assert admin_client.get("/attendance/?from=yesterday").status_code == 400
    sid = add_staff(sqlite_store, "HR99", "多")
    for m in range(60):
        add_punch(sqlite_store, sid, "HR99", "多", dt.datetime(2022, 4, 20, 10, m))
    first = admin_client.get("/attendance/?from=2022-04-20").get_data(as_text=True)
    second = admin_client.get("/attendance/?from=2022-04-20&page=2").get_data(as_text=True)
    rows = lambda h: h.split('id="punches"')[1].count("<tr>") - 1  # noqa: E731
    assert rows(first) == 50 and rows(second) == 10
    assert "2022-04-20 10:59:00" in second and "2022-04-20 10:59:00" not in first


def test_daily_summary_first_in_last_out_missing(admin_client, week):
    html = admin_client.get("/attendance/summary?from=2022-04-18&to=2022-04-18").get_data(as_text=True)
    table = html.split('id="summary"')[1]
    assert re.search(r"HR01</td><td>张三</td><td>生产部</td><td>08:55:00</td><td>18:05:00</td><td>3</td>", table)
    assert re.search(r"HR02</td><td>李四</td><td>财务部</td><td>09:01:00</td><td>—</td><td>1</td>", table)
    assert re.search(r'<tr class="missing"><td>2022-04-18</td><td>HR03</td><td>王五', table)


def test_csv_and_xlsx_exports(admin_client, week):
    from openpyxl import load_workbook

    r = admin_client.get("/attendance/export.csv?from=2022-04-18&to=2022-04-19")
    assert r.mimetype == "text/csv" and r.data.startswith("\ufeff".encode())
    lines = r.data.decode("utf-8-sig").splitlines()
    assert lines[0] == "工号,姓名,时间,来源,设备" and len(lines) == 6
    assert lines[1] == "HR01,张三,2022-04-18 08:55:00,face,test"
    r = admin_client.get("/attendance/export.xlsx?from=2022-04-18&to=2022-04-18&view=summary")
    ws = load_workbook(io.BytesIO(r.data)).active
    values = [[c.value for c in row] for row in ws.iter_rows()]
    assert values[0][:3] == ["日期", "工号", "姓名"]
    assert values[0][-1] == "设备"
    assert ["2022-04-18", "HR03", "王五", "生产部", None, None, 0, "缺卡", None] in values   # no punch: no device


def test_makeup_approved_becomes_a_punch_and_is_audited(admin_client, sqlite_store, app):
    sid = add_staff(sqlite_store, "HR05", "孙七")
    r = post(admin_client, "/makeup/", {"staff_no": "HR05", "time": "2022-04-18T08:58", "reason": "忘带工牌"},
             page="/makeup/")
    assert r.status_code == 302
    bad = post(admin_client, "/makeup/", {"staff_no": "NOPE", "time": "2022-04-18T08:58"}, page="/makeup/")
    assert bad.status_code == 400
    future = post(admin_client, "/makeup/", {"staff_no": "HR05", "time": "2099-01-01T08:00"}, page="/makeup/")
    assert future.status_code == 400
    with sqlite_store.session() as s:
        req = s.scalar(select(MakeupRequest))
    assert req.state == "pending" and req.reason == "忘带工牌"
    assert post(admin_client, f"/makeup/{req.id}/approve", page="/makeup/").status_code == 302
    assert post(admin_client, f"/makeup/{req.id}/approve", page="/makeup/").status_code == 409
    with sqlite_store.session() as s:
        punch = s.scalar(select(Punch).where(Punch.staff_id == sid))
        req = s.get(MakeupRequest, req.id)
    assert punch.source == "makeup" and req.state == "approved" and req.punch_id == punch.id
    assert punch.punched_at == dt.datetime(2022, 4, 18, 0, 58) and punch.local_date == dt.date(2022, 4, 18)
    assert {"makeup_create", "makeup_approve"} <= set(_actions(sqlite_store))
    # and the seed API sees it as a punch
    api = app.test_client()
    from tests.helpers.admin_app import api_token

    rows = api.post("/api/get_attend_infos", headers={"Authorization": f"Bearer {api_token(sqlite_store)}"},
                    json={"start_time": "2022-04-18 00:00:00", "end_time": "2022-04-18 23:59:59"}).get_json()
    from app.config import resolve_device_id

    assert rows == [{"name": "孙七", "staff_id": "HR05", "attend_time": "2022-04-18 08:58:00",
                     "device_id": resolve_device_id(app.extensions["daka_admin"].config)}]


def test_makeup_rejected_makes_no_punch(admin_client, sqlite_store):
    add_staff(sqlite_store, "HR06", "周八")
    post(admin_client, "/makeup/", {"staff_no": "HR06", "time": "2022-04-18T08:58"}, page="/makeup/")
    with sqlite_store.session() as s:
        req_id = s.scalar(select(MakeupRequest.id))
    post(admin_client, f"/makeup/{req_id}/reject", page="/makeup/")
    with sqlite_store.session() as s:
        assert s.get(MakeupRequest, req_id).state == "rejected"
        assert s.scalar(select(func.count()).select_from(Punch)) == 0


def test_settings_are_validated_stored_and_audited(admin_client, app):
    settings = app.extensions["daka_admin"].settings
    # the threshold shown is the one of the embedder in use (each has its own similarity scale)
    key = threshold_key(app.extensions["daka_admin"].config.vision.embedder)
    page = admin_client.get("/settings/").get_data(as_text=True)
    assert f'name="{key}"' in page
    assert key == "recognition.threshold" or 'name="recognition.threshold"' not in page
    form = {key: "0.95", "attendance.confirm_seconds": "12", "gpio.relay_mode": "off",
            "device.timezone": "Europe/Berlin", "device.language": "en", "push.secret": ""}
    assert post(admin_client, "/settings/", form, page="/settings/").status_code == 302
    assert settings.get(key) == 0.95 and settings.get("gpio.relay_mode") == "off"
    assert settings.get("attendance.confirm_seconds") == 12 and settings.get("device.timezone") == "Europe/Berlin"
    r = post(admin_client, "/settings/", {key: "1.5", "device.timezone": "Mars/Olympus"},
             page="/settings/")
    page = r.get_data(as_text=True)
    # the page is in English now (device.language = en above): the sentences too
    assert r.status_code == 400 and "Please enter a number from" in page
    assert "Please choose a valid time zone, such as Asia/Shanghai." in page
    assert 'value="1.5"' in page and "out of range" not in page
    assert settings.get(key) == 0.95 and settings.get("device.timezone") == "Europe/Berlin"
    post(admin_client, "/settings/", {"push.secret": "s3cret"}, page="/settings/")
    assert settings.get("push.secret") == "s3cret"
    assert "s3cret" not in admin_client.get("/settings/").get_data(as_text=True)


def test_the_settings_page_is_the_registry(admin_client, app):
    """Every registered key, grouped, nothing else (of the decision rules, only the embedder in
    use's); a wrong value is shown again as typed, beside its error."""
    from admin.settings.routes import offered
    from app.services.settings import REGISTRY

    embedder = app.extensions["daka_admin"].config.vision.embedder
    expected = {k for k, s in REGISTRY.items() if s.embedder is None or s.embedder[0] == embedder}
    assert offered(embedder).keys() == expected and threshold_key(embedder) in expected
    assert len(expected) == len(REGISTRY) - 4   # the other two embedders' threshold and margin
    page = admin_client.get("/settings/").get_data(as_text=True)
    start = page.index('id="settings-form"')
    form = page[start:page.index("</form>", start)]
    shown = re.findall(r'name="([a-z_]+\.[a-z_]+)"', form)
    assert sorted(shown) == sorted(expected) and len(shown) == len(set(shown))
    for key in expected:
        assert REGISTRY[key].text("zh_CN") in page and REGISTRY[key].group_text("zh_CN") in page
    assert page.count("<fieldset") == len({s.group for s in REGISTRY.values()})
    r = post(admin_client, "/settings/", {"attendance.dedupe_seconds": "12x", "device.name": "前门"},
             page="/settings/")
    html = r.get_data(as_text=True)
    assert r.status_code == 400 and 'value="12x"' in html and "请输入 0 至 86400 之间的整数。" in html
    assert "expected an integer" not in html  # daka.toml's wording stays in the config check


def test_the_settings_page_in_english_and_a_restart_setting(admin_client, app, monkeypatch):
    """Labels and help in the page's language, from the registry; a key that applies at the next
    start says so, and its value is stored all the same."""
    import app.services.settings as registry

    monkeypatch.setattr(registry, "REGISTRY", dict(registry.REGISTRY))
    monkeypatch.setattr("admin.settings.routes.REGISTRY", registry.REGISTRY)
    registry.register("admin.threads", group=("系统", "System"), label=("网页服务线程", "Web server threads"),
                      help_zh="管理网页服务的线程数。", apply=registry.RESTART)
    settings = app.extensions["daka_admin"].settings
    monkeypatch.setattr(settings, "registry", registry.REGISTRY)
    with admin_client.session_transaction() as session:
        session["lang"] = "en"
    page = admin_client.get("/settings/").get_data(as_text=True)
    assert "Web server threads" in page and "Applies at the next restart" in page
    embedder = app.extensions["daka_admin"].config.vision.embedder
    assert registry.REGISTRY[threshold_key(embedder)].text("en") in page and "Dedupe window (s)" in page
    assert registry.REGISTRY["device.name"].spec.doc in page   # the English help is the schema's doc
    start = page.index('id="settings-form"')
    form = page[start:page.index("</form>", start)]
    assert re.findall(r"[\u4e00-\u9fff]+", form.replace("中文", "")) == []
    assert page.count("Applies at the next restart") == 1
    assert post(admin_client, "/settings/", {"admin.threads": "4"}, page="/settings/").status_code == 302
    assert settings.get("admin.threads") == 4


def test_system_time_logs_tokens(admin_client, fake_clock, app, instance):
    r = post(admin_client, "/system/time", {"date": "2026-01-02", "time": "03:04:05"}, page="/system/")
    assert r.status_code == 302
    assert (fake_clock.parent / "set-time.log").read_text().splitlines() == ["2026-01-02 03:04:05"]
    r = post(admin_client, "/system/time", {"date": "2026-01-02 && reboot", "time": "03:04:05"}, page="/system/")
    assert r.status_code == 303
    assert (fake_clock.parent / "set-time.log").read_text().splitlines() == ["2026-01-02 03:04:05"]

    (instance.logs_dir / "daka.log").write_text("第一行\nlast line\n", encoding="utf-8")
    page = admin_client.get("/system/").get_data(as_text=True)
    assert "last line" in page
    log = admin_client.get("/system/logs/daka.log")
    assert log.data.decode() == "第一行\nlast line\n"
    log.close()
    assert admin_client.get("/system/logs/..%2Fdaka.toml").status_code == 404
    assert admin_client.get("/system/logs/daka.toml").status_code == 404

    page = post(admin_client, "/system/tokens", {"name": "工资系统", "role": "viewer"}, page="/system/")
    page = page.get_data(as_text=True)  # the token is in the answer to the creation only
    token = re.search(r'id="new-token">([^<]+)<', page).group(1)
    assert 'id="new-token"' not in admin_client.get("/system/").get_data(as_text=True)  # shown once
    api = app.test_client()
    assert api.get("/api/get_face_libraries", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    token_id = re.search(r'/system/tokens/(\d+)/revoke', page).group(1)
    post(admin_client, f"/system/tokens/{token_id}/revoke", page="/system/")
    assert api.get("/api/get_face_libraries", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_backup_and_restore(admin_client, sqlite_store, tmp_path):
    add_staff(sqlite_store, "B1", "备份前")
    r = admin_client.get("/system/backup")
    assert r.status_code == 200 and r.data.startswith(b"SQLite format 3\x00")
    saved = tmp_path / "backup.sqlite3"
    saved.write_bytes(r.data)
    r.close()
    with sqlite3.connect(saved) as con:
        assert con.execute("SELECT name FROM staff").fetchall() == [("备份前",)]
    add_staff(sqlite_store, "B2", "备份后")
    token = csrf_token(admin_client, "/system/")
    bad = send_files(admin_client, "POST", "/system/restore", [(b"garbage" * 10, "x.sqlite3")], field="file",
                     form={"csrf_token": token})
    assert bad.status_code == 303
    with sqlite_store.session() as s:
        assert s.scalar(select(func.count()).select_from(Staff)) == 2  # nothing lost
    ok = send_files(admin_client, "POST", "/system/restore", [(saved.read_bytes(), "x.sqlite3")], field="file",
                    form={"csrf_token": token})
    assert ok.status_code == 302
    with sqlite_store.session() as s:
        assert list(s.scalars(select(Staff.name))) == ["备份前"]


def test_live_feed_reads_new_punches_from_the_database(admin_client, sqlite_store):
    sid = add_staff(sqlite_store, "HR11", "吴九")
    first = add_punch(sqlite_store, sid, "HR11", "吴九", dt.datetime(2022, 4, 18, 9, 0))
    second = add_punch(sqlite_store, sid, "HR11", "吴九", dt.datetime(2022, 4, 18, 9, 5))
    body = admin_client.get(f"/dashboard/events?after={first}").get_data(as_text=True)
    assert f"id: {second}\nevent: punch\n" in body and "2022-04-18 09:05:00" in body and "09:00:00" not in body
    body = admin_client.get("/dashboard/events", headers={"Last-Event-ID": str(second)}).get_data(as_text=True)
    assert "event: punch" not in body


def test_dashboard_shows_counts_and_the_terminal_status(admin_config, instance, sqlite_store, users):
    status = {"camera": {"state": "running", "fps": 14.5}, "last_recognition_utc": "2026-11-24T08:00:00+00:00",
              "journal_pending": 3, "push_pending": 7, "disk_free_bytes": 12_300_000_000}
    app = build_app(admin_config(), instance, sqlite_store, status_provider=lambda: status)
    c = app.test_client()
    login(c, "admin", "correct horse 1")

    today = dt.datetime.now(zoneinfo.ZoneInfo("Asia/Shanghai")).replace(tzinfo=None, microsecond=0)
    sid = add_staff(sqlite_store, "HR12", "郑十")
    add_punch(sqlite_store, sid, "HR12", "郑十", today)
    html = c.get("/").get_data(as_text=True)
    assert "running · 帧率 14.5" in html and "12.3 GB" in html and "<dd>7</dd>" in html and "<dd>3</dd>" in html
    assert 'id="punches-today">1<' in html and "郑十" in html
    data = c.get("/dashboard/status.json").get_json()
    assert data["status"]["camera"]["fps"] == 14.5 and data["counts"]["people_today"] == 1


def test_audit_log_page_lists_changes(admin_client, sqlite_store):
    post(admin_client, "/settings/", {"device.name": "大门"}, page="/settings/")
    html = admin_client.get("/system/audit").get_data(as_text=True)
    assert "setting" in html and "device.name" in html and "大门" in html


def test_docs_page_and_openapi_are_served_locally(admin_client):
    html = admin_client.get("/docs").get_data(as_text=True)
    assert re.findall(r'(?:src|href)="(https?:)?//', html) == []
    assert admin_client.get("/docs/openapi.json").get_json()["openapi"].startswith("3.")
    js = admin_client.get("/static/app.js")
    assert b"EventSource" in js.data
    js.close()


def test_add_a_person_without_photos(admin_client, sqlite_store):
    r = post(admin_client, "/staff/new", {"staff_no": "HR0200", "name": "陈一", "department": "品质部"}, page="/staff/")
    assert r.status_code == 302 and "/staff/" in r.location
    with sqlite_store.session() as s:
        st = s.scalar(select(Staff).where(Staff.staff_no == "HR0200"))
    assert (st.name, st.department, st.active) == ("陈一", "品质部", True)
    again = post(admin_client, "/staff/new", {"staff_no": "HR0200", "name": "别人"}, page="/staff/")
    bad = post(admin_client, "/staff/new", {"staff_no": "HR 0201/..", "name": "坏"}, page="/staff/")
    assert again.status_code == 303 and bad.status_code == 303
    with sqlite_store.session() as s:
        assert s.scalar(select(func.count()).select_from(Staff)) == 1
    assert "create_staff" in _actions(sqlite_store)


def test_punch_export_streams_every_row_in_keyset_batches(admin_client, sqlite_store, app):
    from app.attendance import queries

    sid = add_staff(sqlite_store, "EX01", "批量")
    for m in range(23):  # several at the same instant: the keyset needs the id to break ties
        add_punch(sqlite_store, sid, "EX01", "批量", dt.datetime(2022, 5, 2, 9, m // 3))
    f = queries.PunchFilter.days(dt.date(2022, 5, 2), dt.date(2022, 5, 2))
    with sqlite_store.session() as s:
        expected = [(p.id, p.local_date, p.punched_at, p.staff_no, p.name, p.source, p.device_id)
                    for p in s.scalars(select(Punch).order_by(Punch.punched_at, Punch.id))]
    assert queries.listed(sqlite_store, f) == expected
    for batch in (1, 3, 5, 23, 100):
        assert list(queries.iter_listed(sqlite_store, f, batch=batch)) == expected, batch
    r = admin_client.get("/attendance/export.csv?from=2022-05-02")
    assert r.is_streamed
    lines = r.get_data().decode("utf-8-sig").splitlines()
    assert len(lines) == 24 and lines[1].startswith("EX01,批量,2022-05-02 09:00:00,")
    assert lines[-1].startswith("EX01,批量,2022-05-02 09:07:00,")


def test_a_punch_stays_on_its_stored_local_date_after_a_zone_change(admin_client, sqlite_store):
    """Made at 23:30 on 2 May in zone A (UTC), listed under 2 May after the terminal moved to zone B
    (Asia/Shanghai, 8 hours ahead, where that instant is 07:30 on 3 May): the day filter, the daily
    summary and both exports go by the date the punch has at the terminal, not by today's zone."""
    sid = add_staff(sqlite_store, "TZ01", "跨时区")
    add_punch(sqlite_store, sid, "TZ01", "跨时区", dt.datetime(2022, 5, 2, 23, 30), tz="UTC")
    listed = admin_client.get("/attendance/?from=2022-05-02").get_data(as_text=True)
    assert "TZ01" in listed and '<span id="total">1</span>' in listed
    assert "2022-05-03 07:30:00" in listed   # the instant, shown in the zone of now
    assert "TZ01" not in admin_client.get("/attendance/?from=2022-05-03").get_data(as_text=True)
    lines = admin_client.get("/attendance/export.csv?from=2022-05-02").get_data().decode("utf-8-sig").splitlines()
    assert len(lines) == 2 and lines[1].startswith("TZ01,跨时区,")
    assert len(admin_client.get("/attendance/export.csv?from=2022-05-03").get_data().decode("utf-8-sig")
               .splitlines()) == 1
    from openpyxl import load_workbook
    sheet = load_workbook(io.BytesIO(admin_client.get("/attendance/export.xlsx?from=2022-05-02").data)).active
    assert [row[0] for row in sheet.iter_rows(values_only=True)][1:] == ["TZ01"]
    summary = admin_client.get("/attendance/export.csv?view=summary&from=2022-05-02&staff=TZ01").get_data()
    assert summary.decode("utf-8-sig").splitlines()[1].split(",")[-3:] == ["1", "单次", "test"]


def test_the_list_and_exports_filter_by_source_and_device(admin_client, sqlite_store):
    sid = add_staff(sqlite_store, "SD01", "来源")
    add_punch(sqlite_store, sid, "SD01", "来源", dt.datetime(2022, 5, 2, 8, 0))
    add_punch(sqlite_store, sid, "SD01", "来源", dt.datetime(2022, 5, 2, 18, 0), source="makeup")
    with sqlite_store.session() as s:
        s.scalars(select(Punch).where(Punch.source == "face")).one().device_id = "gate-2"

    def exported(query):
        text = admin_client.get("/attendance/export.csv?from=2022-05-02" + query).get_data().decode("utf-8-sig")
        return [line.split(",")[2:] for line in text.splitlines()[1:]]
    assert exported("") == [["2022-05-02 08:00:00", "face", "gate-2"], ["2022-05-02 18:00:00", "makeup", "test"]]
    assert exported("&source=makeup") == [["2022-05-02 18:00:00", "makeup", "test"]]
    assert exported("&device=gate-2") == [["2022-05-02 08:00:00", "face", "gate-2"]]
    assert exported("&device=gate-2&source=makeup") == []
    page = admin_client.get("/attendance/?from=2022-05-02&source=makeup").get_data(as_text=True)
    assert '<span id="total">1</span>' in page and 'value="makeup" selected' in page
    summary = admin_client.get("/attendance/export.csv?view=summary&from=2022-05-02&staff=SD01&device=gate-2")
    # the count is the device's punches; the devices column names every device of that day (issue 20)
    assert summary.get_data().decode("utf-8-sig").splitlines()[1].split(",")[-3:] == ["1", "单次", "gate-2、test"]

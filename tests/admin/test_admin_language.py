"""The admin speaks the user's language (issue 25): every error a user can cause is a sentence in
their language, on the page it happened, in an error style, with what they typed kept; error
pages are the admin's own; stored codes, host names and UTC times never reach a page."""

from __future__ import annotations

import datetime as dt
import html
import json
import re

import pytest
from flask import abort
from sqlalchemy import select

from app.store import AuditEntry, FaceTemplate
from tests.helpers.admin_app import (ADMIN_PW, VIEWER_PW, add_punch, add_staff, api_token, build_app, csrf_token,
                                     login, post, send_files)

# Werkzeug's and Flask-WTF's own English texts: none may reach a page
WERKZEUG_TEXTS = ("The requested URL was not found", "You don't have the permission", "The method is not allowed",
                  "The browser (or proxy) sent a request", "The data value transmitted exceeds",
                  "The server encountered an internal error", "Too many requests", "CSRF", "Not Found",
                  "Forbidden", "Internal Server Error", "Request Entity Too Large")


def _error_boxes(page: str) -> list[str]:
    return [html.unescape(m) for m in re.findall(r'<p class="flash-error"[^>]*>([^<]*)</p>', page)]


def _success_boxes(page: str) -> list[str]:
    return [html.unescape(m) for m in re.findall(r'<p class="flash">([^<]*)</p>', page)]


def _actions(store) -> list[tuple[str, str, dict]]:
    with store.session() as s:
        return [(e.actor, e.action, json.loads(e.detail or "{}"))
                for e in s.scalars(select(AuditEntry).order_by(AuditEntry.id))]


def _english(client) -> None:
    post(client, "/language", {"lang": "en", "next": "/"})


# -- errors and messages ----------------------------------------------------------------------------


def test_makeup_errors_are_sentences_in_the_page_language_with_the_typed_values(admin_client, sqlite_store):
    add_staff(sqlite_store, "E001", "张三")
    r = post(admin_client, "/makeup/", {"staff_no": "HR9999", "time": "2022-04-18T09:00", "reason": "忘带工牌"},
             page="/makeup/")
    page = r.get_data(as_text=True)
    assert r.status_code == 400 and _error_boxes(page) == ["没有工号为 HR9999 的人员，请检查工号"]
    assert 'value="HR9999"' in page and 'value="2022-04-18T09:00"' in page and 'value="忘带工牌"' in page
    assert "no staff member" not in page
    future = (dt.datetime.now() + dt.timedelta(days=3)).strftime("%Y-%m-%dT%H:%M")
    r = post(admin_client, "/makeup/", {"staff_no": "E001", "time": future}, page="/makeup/")
    assert r.status_code == 400 and _error_boxes(r.get_data(as_text=True)) == ["补卡时间不能晚于现在"]
    _english(admin_client)
    r = post(admin_client, "/makeup/", {"staff_no": "HR9999", "time": "2022-04-18T09:00"}, page="/makeup/")
    assert _error_boxes(r.get_data(as_text=True)) == ["No one has staff no HR9999; please check it"]


def test_deciding_a_decided_makeup_says_so_on_the_page(admin_client, sqlite_store):
    add_staff(sqlite_store, "E001", "张三")
    post(admin_client, "/makeup/", {"staff_no": "E001", "time": "2022-04-18T09:00"}, page="/makeup/")
    assert post(admin_client, "/makeup/1/approve", page="/makeup/").status_code == 302
    r = post(admin_client, "/makeup/1/reject", page="/makeup/")
    assert r.status_code == 409 and _error_boxes(r.get_data(as_text=True)) == ["这条补卡申请已处理过，无需再次处理"]


@pytest.mark.parametrize("path", ["/attendance/", "/attendance/summary"])
@pytest.mark.parametrize("first,last,says", [
    ("2022-04-19", "2022-04-18", "结束日期早于开始日期，请把开始日期改到结束日期之前。"),
    ("2021-01-01", "2022-04-18", "一次最多查询一年，请缩短日期范围（可分几次查询或导出）。"),
])
def test_a_reversed_or_long_range_is_a_sentence_above_the_filter(admin_client, path, first, last, says):
    r = admin_client.get(f"{path}?from={first}&to={last}&staff=张")
    page = r.get_data(as_text=True)
    assert r.status_code == 400 and _error_boxes(page) == [says]
    # the page itself, its filter holding what was typed: not a bare "400"
    assert 'id="attendance-filter"' in page and f'value="{first}"' in page and f'value="{last}"' in page
    assert 'value="张"' in page


def _app_with_failing_routes(admin_config, instance, sqlite_store, **config):
    app = build_app(admin_config(**config), instance, sqlite_store)
    app.config["PROPAGATE_EXCEPTIONS"] = False

    def boom():
        raise RuntimeError("boom: a bug")

    def busy():
        abort(429)
    app.add_url_rule("/boom", "boom", boom)
    app.add_url_rule("/busy", "busy", busy)
    return app


@pytest.mark.parametrize("lang", ["zh_CN", "en"])
def test_error_pages_are_the_admins_own_in_the_users_language(admin_config, instance, sqlite_store, users, lang):
    app = _app_with_failing_routes(admin_config, instance, sqlite_store, admin={"max_upload_mb": 1})
    admin, viewer = app.test_client(), app.test_client()
    login(admin, "admin", ADMIN_PW)
    login(viewer, "hr", VIEWER_PW)
    for c in (admin, viewer):
        post(c, "/language", {"lang": lang, "next": "/"})
    zh = lang == "zh_CN"
    token = csrf_token(admin, "/staff/")
    answers = {
        404: admin.get("/no/such/page"),
        403: post(viewer, "/staff/new", {"staff_no": "E9", "name": "王五"}, page="/staff/"),
        405: admin.post("/health"),
        400: admin.post("/staff/new", data={"staff_no": "E9", "name": "王五"}),  # no CSRF token
        413: send_files(admin, "POST", "/staff/upload", [(b"x" * (2 * 1024 * 1024), "E1_张三.jpg")], field="files",
                        form={"csrf_token": token}),
        429: admin.get("/busy"),
        500: admin.get("/boom"),
    }
    expected = {404: ("未找到", "Not found"), 403: ("没有权限", "Not allowed"), 405: ("请求有误", "Bad request"),
                400: ("页面已过期", "The page has expired"), 413: ("文件过大", "Too large"),
                429: ("操作过于频繁", "Too many attempts"), 500: ("出错了", "Something went wrong")}
    for code, r in answers.items():
        page = r.get_data(as_text=True)
        assert r.status_code == code and r.mimetype == "text/html", code
        title = expected[code][0 if zh else 1]
        assert f"<h1>{title}</h1>" in page and 'id="error-message"' in page, (code, page)
        assert not [t for t in WERKZEUG_TEXTS if t in page], (code, page)
        assert "boom: a bug" not in page
        if zh:  # nothing English on a Chinese page but the language switch and the code's number
            message = re.search(r'id="error-message">([^<]*)<', page).group(1)
            assert not re.search(r"[A-Za-z]{3,}", message.replace("MB", "")), (code, message)
    assert ("1 MB" in answers[413].get_data(as_text=True))
    # the API keeps its JSON answers
    r = admin.get("/api/no_such_route")
    assert r.status_code == 404 and r.is_json and r.get_json()["success"] is False


def test_settings_errors_are_sentences_and_keep_the_typed_value(admin_client, app):
    from app.config import ConfigError, check_setting

    r = post(admin_client, "/settings/", {"attendance.dedupe_seconds": '"30"', "device.name": "前门"},
             page="/settings/")
    page = r.get_data(as_text=True)
    assert r.status_code == 400
    assert "请输入 0 至 86400 之间的整数。" in page and "remove the quotes" not in page and "expected" not in page
    assert 'value="&#34;30&#34;"' in page or 'value="&quot;30&quot;"' in page
    assert _error_boxes(page) == ["有 1 项没有保存，请按红字提示修改后再保存（其余项已保存）。"]
    assert app.extensions["daka_admin"].settings.get("device.name") == "前门"  # the good field was saved
    r = post(admin_client, "/settings/", {"push.webhook_url": "ftp://hr.example"}, page="/settings/")
    page = r.get_data(as_text=True)
    assert "请填写以 http:// 或 https:// 开头的地址，或留空表示不推送。" in page and 'value="ftp://hr.example"' in page
    # the config file's own check keeps its daka.toml wording (python -m app.config check)
    with pytest.raises(ConfigError) as refused:
        check_setting("attendance.dedupe_seconds", '"30"')
    assert "attendance.dedupe_seconds" in str(refused.value)


def test_a_failed_time_change_is_an_error_audited_with_its_detail(admin_config, instance, sqlite_store, users):
    app = build_app(admin_config(admin={"set_time_command": "/nonexistent/daka-set-time"}), instance, sqlite_store)
    c = app.test_client()
    login(c, "admin", ADMIN_PW)
    r = post(c, "/system/time", {"date": "2026-01-02", "time": "03:04:05"}, page="/system/")
    assert r.status_code == 303
    page = c.get("/system/").get_data(as_text=True)
    errors = _error_boxes(page)
    assert len(errors) == 1 and errors[0].startswith("终端没有改变时间") and _success_boxes(page) == []
    assert "Errno" not in errors[0] and "Errno 2" in page  # the detail is folded under the sentence
    r = post(c, "/system/time", {"date": "2026-13-45", "time": "03:04:05"}, page="/system/")
    errors = _error_boxes(c.get("/system/").get_data(as_text=True))
    assert errors == ["日期或时间无效：日期应为 2000 至 2099 年的真实日期，时间为 时:分:秒。"]
    failed = [(a, d) for actor, a, d in _actions(sqlite_store) if a == "set_time_failed"]
    assert [d["date"] for _a, d in failed] == ["2026-01-02", "2026-13-45"]
    assert "Errno 2" in failed[0][1]["error"]


def test_a_bad_backup_is_an_error_audited_and_restore_asks_first(admin_client, sqlite_store):
    page = admin_client.get("/system/").get_data(as_text=True)
    form = re.search(r'<form[^>]*id="restore-form"[^>]*>', page, re.S).group(0)
    assert "data-confirm=" in form and "确定恢复" in form
    token = csrf_token(admin_client, "/system/")
    r = send_files(admin_client, "POST", "/system/restore", [(b"not a database", "daka.sqlite3")], field="file",
                   form={"csrf_token": token})
    assert r.status_code == 303
    page = admin_client.get("/system/").get_data(as_text=True)
    assert _error_boxes(page) == ["不是有效的备份文件，当前数据未改动。请选择从本系统“下载备份”得到的文件。"]
    assert _success_boxes(page) == []
    (failed,) = [(actor, d) for actor, a, d in _actions(sqlite_store) if a == "restore_failed"]
    assert failed[0] == "admin" and failed[1]["file"] == "daka.sqlite3" and failed[1]["error"]


def test_a_failed_login_is_audited(app, users, sqlite_store):
    c = app.test_client()
    assert login(c, "admin", "wrong password").status_code == 401
    assert login(c, "nobody", "wrong password").status_code == 401
    failed = [(actor, d["username"]) for actor, a, d in _actions(sqlite_store) if a == "login_failed"]
    assert failed == [("anonymous", "admin"), ("anonymous", "nobody")]


def test_the_typed_user_name_stays_after_a_failed_login(app, users):
    c = app.test_client()
    page = login(c, "admin", "wrong password").get_data(as_text=True)
    assert re.search(r'id="username"[^>]*value="admin"', page)


# -- values and times ----------------------------------------------------------------------------------


@pytest.fixture
def named_terminal(admin_config, instance, sqlite_store, users):
    """A terminal whose device id is "test" (the helpers' punches) and whose admin set a name."""
    app = build_app(admin_config(device={"id": "test", "timezone": "Asia/Shanghai"}), instance, sqlite_store)
    c = app.test_client()
    login(c, "admin", ADMIN_PW)
    assert post(c, "/settings/", {"device.name": "前门一号"}, page="/settings/").status_code == 302
    return app, c


def test_sources_and_devices_are_named_not_coded(named_terminal, sqlite_store):
    app, c = named_terminal
    sid = add_staff(sqlite_store, "E001", "张三")
    add_punch(sqlite_store, sid, "E001", "张三", dt.datetime(2022, 4, 18, 8, 55))
    add_punch(sqlite_store, sid, "E001", "张三", dt.datetime(2022, 4, 18, 18, 1), source="makeup")
    page = c.get("/attendance/?from=2022-04-18").get_data(as_text=True)
    rows = re.findall(r"<tr><td>2022-04-18[^\n]*</tr>", page)
    assert len(rows) == 2 and all("前门一号" in r and ">test<" not in r for r in rows)
    assert "时间均为终端时区 (Asia/Shanghai)" in page
    assert "(Asia/Shanghai)" in c.get("/makeup/").get_data(as_text=True)
    assert "<td>人脸识别</td>" in rows[0] and "<td>补卡</td>" in rows[1]
    assert ">face<" not in page and ">makeup<" not in page
    assert '<option value="face" >人脸识别</option>' in page or 'value="face"' in page and ">人脸识别</option>" in page
    dashboard = c.get("/").get_data(as_text=True)
    assert "<td>人脸识别</td>" in dashboard and ">face<" not in dashboard
    assert "终端进程未提供" not in dashboard


def test_the_dashboard_shows_the_last_recognition_in_the_terminals_zone(named_terminal, sqlite_store):
    app, c = named_terminal
    sid = add_staff(sqlite_store, "E001", "张三")
    add_punch(sqlite_store, sid, "E001", "张三", dt.datetime(2022, 4, 18, 8, 55))  # Shanghai time
    page = c.get("/").get_data(as_text=True)
    shown = re.search(r'id="last-recognition">([^<]*)<span class="small">\(([^)]*)\)', page)
    assert shown.group(1).strip() == "2022-04-18 08:55:00" and shown.group(2) == "Asia/Shanghai"
    assert "+00:00" not in page and "T00:55" not in page


def test_audit_rows_are_readable_in_the_terminals_zone(named_terminal, sqlite_store):
    app, c = named_terminal
    sid = add_staff(sqlite_store, "E001", "张三")
    post(c, f"/staff/{sid}", {"name": "张三丰", "department": "仓库"}, page=f"/staff/{sid}")
    with sqlite_store.session() as s:
        sqlite_store.audit(s, "library", "reindex", updated=3, failed=0, model="m")
        sqlite_store.audit(s, "token:hr-system", "set_time", date="2026-01-02", time="03:04:05", output="")
    post(c, "/system/tokens", {"name": "hr", "role": "viewer"}, page="/system/")
    with sqlite_store.session() as s:
        newest = s.scalar(select(AuditEntry).order_by(AuditEntry.id.desc()))
    local = newest.at.replace(tzinfo=dt.UTC).astimezone(dt.timezone(dt.timedelta(hours=8)))
    page = c.get("/system/audit").get_data(as_text=True)
    assert "(Asia/Shanghai)" in page and "(UTC)" not in page
    assert local.strftime("%Y-%m-%d %H:%M:%S") in page
    for raw in ("edit_staff", "create_token", "{'name'", "old=", "role=viewer"):
        assert raw not in page, raw
    assert "修改人员" in page and "创建 API 令牌" in page and "修改设置" in page
    assert "原值：名称：张三，部门：" in page and "新值：名称：张三丰，部门：仓库" in page
    assert "角色：只读" in page
    assert "<td>人脸库</td><td>重算人脸模板</td>" in page and "<td>API 令牌 hr-system</td><td>设置系统时间</td>" in page
    system = c.get("/system/").get_data(as_text=True)
    token_row = re.search(r"<tr><td>hr</td>.*?</tr>", system, re.S).group(0)
    assert "<td>只读</td>" in token_row and "UTC" not in token_row and local.strftime("%Y-%m-%d %H:%M") in token_row
    assert "<td>管理员</td>" in system and "<td>admin</td><td>admin</td>" not in system


def test_log_lines_are_shown_in_the_terminals_zone(named_terminal, instance):
    app, c = named_terminal
    instance.logs_dir.mkdir(parents=True, exist_ok=True)
    (instance.logs_dir / "daka.log").write_text(
        "2026-12-04 23:30:00.123+00:00 | INFO     | app.x:f:1 | started\n", encoding="utf-8")
    page = c.get("/system/").get_data(as_text=True)
    tail = re.search(r'<pre class="log" id="log-tail">([^<]*)</pre>', page).group(1)
    assert tail.startswith("2026-12-05 07:30:00.123 | INFO") and "(Asia/Shanghai)" in page


# -- the API -------------------------------------------------------------------------------------------


def test_a_partly_enrolled_batch_says_partial(app, sqlite_store, photos):
    token = api_token(sqlite_store)
    r = send_files(app.test_client(), "PUT", "/api/add_face_libs",
                   [(photos["obama.jpg"].read_bytes(), "HR0001_奥巴马.jpg"), (b"not an image", "HR0002_坏.jpg")],
                   headers={"Authorization": f"Bearer {token}"})
    body = r.get_json()
    assert r.status_code == 200 and body["success"] is False and body["outcome"] == "partial"
    assert (body["enrolled"], body["refused"]) == (1, 1)
    r = send_files(app.test_client(), "PUT", "/api/add_face_libs", [(b"not an image", "HR0003_坏.jpg")],
                   headers={"Authorization": f"Bearer {token}"})
    assert r.get_json()["outcome"] == "none_enrolled"


def test_the_seed_backends_route_spellings_answer_as_the_documented_ones(app, sqlite_store, instance):
    sid = add_staff(sqlite_store, "HR05", "孙七")
    add_punch(sqlite_store, sid, "HR05", "孙七", dt.datetime(2022, 4, 18, 8, 58))
    headers = {"Authorization": f"Bearer {api_token(sqlite_store, role='viewer')}"}
    c = app.test_client()
    body = {"start_time": "2022-04-18 00:00:00", "end_time": "2022-04-18 23:59:59"}
    documented = c.post("/api/get_attend_infos", json=body, headers=headers)
    alias = c.post("/api/get_attended_infos", json=body, headers=headers)
    assert alias.status_code == 200 and alias.get_json() == documented.get_json() != []
    for path in ("/api/download_facelib", "/api/down_facelib"):
        r = c.get(path + "?staff_id=HR05", headers=headers)
        assert r.status_code == 404 and r.get_json()["success"] is False  # no photo: the same answer
    assert c.get("/api/down_facelib?staff_id=HR05").status_code == 401  # and the same protection


# -- first run -----------------------------------------------------------------------------------------


def test_after_setup_the_login_page_greets_and_fills_in_the_name(app, instance):
    c = app.test_client()
    page = c.get("/setup?lang=en").get_data(as_text=True)
    assert "First run" in page or "administrator" in page.lower()
    assert 'href="?lang=zh_CN"' in page and 'href="?lang=en"' in page
    code = (instance.root / "setup_code.txt").read_text().strip().split()[-1]
    token = csrf_token(c, "/setup")
    r = c.post("/setup", data={"setup_code": code, "username": "boss", "password": ADMIN_PW, "confirm": ADMIN_PW,
                               "csrf_token": token})
    assert r.status_code == 302 and r.location.endswith("/login")
    page = c.get("/login").get_data(as_text=True)
    assert _success_boxes(page) == ["The administrator account boss is ready: sign in with the password you just set."]
    assert re.search(r'id="username"[^>]*value="boss"', page)


# -- staff edit ----------------------------------------------------------------------------------------


def test_disable_looks_apart_from_save_and_deleting_a_photo_asks(admin_client, sqlite_store):
    sid = add_staff(sqlite_store, "E001", "张三")
    with sqlite_store.session() as s:
        s.add(FaceTemplate(staff_id=sid, descriptor=b"\0" * 512, model_id="m", photo_file="0123abcd.jpg",
                           photo_sha256="0" * 64, original_name="E001_张三.jpg"))
    page = admin_client.get(f"/staff/{sid}").get_data(as_text=True)
    assert re.search(r'<button class="secondary" id="staff-active">停用</button>', page)
    delete_photo = re.search(r'<form[^>]*class="inline photo-delete"[^>]*>', page, re.S).group(0)
    assert 'data-confirm="确定删除这张照片？它的人脸模板将一并删除。"' in delete_photo


# -- uploads -------------------------------------------------------------------------------------------


def _blurred(path) -> bytes:
    import cv2

    ok, data = cv2.imencode(".jpg", cv2.GaussianBlur(cv2.imread(str(path)), (0, 0), 8))
    assert ok
    return data.tobytes()


def _upload(client, files, **form):
    token = csrf_token(client, "/staff/")
    return send_files(client, "POST", "/staff/upload", files, field="files", form={"csrf_token": token, **form})


def test_upload_refusals_speak_to_the_person_choosing_photos_failures_first(admin_client, photos):
    r = _upload(admin_client, [(photos["biden.jpg"].read_bytes(), "HR0002_拜登.jpg"),
                               (_blurred(photos["obama.jpg"]), "HR0001_奥巴马.jpg"),
                               (b"not an image", "HR0003_坏文件.jpg")])
    page = r.get_data(as_text=True)
    rows = re.findall(r'<tr class="(ok|refused)[^"]*"><td>([^<]*)</td>', page)
    assert rows == [("refused", "HR0001_奥巴马.jpg"), ("refused", "HR0003_坏文件.jpg"), ("ok", "HR0002_拜登.jpg")]
    reasons = re.findall(r'<td class="wrap">([^<]*)', page)
    assert reasons == ["照片模糊，请换一张清晰的正面照", "无法读取这个文件，请上传 JPG 或 PNG 照片", "已登记"]
    for kiosk_or_detail in ("请保持不动", "sharpness", "brightness", "face ", "px"):
        assert kiosk_or_detail not in page, kiosk_or_detail
    assert "成功 1 张，失败 2 张" in page


def test_an_admin_may_enrol_a_doubted_photo_marked_and_audited(admin_client, photos, sqlite_store):
    blurry = _blurred(photos["obama.jpg"])
    page = admin_client.get("/staff/").get_data(as_text=True)
    assert 'name="accept_doubtful"' in page
    r = _upload(admin_client, [(blurry, "HR0001_奥巴马.jpg"), (b"not an image", "HR0003_坏文件.jpg")],
                accept_doubtful="1")
    page = r.get_data(as_text=True)
    rows = re.findall(r'<tr class="([^"]*)"><td>([^<]*)</td>', page)
    # the override is for the quality gate's doubts only: an unreadable file is still refused
    assert rows == [("refused", "HR0003_坏文件.jpg"), ("ok doubt", "HR0001_奥巴马.jpg")]
    assert "已登记，质量存疑（已由管理员确认）" in page and "质量存疑：模糊" in page
    entries = _actions(sqlite_store)
    (upload,) = [(actor, d) for actor, a, d in entries if a == "upload_photos"]
    assert upload == ("admin", {"files": 2, "enrolled": 1, "doubtful": ["HR0001_奥巴马.jpg"]})
    (enrolled,) = [d for _actor, a, d in entries if a == "enroll"]
    assert enrolled["doubt"] == "blurry" and enrolled["staff_no"] == "HR0001"
    with sqlite_store.session() as s:  # ranked last where the best photo of a person is shown
        assert s.get(FaceTemplate, enrolled["template"]).quality == 0.0
    audit = admin_client.get("/system/audit").get_data(as_text=True)
    assert "质量疑点：模糊" in audit and "质量存疑仍登记的照片：HR0001_奥巴马.jpg" in audit
    # without the box ticked, the same photo is refused (for another person: no duplicate involved)
    r = _upload(admin_client, [(blurry, "HR0009_某人.jpg")])
    assert "照片模糊，请换一张清晰的正面照" in r.get_data(as_text=True)


def test_refused_staff_names_are_sentences(admin_client, sqlite_store):
    sid = add_staff(sqlite_store, "E001", "张三")
    r = post(admin_client, f"/staff/{sid}", {"name": "张\u200b三", "department": ""}, page=f"/staff/{sid}")
    page = r.get_data(as_text=True)
    assert r.status_code == 400 and _error_boxes(page) == ["姓名或部门中有看不见的字符或控制字符（U+200B），请删除后重新输入"]
    assert "invisible" not in page
    r = post(admin_client, "/staff/new", {"staff_no": "E001", "name": "李四"}, page="/staff/")
    assert r.status_code == 303
    assert _error_boxes(admin_client.get("/staff/").get_data(as_text=True)) == ["这个工号已存在，请换一个工号或编辑已有人员"]
    _english(admin_client)
    post(admin_client, "/staff/new", {"staff_no": "E 1/..", "name": "李四"}, page="/staff/")
    assert _error_boxes(admin_client.get("/staff/").get_data(as_text=True)) == [
        "A staff no is 1 to 32 letters, digits, '.' or '-'"]

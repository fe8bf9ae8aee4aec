"""One rule for a person's name on every path that names one: the admin's create and edit, photo
uploads, bulk enrolment (tests/cli/test_cli_library.py) and backup restore (here, with the stored
photo paths a restore must refuse)."""

from __future__ import annotations

import html
import re
import sqlite3

import pytest
from tests.helpers.admin_app import add_staff, api_token, csrf_token, post, send_files
from sqlalchemy import select

from app.store import AuditEntry, FaceTemplate, Staff

# Characters that look like nothing or reorder what follows (create and upload refused them before
# edit did): right-to-left override, zero-width space / joiner / no-break space, a line separator.
HIDDEN = ["\u202e", "\u200b", "\u200d", "\ufeff", "\u2028", "\x07"]


def _staff(store, staff_no):
    with store.session() as s:
        st = s.scalar(select(Staff).where(Staff.staff_no == staff_no))
        return None if st is None else (st.name, st.department)


@pytest.mark.parametrize("char", HIDDEN)
def test_edit_refuses_what_create_refuses(admin_client, sqlite_store, char):
    sid = add_staff(sqlite_store, "HR0300", "张三", "品质部")
    bad_name = post(admin_client, f"/staff/{sid}", {"name": f"张{char}三", "department": "品质部"},
                    page=f"/staff/{sid}")
    bad_department = post(admin_client, f"/staff/{sid}", {"name": "张三", "department": f"品质{char}部"},
                          page=f"/staff/{sid}")
    assert bad_name.status_code == bad_department.status_code == 400
    assert f"U+{ord(char):04X}" in bad_name.get_data(as_text=True)
    assert _staff(sqlite_store, "HR0300") == ("张三", "品质部")
    created = post(admin_client, "/staff/new", {"staff_no": "HR0301", "name": f"李{char}四"}, page="/staff/")
    assert created.status_code == 303 and _staff(sqlite_store, "HR0301") is None
    # What the rule accepts still saves, normalised as a photo's name is (NFC, trimmed).
    ok = post(admin_client, f"/staff/{sid}", {"name": " Zoe\u0308 ", "department": "质检 二组"},
              page=f"/staff/{sid}")
    assert ok.status_code == 302 and _staff(sqlite_store, "HR0300") == ("Zoë", "质检 二组")


def test_upload_refuses_a_hidden_character_in_the_file_name(app, sqlite_store, photos):
    api = app.test_client()
    api.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {api_token(sqlite_store)}"
    face = photos["obama.jpg"].read_bytes()
    r = send_files(api, "PUT", "/api/add_face_libs", [(face, f"E10{i}_奥{c}巴马.jpg") for i, c in enumerate(HIDDEN)])
    files = r.get_json()["files"]
    assert [f["reason"] for f in files] == ["bad_name"] * len(HIDDEN), files
    with sqlite_store.session() as s:
        assert s.scalar(select(Staff.id)) is None


def _backup(admin_client, tmp_path):
    r = admin_client.get("/system/backup")
    saved = tmp_path / "backup.sqlite3"
    saved.write_bytes(r.data)
    r.close()
    return saved


def _restore(admin_client, data: bytes):
    token = csrf_token(admin_client, "/system/")
    r = send_files(admin_client, "POST", "/system/restore", [(data, "daka.sqlite3")], field="file",
                   form={"csrf_token": token})
    page = admin_client.get("/system/").get_data(as_text=True)
    # a refusal: the sentence in the error box, then the technical detail folded under it
    boxes = re.findall(r'<p class="flash(?:-error)?"[^>]*>([^<]*)</p>'
                       r'(?:\s*<details class="flash-detail"><summary>[^<]*</summary><code>([^<]*)</code>)?', page)
    return r, [html.unescape(f"{m}: {d}" if d else m) for m, d in boxes]


def _add_template(store, staff_id, photo_file):
    with store.session() as s:
        s.add(FaceTemplate(staff_id=staff_id, descriptor=b"\0" * 512, model_id="m", photo_file=photo_file,
                           photo_sha256="0" * 64))


@pytest.mark.parametrize("column, value, says", [
    ("face_templates.photo_file", "../daka.toml", "face template 1: photo file '../daka.toml'"),
    ("face_templates.photo_file", "/etc/passwd", "face template 1: photo file '/etc/passwd'"),
    ("face_templates.photo_file", "..", "face template 1: photo file '..'"),
    ("staff.name", "张\u202e三", "staff 'HR0400': the name contains an invisible or control character U+202E"),
    ("staff.name", "张\u200b三", "U+200B"),
    ("staff.department", "品质\u200d部", "the department contains an invisible or control character U+200D"),
    ("staff.staff_no", "HR 0400/..", "must be 1-32 letters"),
])
def test_restore_refuses_a_backup_with_a_path_trick_or_a_hidden_name(admin_client, sqlite_store, instance,
                                                                       tmp_path, column, value, says):
    sid = add_staff(sqlite_store, "HR0400", "王五", "仓库")
    _add_template(sqlite_store, sid, "0123abcd.jpg")
    saved = _backup(admin_client, tmp_path)
    table, col = column.split(".")
    with sqlite3.connect(saved) as con:
        con.execute(f"UPDATE {table} SET {col} = ?", (value,))
    con.close()
    add_staff(sqlite_store, "HR0401", "备份后")  # made after the backup: must survive the refusal
    r, flashes = _restore(admin_client, saved.read_bytes())
    assert r.status_code == 303
    assert len(flashes) == 1 and flashes[0].startswith("不是有效的备份文件，当前数据未改动。") and says in flashes[0], flashes
    assert "当前数据未改动" in flashes[0]
    with sqlite_store.session() as s:
        assert sorted(s.scalars(select(Staff.staff_no))) == ["HR0400", "HR0401"]
        assert s.scalar(select(FaceTemplate.photo_file)) == "0123abcd.jpg"
        assert s.scalar(select(AuditEntry.id).where(AuditEntry.action == "restore")) is None


def test_a_clean_backup_still_restores(admin_client, sqlite_store, tmp_path):
    sid = add_staff(sqlite_store, "HR0500", "赵六", "仓库")
    _add_template(sqlite_store, sid, "89abcdef.png")
    saved = _backup(admin_client, tmp_path)
    add_staff(sqlite_store, "HR0501", "备份后")
    r, flashes = _restore(admin_client, saved.read_bytes())
    assert r.status_code == 302 and flashes == ["备份已恢复"]
    with sqlite_store.session() as s:
        assert list(s.scalars(select(Staff.staff_no))) == ["HR0500"]

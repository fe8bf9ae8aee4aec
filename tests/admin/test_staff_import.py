"""Issue 24, section 4: departments as rows, staff contact fields, a photo added on the person's
page, and the bulk import from real .xlsx files (made with openpyxl): preview, per-row errors,
all or nothing, odd, huge and corrupt files refused with a clear message."""

from __future__ import annotations

import datetime as dt
import io
import re
import zipfile

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select

from app.store import Department, Staff
from tests.helpers.admin_app import add_staff, csrf_token, post, send_files

HEADER = ["工号", "姓名", "部门", "入职日期", "手机", "卡号"]


def xlsx(rows, header=HEADER) -> bytes:
    book = Workbook()
    sheet = book.active
    if header is not None:
        sheet.append(header)
    for row in rows:
        sheet.append(row)
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


def upload(client, data: bytes, name: str = "staff.xlsx"):
    token = csrf_token(client, "/staff/import")
    return send_files(client, "POST", "/staff/import", [(data, name)], field="file", form={"csrf_token": token})


def confirm(client, page_html: str):
    token = re.search(r'name="token" value="([^"]+)"', page_html)
    assert token, "no confirm button on a clean preview"
    return post(client, "/staff/import/confirm", {"token": token.group(1)}, page="/staff/import")


def _people(store) -> dict:
    with store.session() as s:
        return {st.staff_no: (st.name, st.department, st.phone, st.card_no,
                              st.department_ref.name if st.department_ref else None)
                for st in s.scalars(select(Staff))}


def test_import_previews_then_writes_every_row(admin_client, sqlite_store):
    add_staff(sqlite_store, "00007", "旧名字", "生产部")
    data = xlsx([["00007", "王五", "品质部", dt.datetime(2024, 3, 1), "138 0000 0001", "A100"],
                 [123, "赵六", "生产部", "2025-01-02", None, None],
                 [None, None, None, None, None, None],   # an empty row is skipped
                 ["E200", "Zoë", None, None, "+86-10-1234", "B7"]])
    r = upload(admin_client, data)
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and 'id="import-confirm"' in html
    assert html.count('class="ok"') == 3 and "更新" in html and "新部门" in html
    assert _people(sqlite_store) == {"00007": ("旧名字", "生产部", "", None, None)}  # a preview writes nothing
    done = confirm(admin_client, html)
    assert done.status_code == 302
    people = _people(sqlite_store)
    assert people["00007"] == ("王五", "品质部", "138 0000 0001", "A100", "品质部")
    assert people["123"] == ("赵六", "生产部", "", None, "生产部")  # a number cell is its text, not 123.0
    assert people["E200"][0] == "Zoë" and people["E200"][3] == "B7"
    with sqlite_store.session() as s:
        hired = dict(s.execute(select(Staff.staff_no, Staff.hire_date)).all())
    assert hired == {"00007": dt.date(2024, 3, 1), "123": dt.date(2025, 1, 2), "E200": None}
    with sqlite_store.session() as s:
        assert sorted(s.scalars(select(Department.name))) == ["品质部", "生产部"]
    # the stashed file is gone: confirming twice does nothing
    again = post(admin_client, "/staff/import/confirm", {"token": "x"}, page="/staff/import")
    assert again.status_code == 303


def test_a_file_with_a_bad_row_imports_nothing_and_says_which_row(admin_client, sqlite_store):
    add_staff(sqlite_store, "E1", "甲", "")
    with sqlite_store.session() as s:
        s.get(Staff, 1).card_no = "C1"
    data = xlsx([["E2", "乙", "生产部", "2024-02-30", "", ""],      # no such day
                 ["E3", "", "生产部", None, "", ""],               # no name
                 ["E4", "丁", "生产部", None, "call me", ""],      # not a phone number
                 ["E5", "戊", "生产部", None, "", "C1"],           # E1's card
                 ["E5", "戊", "生产部", None, "", ""],             # the same staff no twice
                 ["E6", "己", "生产部", None, "", ""]])
    r = upload(admin_client, data)
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and 'id="import-confirm"' not in html
    assert "6 行，5 行有错误" in html
    errors = re.findall(r'<td class="errors">([^<]*)</td>', html)
    assert "入职日期" in errors[0] and "姓名" in errors[1] and "手机" in errors[2]
    assert "E1" in errors[3] and "第 5 行" in errors[4] and errors[5] == ""
    assert set(_people(sqlite_store)) == {"E1"}
    # the same preview on the English pages
    post(admin_client, "/language", {"lang": "en", "next": "/staff/import"})
    english = upload(admin_client, data).get_data(as_text=True)
    assert "The same staff no as row 5" in english and "The card no belongs to E1" in english


@pytest.mark.parametrize(("make", "message"), [
    (lambda: b"PK\x03\x04 not really a zip", "不是有效的 Excel (.xlsx) 文件"),
    (lambda: "工号,姓名\nE1,张三\n".encode(), "不是有效的 Excel (.xlsx) 文件"),          # a CSV renamed
    (lambda: _zip({"hello.txt": b"hi"}), "不是有效的 Excel (.xlsx) 文件"),              # a zip, not a workbook
    (lambda: _zip({"xl/bomb.xml": b"\0" * (70 * 1024 * 1024)}), "文件解压后过大"),       # a zip bomb
    (lambda: xlsx([["张三", "生产部"]], header=["姓名", "部门"]), "缺少必需的列：工号"),
    (lambda: xlsx([], header=HEADER), "表格中没有人员"),
    (lambda: xlsx([], header=None), "表格是空的"),
    (lambda: xlsx([[f"E{i}", "某"] for i in range(5001)], header=["工号", "姓名"]), "行数过多"),
])
def test_odd_huge_and_corrupt_files_are_a_clear_error(admin_client, sqlite_store, make, message):
    r = upload(admin_client, make())
    assert r.status_code == 400
    assert message in r.get_data(as_text=True)
    with sqlite_store.session() as s:
        assert s.scalar(select(func.count()).select_from(Staff)) == 0


def _zip(members: dict) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


def test_a_viewer_can_neither_preview_nor_import(viewer_client, sqlite_store):
    r = upload(viewer_client, xlsx([["E1", "张三", "", None, "", ""]]))
    assert r.status_code == 403


def test_departments_create_rename_and_refuse_deleting_a_used_one(admin_client, sqlite_store):
    assert post(admin_client, "/staff/departments", {"name": "生产部"}, page="/staff/departments").status_code == 302
    assert post(admin_client, "/staff/departments", {"name": "生产部"}, page="/staff/departments").status_code == 303
    with sqlite_store.session() as s:
        dept_id = s.scalar(select(Department.id))
    sid = add_staff(sqlite_store, "E9", "孙七")
    r = post(admin_client, f"/staff/{sid}", {"name": "孙七", "department_id": str(dept_id), "phone": "13800000000",
                                           "card_no": "X9", "hire_date": "2025-03-01", "leave_date": ""},
             page=f"/staff/{sid}")
    assert r.status_code == 302
    backwards = post(admin_client, f"/staff/{sid}", {"name": "孙七", "leave_date": "2025-02-01"}, page=f"/staff/{sid}")
    assert backwards.status_code == 400 and "离职日期早于入职日期" in backwards.get_data(as_text=True)
    with sqlite_store.session() as s:
        assert (s.get(Staff, sid).hire_date, s.get(Staff, sid).leave_date) == (dt.date(2025, 3, 1), None)
    from app.store import ScheduleAssignment
    from tests.helpers.attendance_rules import shift, weekly

    weekly(sqlite_store, shift(sqlite_store), department="生产部")  # the rules name the department
    post(admin_client, f"/staff/departments/{dept_id}/rename", {"name": "一车间"}, page="/staff/departments")
    assert _people(sqlite_store)["E9"] == ("孙七", "一车间", "13800000000", "X9", "一车间")
    with sqlite_store.session() as s:
        assert s.scalar(select(ScheduleAssignment.department)) == "一车间"  # the schedule follows the rename
    refused = post(admin_client, f"/staff/departments/{dept_id}/delete", page="/staff/departments")
    assert refused.status_code == 303
    assert "部门下还有人员" in admin_client.get("/staff/departments").get_data(as_text=True)
    post(admin_client, f"/staff/{sid}", {"name": "孙七", "department_id": "0"}, page=f"/staff/{sid}")
    assert post(admin_client, f"/staff/departments/{dept_id}/delete", page="/staff/departments").status_code == 302
    with sqlite_store.session() as s:
        assert s.scalar(select(func.count()).select_from(Department)) == 0
        assert s.get(Staff, sid).department == ""


def test_a_card_number_belongs_to_one_person(admin_client, sqlite_store):
    a, b = add_staff(sqlite_store, "A1", "甲"), add_staff(sqlite_store, "B1", "乙")
    assert post(admin_client, f"/staff/{a}", {"name": "甲", "card_no": "777"}, page=f"/staff/{a}").status_code == 302
    r = post(admin_client, f"/staff/{b}", {"name": "乙", "card_no": "777"}, page=f"/staff/{b}")
    assert r.status_code == 400 and "卡号已被其他人使用" in r.get_data(as_text=True)
    bad = post(admin_client, f"/staff/{b}", {"name": "乙", "phone": "<script>"}, page=f"/staff/{b}")
    assert bad.status_code == 400
    assert _people(sqlite_store)["B1"][2:4] == ("", None)


def test_hr_adds_a_photo_on_the_persons_page(admin_client, sqlite_store, photos):
    sid = add_staff(sqlite_store, "E001", "奥巴马")
    token = csrf_token(admin_client, f"/staff/{sid}")
    face = photos["obama.jpg"].read_bytes()
    r = send_files(admin_client, "POST", f"/staff/{sid}/photo", [(face, "new.jpg")], field="photo",
                   form={"csrf_token": token})
    assert r.status_code == 302
    page = admin_client.get(f"/staff/{sid}").get_data(as_text=True)
    assert page.count('class="thumb"') == 1 and "new.jpg" in page
    # the same photo again is refused, and the page says why
    token = csrf_token(admin_client, f"/staff/{sid}")
    again = send_files(admin_client, "POST", f"/staff/{sid}/photo", [(face, "new.jpg")], field="photo",
                       form={"csrf_token": token})
    assert again.status_code == 400 and 'id="photo-refused"' in again.get_data(as_text=True)


def test_saving_a_person_keeps_a_department_the_list_does_not_have(admin_client, sqlite_store):
    # made by a photo upload or before departments were rows: a text and no department row
    sid = add_staff(sqlite_store, "L1", "老员工", "旧车间")
    page = admin_client.get(f"/staff/{sid}").get_data(as_text=True)
    assert "旧车间" in page
    # the page's select sends nothing for that entry: the department stays
    r = post(admin_client, f"/staff/{sid}", {"name": "老员工", "phone": "13900000000"}, page=f"/staff/{sid}")
    assert r.status_code == 302
    assert _people(sqlite_store)["L1"] == ("老员工", "旧车间", "13900000000", None, None)

"""What the December 2026 review tried against photo uploads and found solid, kept as tests.

Odd file names are refused one by one with a reason (never a 500, never a file outside photos/),
zip members cannot climb out of the archive, and a zip bomb is refused by its unpacked size.
"""

from __future__ import annotations

import io
import zipfile

import pytest
from tests.helpers.admin_app import api_token, send_files

ODD_NAMES = ["../../E100_trav.jpg", "/etc/E101_abs.jpg", "E102_a\x00b.jpg", "..\\E103_win.jpg",
             "E104_\u202egpj.exe", "E105_\u200bzw.jpg", "E106_" + "A" * 300 + ".jpg", "_nostaff.jpg",
             "E108_..jpg", "E109_ .jpg", "E1\u0660_arabicdigit.jpg"]


@pytest.fixture
def api(app, sqlite_store):
    c = app.test_client()
    c.environ_base.update({"HTTP_AUTHORIZATION": f"Bearer {api_token(sqlite_store)}"})
    return c


def files_outside_photos(root, photos_dir) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")
                  if p.is_file() and photos_dir not in p.parents and p.suffix.lower() in (".jpg", ".exe", ".png"))


@pytest.mark.parametrize("name", ODD_NAMES, ids=[repr(n[:12]) for n in ODD_NAMES])
def test_an_odd_file_name_is_refused_with_a_reason(api, photos, instance, sqlite_store, tmp_path, name):
    from app.store import Staff

    r = send_files(api, "PUT", "/api/add_face_libs", [(photos["obama2.jpg"].read_bytes(), name)])
    assert r.status_code == 200
    (result,) = r.get_json()["files"]
    assert (result["ok"], result["reason"]) == (False, "bad_name") and result["message"] and result["detail"]
    with sqlite_store.session() as s:
        assert s.query(Staff).count() == 0
    assert not instance.photos_dir.exists() or not any(instance.photos_dir.iterdir())
    assert files_outside_photos(tmp_path, instance.photos_dir) == []


def test_a_header_injection_in_a_file_name_is_a_clear_error(api, photos):
    r = send_files(api, "PUT", "/api/add_face_libs", [(photos["obama2.jpg"].read_bytes(), "E107_a\r\nX-Evil: 1.jpg")])
    assert r.status_code == 400 and r.get_json()["success"] is False and "X-Evil" not in r.headers


def test_zip_members_cannot_climb_out_of_the_archive(api, photos, instance, tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("../../ZIPSLIP_x.jpg", photos["obama2.jpg"].read_bytes())
        z.writestr("/abs/ZIPABS_y.jpg", photos["biden.jpg"].read_bytes())
    r = send_files(api, "PUT", "/api/add_face_libs", [(buf.getvalue(), "slip.zip")])
    assert r.status_code == 200
    results = {f["file"]: f for f in r.get_json()["files"]}
    assert set(results) == {"ZIPSLIP_x.jpg", "ZIPABS_y.jpg"}   # folders inside are flattened
    assert files_outside_photos(tmp_path, instance.photos_dir) == []
    assert not any(p.name.startswith(("ZIPSLIP", "ZIPABS")) for p in tmp_path.parent.rglob("*"))


def test_a_zip_bomb_member_is_refused_by_its_unpacked_size(api, photos, sqlite_store):
    from app.store import Staff

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("E300_炸弹.jpg", b"\0" * (200 << 20))   # 200 MB of zeros, ~200 KB packed
        z.writestr("E301_正常.jpg", photos["obama2.jpg"].read_bytes())
    assert len(buf.getvalue()) < 1 << 20
    r = send_files(api, "PUT", "/api/add_face_libs", [(buf.getvalue(), "bomb.zip")])
    assert r.status_code == 200
    results = {f["file"]: f for f in r.get_json()["files"]}
    assert (results["E300_炸弹.jpg"]["ok"], results["E300_炸弹.jpg"]["reason"]) == (False, "too_large")
    assert results["E301_正常.jpg"]["ok"] is True
    with sqlite_store.session() as s:
        assert [st.staff_no for st in s.query(Staff)] == ["E301"]

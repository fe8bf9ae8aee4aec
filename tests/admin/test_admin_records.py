"""The records pages (issue 25): a punch's detail with its snapshot, the stranger and spoof records
(filters, pages, CSV and XLSX), who may see the face pictures, and no way out of the snapshots folder."""

from __future__ import annotations

import datetime as dt
import io
import os

import cv2
import numpy as np
import pytest

from tests.helpers.admin_app import add_punch, add_staff


def _jpeg(grey: int = 90) -> bytes:
    ok, data = cv2.imencode(".jpg", np.full((40, 40, 3), grey, np.uint8))
    return data.tobytes()


def _punch_with_snapshot(store, instance, snapshot: str | None, data: bytes | None = None) -> int:
    from app.store import Punch

    sid = add_staff(store, "E001", "张三")
    pid = add_punch(store, sid, "E001", "张三", dt.datetime(2026, 12, 4, 9, 0))
    if data is not None:
        (instance.snapshots_dir / snapshot).parent.mkdir(parents=True, exist_ok=True)
        (instance.snapshots_dir / snapshot).write_bytes(data)
    with store.session() as s:
        s.get(Punch, pid).snapshot_file = snapshot
    return pid


def test_the_punch_detail_shows_its_snapshot_to_an_administrator(admin_client, sqlite_store, instance):
    jpeg = _jpeg()
    pid = _punch_with_snapshot(sqlite_store, instance, "2026-12-04/abc.jpg", jpeg)
    listing = admin_client.get("/attendance/?from=2026-12-04").get_data(as_text=True)
    assert f'href="/records/punch/{pid}"' in listing   # one link per row of the attendance list
    page = admin_client.get(f"/records/punch/{pid}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "张三" in html and "2026-12-04 09:00:00" in html
    assert f'src="/records/punch/{pid}/snapshot.jpg"' in html
    picture = admin_client.get(f"/records/punch/{pid}/snapshot.jpg")
    assert picture.status_code == 200 and picture.mimetype == "image/jpeg" and picture.data == jpeg
    assert "no-store" in picture.headers["Cache-Control"]
    assert admin_client.get("/records/punch/99999").status_code == 404


def test_a_viewer_sees_the_detail_but_not_the_face(viewer_client, sqlite_store, instance):
    pid = _punch_with_snapshot(sqlite_store, instance, "2026-12-04/abc.jpg", _jpeg())
    html = viewer_client.get(f"/records/punch/{pid}").get_data(as_text=True)
    assert "张三" in html and "snapshot.jpg" not in html and "人脸抓拍只有管理员可以查看" in html
    assert viewer_client.get(f"/records/punch/{pid}/snapshot.jpg").status_code == 403


@pytest.mark.parametrize("stored", ["../admin_secret.key", "/etc/passwd", "2026-12-04/../../admin_secret.key",
                                    "link.jpg"])
def test_a_stored_name_never_leads_out_of_the_snapshots_folder(admin_client, sqlite_store, instance, stored):
    """A stored name is not trusted: a path out of the folder, an absolute path or a symlink that
    points outside is no picture (404), never the file it names."""
    instance.snapshots_dir.mkdir(parents=True, exist_ok=True)
    os.symlink(instance.root / "admin_secret.key", instance.snapshots_dir / "link.jpg")
    pid = _punch_with_snapshot(sqlite_store, instance, stored)
    answer = admin_client.get(f"/records/punch/{pid}/snapshot.jpg")
    assert answer.status_code == 404
    assert (instance.root / "admin_secret.key").read_bytes() not in answer.data
    assert "没有抓拍照片" in admin_client.get(f"/records/punch/{pid}").get_data(as_text=True)


def _events(store, instance, n_stranger: int, n_spoof: int, day=dt.date(2026, 12, 4)):
    from app.store import FaceEvent

    sid = add_staff(store, "E009", "李四")
    with store.session() as s:
        for i in range(n_stranger + n_spoof):
            kind = "stranger" if i < n_stranger else "spoof"
            name = f"{day.isoformat()}/{kind}-{i}.jpg" if i == 0 or kind == "spoof" else None
            if name:
                (instance.snapshots_dir / name).parent.mkdir(parents=True, exist_ok=True)
                (instance.snapshots_dir / name).write_bytes(_jpeg(i % 200))
            s.add(FaceEvent(at=dt.datetime.combine(day, dt.time(1, 0)) + dt.timedelta(seconds=i), local_date=day,
                            kind=kind, device_id="t1", track_id=i,
                            reason="below_threshold" if kind == "stranger" else "texture",
                            similarity=0.42, candidate_staff_id=sid if kind == "spoof" else None, snapshot_file=name))


def test_records_are_listed_filtered_and_paged(admin_client, sqlite_store, instance):
    _events(sqlite_store, instance, 52, 3)
    page = admin_client.get("/records/?from=2026-12-04&to=2026-12-04")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and '<span id="total">55</span>' in html
    assert html.count("<tr><td>2026-12-04") == 50 and "page=2" in html
    assert "与人脸库中的人都不够相似" in html and "below_threshold" not in html   # reasons in words
    assert "活体拒绝" in html and "E009 李四" in html and "snapshot.jpg" in html
    second = admin_client.get("/records/?from=2026-12-04&to=2026-12-04&page=2").get_data(as_text=True)
    assert second.count("<tr><td>2026-12-04") == 5
    spoofs = admin_client.get("/records/?from=2026-12-04&to=2026-12-04&kind=spoof").get_data(as_text=True)
    assert '<span id="total">3</span>' in spoofs
    other_day = admin_client.get("/records/?from=2026-12-05&to=2026-12-06").get_data(as_text=True)
    assert '<span id="total">0</span>' in other_day
    assert admin_client.get("/records/?from=2026-12-06&to=2026-12-05").status_code == 400
    assert admin_client.get("/records/?kind=punch").status_code == 400
    with admin_client.session_transaction() as session:
        session["lang"] = "en"   # what the language switch stores
    english = admin_client.get("/records/?from=2026-12-04&to=2026-12-04").get_data(as_text=True)
    assert "Stranger and spoof records" in english and "Not similar enough to anyone enrolled" in english
    assert "Liveness refused" in english and "活体拒绝" not in english and "陌生人" not in english


def test_records_export_as_csv_with_a_bom_and_as_xlsx(viewer_client, sqlite_store, instance):
    from openpyxl import load_workbook

    _events(sqlite_store, instance, 2, 1)
    csv = viewer_client.get("/records/export.csv?from=2026-12-04&to=2026-12-04")
    assert csv.status_code == 200 and csv.data.startswith("\ufeff".encode())
    lines = csv.data.decode("utf-8-sig").splitlines()
    assert lines[0].split(",")[:3] == ["时间", "类型", "原因"] and len(lines) == 4
    assert "陌生人" in lines[1] and "活体拒绝" in lines[3] and "E009 李四" in lines[3]
    xlsx = viewer_client.get("/records/export.xlsx?from=2026-12-04&to=2026-12-04&kind=stranger")
    sheet = load_workbook(io.BytesIO(xlsx.data)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert len(rows) == 3 and rows[1][1] == "陌生人"


def test_record_pictures_are_for_administrators(admin_client, viewer_client, sqlite_store, instance):
    from app.store import FaceEvent
    from sqlalchemy import select

    _events(sqlite_store, instance, 1, 1)
    with sqlite_store.session() as s:
        first = s.scalar(select(FaceEvent.id).where(FaceEvent.kind == "stranger"))
    assert admin_client.get(f"/records/event/{first}/snapshot.jpg").mimetype == "image/jpeg"
    assert viewer_client.get(f"/records/event/{first}/snapshot.jpg").status_code == 403
    html = viewer_client.get("/records/?from=2026-12-04&to=2026-12-04").get_data(as_text=True)
    assert "snapshot.jpg" not in html and "人脸抓拍只有管理员可以查看" in html
    assert admin_client.get("/records/event/424242/snapshot.jpg").status_code == 404

"""The fleet terminal's mirror (central library -> local store) and punch uploader (local -> centre)
against a real centre on the test cluster: a terminal role, row security and the change triggers."""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid

import numpy as np
import psycopg
import pytest
from sqlalchemy import select, text

from app.attendance.punches import PunchWriter
from app.attendance.records import PunchRecord
from app.fleet.central import keep_photo
from app.fleet.mirror import LibraryMirror
from app.fleet.upload import PunchUploader
from app.store import FaceTemplate, FleetCursor, Punch, Staff, open_store
from app.store.settings import read_settings
from tests.helpers.fleet import make_centre

pytestmark = pytest.mark.postgres


@pytest.fixture
def centre(postgres_server, tmp_path):
    return make_centre(postgres_server, tmp_path, terminals=1)


@pytest.fixture
def central_store(centre, tmp_path, make_config, instance):
    from app.instance import Instance

    other = Instance(tmp_path / "central-admin").prepare()
    from app.config import load_config

    store = open_store(load_config(other), other, url=centre.owner_url)
    yield store
    store.dispose()


@pytest.fixture
def local(make_config, instance):
    store = open_store(make_config(), instance)
    yield store
    store.dispose()


def terminal_conn(centre):
    return psycopg.connect(centre.terminals[0].url.replace("postgresql+psycopg://", "postgresql://"),
                           autocommit=True)


def photo_bytes(seed: int) -> bytes:
    return b"\xff\xd8\xff\xe0" + hashlib.sha256(str(seed).encode()).digest() * 8


def enrol(central_store, staff_no: str, name: str, seed: int) -> tuple[int, int]:
    """A person and one template as the central admin stores them (photo bytes in face_photos)."""
    data = photo_bytes(seed)
    with central_store.session() as s:
        staff = s.scalar(select(Staff).where(Staff.staff_no == staff_no))
        if staff is None:
            staff = Staff(staff_no=staff_no, name=name)
            s.add(staff)
        sha = keep_photo(s, data)
        t = FaceTemplate(staff=staff, descriptor=np.full(128, seed, "<f4").tobytes(), model_id="m",
                         photo_file=f"{uuid.uuid4().hex}.jpg", photo_sha256=sha)
        s.add(t)
        s.flush()
        return staff.id, t.id


def local_library(local):
    with local.session() as s:
        return {st.staff_no: (st.id, st.name, sorted(t.id for t in st.templates))
                for st in s.scalars(select(Staff))}


def test_the_mirror_copies_applies_and_deletes_with_photos_and_settings(centre, central_store, local, instance):
    changed: list[set[int]] = []
    mirror = LibraryMirror(local, instance.photos_dir, on_library_changed=changed.append)
    first_staff, first_template = enrol(central_store, "E001", "张三", 1)
    with central_store.session() as s:
        s.execute(text("INSERT INTO settings (key, value, updated_at) VALUES ('device.name', '\"大门\"', now())"))
        s.execute(text("INSERT INTO settings (key, value, updated_at) VALUES ('push.secret', '\"s3\"', now())"))
    with terminal_conn(centre) as conn:
        mirror.sync(conn)
        # the same ids as the centre, the photo file from face_photos, the settings but not the secret
        assert local_library(local) == {"E001": (first_staff, "张三", [first_template])}
        with local.session() as s:
            name = s.scalar(select(FaceTemplate.photo_file).where(FaceTemplate.id == first_template))
        assert (instance.photos_dir / name).read_bytes() == photo_bytes(1)
        assert read_settings(local)["device.name"] == "大门"
        assert "push.secret" not in read_settings(local)
        assert changed and first_staff in changed[-1]

        second_staff, second_template = enrol(central_store, "E002", "李四", 2)
        with central_store.session() as s:
            s.get(Staff, first_staff).name = "张三丰"
        mirror.sync(conn)
        assert local_library(local) == {"E001": (first_staff, "张三丰", [first_template]),
                                        "E002": (second_staff, "李四", [second_template])}

        with central_store.session() as s:   # a tombstone: deleted here too, the photo file with it
            s.delete(s.get(Staff, first_staff))
        mirror.sync(conn)
        assert set(local_library(local)) == {"E002"}
        assert not (instance.photos_dir / name).exists()
    with local.session() as s:   # the cursor is kept in the local store: a restart resumes there
        assert s.get(FleetCursor, "changes").position == mirror.cursor > 0


def test_a_change_number_still_in_flight_is_not_skipped(centre, central_store, local, instance):
    """Two central transactions commit in the reverse order of their change numbers."""
    mirror = LibraryMirror(local, instance.photos_dir)
    enrol(central_store, "E000", "先来", 0)
    owner = centre.connect()
    late = centre.connect()
    try:
        with terminal_conn(centre) as conn:
            mirror.sync(conn)
            before = mirror.cursor
            late.execute("INSERT INTO staff (staff_no, name, department, phone, active, created_at, updated_at, "
                         "zk_uid) VALUES ('E100', '晚到', '', '', true, now(), now(), 100)")   # not committed
            owner.execute("INSERT INTO staff (staff_no, name, department, phone, active, created_at, updated_at, "
                          "zk_uid) VALUES ('E101', '早到', '', '', true, now(), now(), 101)")
            owner.commit()
            mirror.sync(conn)
            assert "E101" in local_library(local)          # what committed is applied at once
            assert mirror.cursor == before                  # but the cursor waits before the gap
            assert mirror.waiting_gap == before + 1
            late.commit()
            mirror.sync(conn)
            assert {"E100", "E101"} <= set(local_library(local))
            assert mirror.cursor == before + 2 and mirror.waiting_gap is None
    finally:
        owner.close()
        late.close()


def test_an_on_device_enrolment_is_replaced_by_the_centres_copy(centre, central_store, local, instance):
    """A local person and template (not yet back from the centre) give way to the central rows."""
    with local.session() as s:   # a local id the centre does not use for this person
        staff = Staff(id=50, staff_no="E007", name="本地", zk_uid=7)
        s.add(staff)
        s.flush()
        s.add(FaceTemplate(staff_id=staff.id, descriptor=b"\0" * 512, model_id="m", photo_file="local.jpg",
                           photo_sha256=hashlib.sha256(photo_bytes(7)).hexdigest()))
        PunchWriter(local).write(s, [record(1, "E007", staff_id=50)])
    (instance.photos_dir / "local.jpg").write_bytes(photo_bytes(7))
    central_id, template = enrol(central_store, "E007", "本地", 7)
    with terminal_conn(centre) as conn:
        LibraryMirror(local, instance.photos_dir).sync(conn)
    assert central_id != 50 and local_library(local) == {"E007": (central_id, "本地", [template])}
    assert not (instance.photos_dir / "local.jpg").exists()
    with local.session() as s:   # the person's punch follows them to the central id
        assert s.scalars(select(Punch.staff_id)).all() == [central_id]


def record(n: int, staff_no: str = "E001", staff_id: int | None = None) -> PunchRecord:
    at = dt.datetime(2026, 12, 5, 8, 0, tzinfo=dt.UTC) + dt.timedelta(minutes=n)
    return PunchRecord(uuid.uuid4(), staff_id, staff_no, "张三", at, at.date(), at.strftime("%H:%M:%S"), "local-id",
                       0.9, "face", None, 1)


def central_punches(centre):
    with centre.connect() as c:
        return c.execute("SELECT uuid, staff_no, device_id, staff_id, status FROM punches ORDER BY id").fetchall()


def test_the_uploader_sends_each_punch_once_in_order_as_its_own_device(centre, central_store, local):
    staff_id, _ = enrol(central_store, "E001", "张三", 1)
    records = [record(n) for n in range(450)]
    writer = PunchWriter(local)
    with local.session() as s:
        writer.write(s, records[:300])
    uploader = PunchUploader(local, centre.terminals[0].url)
    try:
        assert uploader.pending() == 300
        assert uploader.upload() == 300 and uploader.pending() == 0
        with local.session() as s:
            writer.write(s, records[300:])
        # a crash between the central commit and the cursor's write: the batch goes again
        with local.session() as s:
            s.get(FleetCursor, "punches").position = 250
        uploader._cursor = None
        uploader.upload()
    finally:
        uploader.close()
    rows = central_punches(centre)
    assert [r[0] for r in rows] == [r.uuid for r in records]   # once each, in order
    device = centre.terminals[0].device_id
    assert {r[2] for r in rows} == {device} and {r[3] for r in rows} == {staff_id} and {r[4] for r in rows} == {1}
    assert uploader.inserted == 450


def test_the_uploader_resends_the_last_punches_after_a_reconnection(centre, local):
    """A commit lost by a failover (acknowledged, not streamed) is stored again on reconnection."""
    records = [record(n) for n in range(10)]
    with local.session() as s:
        PunchWriter(local).write(s, records)
    uploader = PunchUploader(local, centre.terminals[0].url)
    try:
        uploader.upload()
        with centre.connect() as c:   # what a failover to a standby that lacked the last commit looks like
            c.execute("DELETE FROM punches WHERE uuid = ANY(%s)", ([r.uuid for r in records[7:]],))
        uploader.close()
        uploader.upload()
    finally:
        uploader.close()
    assert [r[0] for r in central_punches(centre)] == [r.uuid for r in records]

"""`daka fleet join / status / leave`: a standalone terminal moves into a fleet with its staff, photos
and punches (none doubled by a second join), then back out with its data."""

from __future__ import annotations

import datetime as dt
import json
import tomllib
import uuid

import pytest
from sqlalchemy import select

from app.attendance import open_attendance
from app.attendance.punches import PunchWriter
from app.attendance.records import PunchRecord
from app.config import load_config
from app.services.compose import open_library
from app.store import FaceTemplate, Punch, Staff, open_store
from tests.helpers.daka_cli import daka
from tests.helpers.fleet import make_centre
from tests.helpers.fleet_terminals import central_library

pytestmark = pytest.mark.postgres


def punch(staff_id, staff_no, name, minutes) -> PunchRecord:
    at = dt.datetime(2026, 12, 4, 1, 0, tzinfo=dt.UTC) + dt.timedelta(minutes=minutes)
    return PunchRecord(uuid.uuid4(), staff_id, staff_no, name, at, at.date(), "09:00:00", "gate", 0.9, "face")


def central_rows(centre):
    with centre.connect() as c:
        staff = c.execute("SELECT staff_no, name, id FROM staff ORDER BY staff_no").fetchall()
        templates = c.execute("SELECT s.staff_no, t.photo_sha256, t.model_id FROM face_templates t "
                              "JOIN staff s ON s.id = t.staff_id ORDER BY 1, 2, 3").fetchall()
        punches = c.execute("SELECT uuid, staff_no, staff_id, device_id FROM punches ORDER BY id").fetchall()
    return staff, templates, punches


def test_join_uploads_the_terminal_then_mirrors_and_leave_keeps_the_data(postgres_server, tmp_path, instance,
                                                                         make_config, photos):
    centre = make_centre(postgres_server, tmp_path, terminals=1)
    role = centre.terminals[0]
    # the centre already knows E001 with this very photo: it is not sent again
    store, central = central_library(centre.owner_url, tmp_path / "central-admin")
    try:
        assert central.enroll_file(photos["obama.jpg"].read_bytes(), "E001_奥巴马.jpg").ok
    finally:
        store.dispose()

    config = make_config(device={"name": "gate"})
    local = open_store(config, instance)
    library = open_library(config, instance, local)
    assert library.enroll_file(photos["obama.jpg"].read_bytes(), "E001_奥巴马.jpg").ok
    assert library.enroll_file(photos["biden.jpg"].read_bytes(), "E002_拜登.jpg").ok
    with local.session() as s:
        ids = {no: i for no, i in s.execute(select(Staff.staff_no, Staff.id))}
        s.add(Staff(staff_no="E003", name="无照片"))
    stored = [punch(ids["E001"], "E001", "奥巴马", 1), punch(ids["E002"], "E002", "拜登", 2)]
    with local.session() as s:
        PunchWriter(local).write(s, stored)
    attendance = open_attendance(config, instance, local)
    journaled = punch(ids["E002"], "E002", "拜登", 3)
    attendance.journal.append(journaled.to_journal())   # confirmed, not yet flushed when the terminal stopped
    attendance.journal.close()
    local.dispose()

    done = daka("fleet", "join", "--fleet-url", role.url, instance=instance.root)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert (result["photos_sent"], result["photos_held"], result["punches_sent"]) == (1, 1, 3)
    assert result["skipped"] == [{"staff_no": "E003", "reason": "no_photo"}]
    staff, templates, punches = central_rows(centre)
    assert [(no, name) for no, name, _ in staff] == [("E001", "奥巴马"), ("E002", "拜登")]
    assert len({(no, sha) for no, sha, _ in templates}) == 2 and len(templates) == 2 * len({m for *_, m in templates})
    assert [p[0] for p in punches] == [p.uuid for p in stored + [journaled]]
    central_ids = {no: i for no, _, i in staff}
    assert {(p[1], p[2], p[3]) for p in punches} == {("E001", central_ids["E001"], role.device_id),
                                                      ("E002", central_ids["E002"], role.device_id)}
    assert tomllib.loads(instance.config_path.read_text())["fleet"]["database_url"] == role.url

    # the local library is now the central one: the same ids, the photos, the punches linked to them
    local = open_store(load_config(instance), instance)
    try:
        with local.session() as s:
            assert {no: i for no, i in s.execute(select(Staff.staff_no, Staff.id))} == central_ids
            files = s.scalars(select(FaceTemplate.photo_file)).all()
            assert {(p.staff_no, p.staff_id) for p in s.scalars(select(Punch))} == set(central_ids.items())
        assert all((instance.photos_dir / f).is_file() for f in files) and len(set(files)) == 2
    finally:
        local.dispose()

    again = daka("fleet", "join", instance=instance.root)   # nothing doubled by a second join
    assert again.returncode == 0, again.stderr[-3000:]
    assert json.loads(again.stdout)["photos_held"] == 2 and json.loads(again.stdout)["punches_new"] == 0
    assert central_rows(centre) == (staff, templates, punches)

    state = daka("fleet", "status", instance=instance.root)
    assert state.returncode == 0, state.stderr
    assert json.loads(state.stdout) | {"central_change_no": 0} == json.loads(state.stdout) | {
        "fleet": True, "reachable": True, "device_id": role.device_id, "pending_punches": 0,
        "queued_enrolments": 0, "central_change_no": 0}

    left = daka("fleet", "leave", instance=instance.root)
    assert left.returncode == 0, left.stderr
    assert json.loads(left.stdout) == {"fleet": False, "left": True, "pending_punches": 0, "queued_enrolments": 0}
    assert "database_url" not in tomllib.loads(instance.config_path.read_text()).get("fleet", {})
    assert load_config(instance).device.name == "gate"   # the rest of the file kept
    local = open_store(load_config(instance), instance)
    try:
        with local.session() as s:   # the data stays
            assert {no: i for no, i in s.execute(select(Staff.staff_no, Staff.id))} == central_ids
            assert len(s.scalars(select(Punch)).all()) == 3
    finally:
        local.dispose()

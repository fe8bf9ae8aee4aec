"""The fleet link in a terminal process: an on-device enrolment goes up to the centre (queued while
the centre is away) and comes back as the central rows; the status block says offline and how
many punches wait; a standalone terminal has no link at all."""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid

import pytest
from sqlalchemy import select

from app.attendance.punches import PunchWriter
from app.attendance.records import PunchRecord
from app.config import load_config
from app.fleet.link import FleetLink
from app.services.compose import open_library
from app.store import FaceTemplate, FleetEnrolment, open_store
from tests.helpers.fleet import make_centre
from tests.helpers.fleet_cluster import Cluster
from tests.helpers.waiting import wait_for

pytestmark = pytest.mark.postgres


def central_templates(centre):
    with centre.connect() as c:
        return c.execute("SELECT t.id, s.staff_no, t.photo_sha256, t.model_id, t.original_name FROM face_templates t "
                         "JOIN staff s ON s.id = t.staff_id ORDER BY t.id").fetchall()


def test_an_on_device_enrolment_queued_offline_reaches_the_centre_and_comes_back(tmp_path, instance, make_config,
                                                                                  photos):
    cluster = Cluster()
    link = store = None
    try:
        cluster.start()
        centre = make_centre(cluster, tmp_path, terminals=1)
        config = make_config(fleet={"database_url": centre.terminals[0].url, "poll_s": 600.0, "retry_max_s": 1.0})
        store = open_store(config, instance)
        library = open_library(config, instance, store)
        reloaded = []
        link = FleetLink(store, config, instance.photos_dir,
                         on_library_changed=lambda ids: reloaded.append(library.load_gallery()))
        cluster.stop()                          # the centre away: the enrolment is queued
        link.start()
        wait_for(lambda: link.status()["state"] == "offline", 60)
        result = library.enroll_file(photos["obama.jpg"].read_bytes(), "E001_奥巴马.jpg")
        assert result.ok
        assert link.queue_enrolment(result.template_id)
        with store.session() as s:
            PunchWriter(store).write(s, [PunchRecord(uuid.uuid4(), None, "E001", "奥巴马",
                                                     dt.datetime(2026, 12, 5, 1, tzinfo=dt.UTC), dt.date(2026, 12, 5),
                                                     "09:00:00", "gate", 0.9, "face")])
        wait_for(lambda: link.status()["pending"] == 1 and link.status()["queued_enrolments"] == 1, 60)
        status = link.status()
        assert (status["text"], status["text_en"]) == ("离线，1 条待上传", "Offline, 1 waiting to upload")

        cluster.start()
        wait_for(lambda: len(central_templates(centre)) > 0 and link.status()["state"] == "online", 120)
        central = central_templates(centre)
        sha = hashlib.sha256(photos["obama.jpg"].read_bytes()).hexdigest()
        assert {(no, digest) for _, no, digest, _, _ in central} == {("E001", sha)}
        assert all(name == f"fleet:{centre.terminals[0].device_id}" for *_, name in central)
        # the central rows replace the local ones (same photo): the local ids are the central ids
        wait_for(lambda: _local_templates(store) == sorted(t[0] for t in central), 60)
        assert link.queued_enrolments() == 0 and link.status()["pending"] == 0
        assert reloaded and reloaded[-1] == 1    # the gallery holds the one photo, under its central id
        with store.session() as s:
            assert s.scalars(select(FleetEnrolment)).all() == []
    finally:
        if link is not None:
            link.stop()
        if store is not None:
            store.dispose()
        cluster.close()


def _local_templates(store):
    with store.session() as s:
        return sorted(s.scalars(select(FaceTemplate.id)))


def test_a_standalone_terminal_runs_no_fleet_link(instance, make_config):
    from app.kiosk.runner import fleet_services

    config = make_config()
    assert config.fleet.database_url == ""
    assert fleet_services(object(), config, instance) == []   # touches nothing of the terminal
    assert load_config(instance).fleet.poll_s == 5.0

"""Stranger and spoof records from a running terminal (issue 25): a face nobody enrolled, and a
flat picture liveness refuses, each give ONE record with a snapshot, however long they stay in
front of the camera; each punch and each refused face is one INFO line."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from loguru import logger
from sqlalchemy import select

from tests.helpers.waiting import wait_for


@pytest.fixture
def log_lines():
    lines: list[str] = []
    sink = logger.add(lambda m: lines.append(str(m)), level="INFO", format="{level} {message}")
    yield lines
    logger.remove(sink)


def _records(terminal):
    from app.store import FaceEvent

    with terminal.store.session() as s:
        return s.execute(select(FaceEvent.kind, FaceEvent.reason, FaceEvent.snapshot_file)).all()


def test_a_stranger_in_front_of_the_camera_is_one_record_with_a_snapshot(terminal_for, scene, photos, log_lines):
    terminal = terminal_for(scene(photos["biden.jpg"]))   # only obama.jpg is enrolled
    wait_for(lambda: len(_records(terminal)) >= 1, timeout=90)
    seen = terminal.worker.processed
    wait_for(lambda: terminal.worker.processed >= seen + 60, timeout=120)   # the person keeps standing there
    records = _records(terminal)
    assert [(k, r) for k, r, _ in records] == [("stranger", "below_threshold")], records
    picture = cv2.imdecode(np.fromfile(terminal.instance.snapshots_dir / records[0][2], np.uint8), cv2.IMREAD_COLOR)
    assert picture is not None and picture.shape[0] >= 80   # the face, cropped with some context
    refused = [line for line in log_lines if "refused face: stranger" in line]
    assert len(refused) == 1 and refused[0].startswith("INFO ")


def test_records_off_keeps_nothing(terminal_for, scene, photos):
    terminal = terminal_for(scene(photos["biden.jpg"]), records={"face_events": False})
    seen = terminal.worker.processed
    wait_for(lambda: terminal.worker.processed >= seen + 60, timeout=120)
    assert terminal.descriptors_computed > 0 and _records(terminal) == []
    terminal.change_setting("records.face_events", True, actor="test")   # on again, live
    wait_for(lambda: len(_records(terminal)) == 1, timeout=90)


def test_a_flat_picture_liveness_refuses_is_one_spoof_record(terminal_for, scene, photos):
    terminal = terminal_for(scene(photos["obama2.jpg"], fps=30, drift=1.0), liveness={"level": "normal"})
    wait_for(lambda: any(k == "spoof" for k, _, _ in _records(terminal)), timeout=90)
    seen = terminal.worker.processed
    wait_for(lambda: terminal.worker.processed >= seen + 60, timeout=120)
    spoofs = [r for r in _records(terminal) if r[0] == "spoof"]
    assert len(spoofs) == 1 and spoofs[0][2] is not None


def test_each_punch_is_one_info_line(terminal_for, scene, photos, log_lines):
    terminal = terminal_for(scene(photos["obama2.jpg"]))
    card = terminal.cards.card(1)
    assert terminal.confirm(card, 0.97).result(timeout=60).recorded
    assert not terminal.confirm(card, 0.97).result(timeout=60).recorded   # within the repeat window
    punches = [line for line in log_lines if " punch: E001 奥巴马 at " in f" {line}"]
    assert len(punches) == 2 and all(line.startswith("INFO ") for line in punches)
    assert "already punched" in punches[1] and "already" not in punches[0]

"""Stranger and spoof records (issue 25): which faces the terminal keeps (one per person in front of
the camera), the records written with their snapshot, and their retention."""

from __future__ import annotations

import datetime as dt

import cv2
import numpy as np
import pytest
from sqlalchemy import select

from app.services.face_events import FaceEventRecorder
from app.vision.decision import Recognition
from app.vision.liveness import LIVE, SPOOF, LivenessResult
from app.vision.pipeline import FrameResult, TrackView
from app.vision.quality import Quality

GOOD = Quality(True, None, 1.0, 200.0, True, 0.0, 0.8, 0.0, 120.0, 40.0, 80.0)


def _view(track_id: int, *, known: bool = False, reason: str = "below_threshold", observations: int = 3,
          liveness: str | None = None) -> TrackView:
    rec = Recognition(7 if known else None, 7, 0.41 if not known else 0.97, 0.1, 1, observations,
                      "accepted" if known else reason)
    live = None if liveness is None else LivenessResult(liveness, "texture" if liveness == SPOOF else "size_fits", 5)
    return TrackView(track_id, (100.0, 80.0, 300.0, 300.0), np.zeros((5, 2)), GOOD, rec, True, 0, live)


def _frame(*views: TrackView, index: int = 0) -> FrameResult:
    return FrameResult(index, 0.0, True, list(views))


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def recorder(store, instance):
    clock = Clock()
    rec = FaceEventRecorder(store, instance.snapshots_dir, device_id="t1", timezone="Asia/Shanghai",
                            gap_seconds=10, monotonic=clock)
    rec.clock = clock
    return rec


def test_a_stranger_standing_in_front_of_the_camera_is_one_record(recorder):
    """300 frames of one unknown track, then the tracker losing and finding the same face under new
    ids within the gap: one record. After the gap a new face is a new record."""
    picked = [f for i in range(300) for f in recorder.pick(_frame(_view(1), index=i))]
    assert [(f.kind, f.track_id, f.reason, f.candidate_staff_id) for f in picked] == [("stranger", 1, "below_threshold", 7)]
    recorder.clock.t += 3
    assert recorder.pick(_frame(_view(2))) == [] and recorder.pick(_frame(_view(3))) == []
    recorder.clock.t += 11
    assert [f.track_id for f in recorder.pick(_frame(_view(4)))] == [4]


def test_one_record_per_presence_even_when_the_tracker_keeps_making_new_tracks(recorder):
    """Faces in view every 5 s for ten minutes, a new track id each time (a photo whose liveness
    check restarts with each track): one record of each kind until nobody was seen for the gap."""
    picked = []
    for i in range(120):
        recorder.clock.t += 5
        picked += recorder.pick(_frame(_view(100 + i, liveness=SPOOF if i % 2 else None)))
    assert sorted(f.kind for f in picked) == ["spoof", "stranger"]
    recorder.clock.t += 10   # nobody in view for 10 s: the next face is a new presence
    assert [f.kind for f in recorder.pick(_frame(_view(500)))] == ["stranger"]


def test_known_faces_undecided_faces_and_checking_faces_are_not_strangers(recorder):
    assert recorder.pick(_frame(_view(1, known=True))) == []
    assert recorder.pick(_frame(_view(1, known=False))) == []   # recognised once: never a stranger after
    assert recorder.pick(_frame(_view(2, observations=1))) == []   # one descriptor is too few to say
    assert recorder.pick(_frame(_view(3, reason="low_margin"))) == []
    assert recorder.pick(_frame(_view(4, liveness="checking"))) == []   # liveness still deciding
    assert [f.kind for f in recorder.pick(_frame(_view(5, liveness=LIVE)))] == ["stranger"]


def test_a_spoof_is_recorded_once_per_track_and_off_means_nothing(recorder, loguru_to_this_test):
    # recognised while liveness still checks, then refused: a spoof (the kiosk's flat-photo case)
    assert recorder.pick(_frame(_view(1, known=True, liveness="checking"))) == []
    views = [_view(1, known=True, liveness=SPOOF)]
    picked = [f for _ in range(50) for f in recorder.pick(_frame(*views))]
    assert [(f.kind, f.reason, f.candidate_staff_id) for f in picked] == [("spoof", "texture", 7)]
    recorder.enabled = False
    recorder.clock.t += 60
    recorder.pick(_frame())   # nobody in view
    from loguru import logger

    lines: list[str] = []
    sink = logger.add(lambda m: lines.append(str(m)), level="INFO", format="{level} {message}")
    try:
        assert recorder.pick(_frame(_view(9, liveness=SPOOF), _view(10))) == []
    finally:
        logger.remove(sink)
    # nothing kept, but each refused face is still one INFO line
    assert sorted(line.split(" (")[0] for line in lines) == ["INFO refused face: spoof", "INFO refused face: stranger"]
    assert all("not kept" in line for line in lines)
    recorder.enabled = True   # turned on again while the same faces are in view: they are recorded now
    assert sorted(f.kind for f in recorder.pick(_frame(_view(9, liveness=SPOOF), _view(10)))) == ["spoof", "stranger"]


def test_a_record_is_stored_with_its_snapshot_in_the_terminal_zone(recorder, store, instance):
    from app.store import FaceEvent, Staff

    with store.session() as s:
        s.add(Staff(id=7, staff_no="E007", name="七号"))

    recorder._clock = lambda: dt.datetime(2026, 12, 4, 17, 30, tzinfo=dt.UTC)   # 01:30 next day in Shanghai
    (face,) = recorder.pick(_frame(_view(1)))
    ok, jpeg = cv2.imencode(".jpg", np.full((64, 64, 3), 128, np.uint8))
    event_id = recorder.write(jpeg.tobytes(), face)
    with store.session() as s:
        row = s.get(FaceEvent, event_id)
    assert (row.kind, row.local_date, row.device_id, row.reason) == ("stranger", dt.date(2026, 12, 5), "t1",
                                                                     "below_threshold")
    assert row.snapshot_file.startswith("2026-12-05/stranger-") and row.candidate_staff_id == 7
    assert (instance.snapshots_dir / row.snapshot_file).read_bytes() == jpeg.tobytes()


def test_a_full_disk_loses_the_picture_not_the_record(store, instance, tmpfs):
    from app.store import FaceEvent

    with open(tmpfs / "fill", "wb") as fh:   # fill the 3 MB disk
        try:
            while True:
                fh.write(b"\0" * 65536)
        except OSError:
            pass
    rec = FaceEventRecorder(store, tmpfs / "snapshots", device_id="t1", timezone="UTC")
    (face,) = rec.pick(_frame(_view(1)))
    event_id = rec.write(b"\xff\xd8" + b"\0" * 200_000, face)
    with store.session() as s:
        row = s.get(FaceEvent, event_id)
    # no picture; and the closest person (id 7) is not in this library: no link to a deleted person
    assert row.snapshot_file is None and row.candidate_staff_id is None
    assert not any(p.is_file() for p in (tmpfs / "snapshots").rglob("*"))


def test_retention_deletes_old_records_and_their_snapshots_even_when_punches_are_kept(store, instance):
    from app.attendance.retention import RetentionService
    from app.store import FaceEvent

    now = dt.datetime(2026, 12, 5, 3, 30, tzinfo=dt.UTC)
    names = {}
    for age in (40, 29, 1):
        at = (now - dt.timedelta(days=age)).replace(tzinfo=None)
        name = f"{at.date().isoformat()}/stranger-{age}.jpg"
        (instance.snapshots_dir / name).parent.mkdir(parents=True, exist_ok=True)
        (instance.snapshots_dir / name).write_bytes(b"jpeg")
        names[age] = name
        with store.session() as s:
            s.add(FaceEvent(at=at, local_date=at.date(), kind="stranger", device_id="t", track_id=age,
                            reason="below_threshold", snapshot_file=name))
    keep_all = RetentionService(store, instance.snapshots_dir, days=0, event_days=0, clock=lambda: now)
    keep_all.run()
    with store.session() as s:
        assert len(s.scalars(select(FaceEvent.id)).all()) == 3
    service = RetentionService(store, instance.snapshots_dir, days=0, event_days=30, clock=lambda: now)
    service.run()
    with store.session() as s:
        assert sorted(s.scalars(select(FaceEvent.track_id)).all()) == [1, 29]
    assert not (instance.snapshots_dir / names[40]).exists()
    assert not (instance.snapshots_dir / names[40]).parent.exists()   # the emptied day folder too
    assert (instance.snapshots_dir / names[29]).exists()


def test_the_retention_job_runs_for_records_alone(make_config):
    from app.attendance.scheduler import RETENTION_JOB, job_specs

    both = {s.id: s for s in job_specs(make_config(storage={"retention_days": 0}))}
    assert "stranger/spoof records older than 30 days" in both[RETENTION_JOB].description
    assert RETENTION_JOB not in {s.id for s in job_specs(make_config(storage={"retention_days": 0},
                                                                     records={"face_event_days": 0}))}

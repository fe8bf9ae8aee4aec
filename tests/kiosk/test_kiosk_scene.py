"""The kiosk tests' camera scene holds still enough for a loaded machine: the portrait sways
slowly (SCENE_DRIFT), so a terminal that processes one frame a second still follows the face
with one track that names the person, and a confirm card is not taken back mid-test."""

from __future__ import annotations

from sqlalchemy import select

from app.hardware.camera_url import parse_camera_source
from app.hardware.sources import SyntheticSource
from app.store import Staff


def test_one_frame_a_second_still_follows_the_face_as_one_named_track(terminal_for, photos, scene):
    terminal = terminal_for("none")     # its pipeline, fed here by hand
    spec = parse_camera_source(scene(photos["obama2.jpg"]))
    source = SyntheticSource(spec)
    source.open()
    seen = []
    for n in range(0, 20 * spec.fps, spec.fps):    # 20 s of the scene, one frame a second
        result = terminal.pipeline.process(source.frame_at(n), timestamp=n / spec.fps)
        seen.append([(t.track_id, t.staff_id) for t in result.tracks])
    assert all(len(tracks) == 1 for tracks in seen), seen
    assert len({tracks[0][0] for tracks in seen}) == 1, seen      # never lost and started over
    with terminal.store.session() as s:
        e001 = s.execute(select(Staff.id).where(Staff.staff_no == "E001")).scalar_one()
    assert {tracks[0][1] for tracks in seen[2:]} == {e001}, seen    # named once it has its observations

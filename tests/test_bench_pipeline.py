"""`daka bench pipeline` machinery on a short synthesised clip (correctness only, no timing asserts)."""

from __future__ import annotations

import pytest

from app import native
from app.bench.clip import WalkUpClip, find_actor
from app.bench.pipeline import Ours, Scene, realtime_latency, throughput


@pytest.fixture(scope="module")
def scene(frames, models):
    detector = native.FaceDetector()
    heads = native.LandmarkModel(str(models.path("shape_predictor_5_face_landmarks")))   # heads with depth
    actors = [find_actor("obama", frames["obama2.jpg"], detector, heads),
              find_actor("biden", frames["biden.jpg"], detector, heads)]
    clip = WalkUpClip(actors, 960, 540, episode_frames=40, gap=5)
    episodes = [(clip.entered(ep), ep.start + ep.frames, ep.actor.name) for ep in clip.episodes]
    enrol = {"obama": [frames["obama.jpg"]], "biden": [frames["biden.jpg"]]}
    return Scene(list(clip), clip.fps, enrol, episodes, "test clip")


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    from app.config import load_config
    from app.instance import Instance

    return load_config(Instance.resolve(str(tmp_path_factory.mktemp("inst"))))


def test_clip_truth_enters_inside_the_frame(scene):
    for enter, end, _ in scene.episodes:
        assert enter < end
    assert len(scene.frames) == 5 + 2 * 45


def test_replay_identifies_every_episode(models, config, scene):
    ours = Ours(models, config, scene.enrol)
    out = realtime_latency(ours, scene)
    assert out["identified"] == out["episodes"] == 2
    assert all(x >= 0 for x in out["latency_ms"])
    stats = throughput(ours, scene.frames, repeat=1)
    assert stats["frames"] == len(scene.frames) and stats["frames_per_s"] > 0


def test_baseline_follows_the_readme_every_other_frame(scene):
    fr = pytest.importorskip("face_recognition")
    from app.bench.pipeline import FaceRecognitionWebcam

    base = FaceRecognitionWebcam(scene.enrol)
    calls = []
    real = fr.face_locations
    base.fr = type("Spy", (), {"face_locations": staticmethod(lambda img: calls.append(1) or real(img)),
                               "face_encodings": staticmethod(fr.face_encodings),
                               "face_distance": staticmethod(fr.face_distance)})
    for frame in scene.frames[:6]:
        base.process(frame)
    assert len(calls) == 3

"""The vision pipeline on frames synthesised from real photos: tracking, scheduling, quality, decisions."""

from __future__ import annotations

import threading

import cv2
import numpy as np
import pytest

from app import native
from app.bench.clip import WalkUpClip, background, find_actor
from app.vision.decision import DecisionRule, TrackEvidence, decide
from app.vision.embedders import DlibEmbedder
from app.vision.gallery import FaceGallery
from app.vision.pipeline import PipelineSettings, VisionPipeline
from app.vision.scene_change import changed_box, thumbnail
from app.vision.tracking import FaceTracker, iou
from app.hardware.frames import FrameSlot
from app.vision.worker import VisionWorker

from tests.helpers.vision_scenes import BIDEN, OBAMA, RULE, make_gallery, place


class CountingDetector:
    """The real detector, counting its calls."""

    def __init__(self):
        self.inner = native.FaceDetector()
        self.calls = 0
        self.shapes = []

        self.min_faces = []

    def detect(self, frame, **kwargs):
        self.calls += 1
        self.shapes.append(frame.shape[:2])
        self.min_faces.append(kwargs.get("min_face", 0))
        return self.inner.detect(frame, **kwargs)


class CountingLandmarks:
    """The real landmark model, counting the boxes it is asked about."""

    def __init__(self, inner):
        self.inner = inner
        self.boxes = 0

    def predict(self, frame, boxes):
        self.boxes += len(boxes)
        return self.inner.predict(frame, boxes)


@pytest.fixture(scope="module")
def actors(frames):
    detector = native.FaceDetector()
    return {name: find_actor(name, frames[name], detector) for name in frames}


def make_pipeline(parts, gallery, rule=RULE, **settings):
    landmarks, embedder = parts
    detector = CountingDetector()
    pipeline = VisionPipeline(detector, landmarks, embedder, gallery, rule, PipelineSettings(**settings))
    return pipeline, detector


# --- tracking ---------------------------------------------------------------------------------


def test_iou_of_boxes():
    a = np.array([[0, 0, 9, 9]])
    assert iou(a, a)[0, 0] == pytest.approx(1.0)
    assert iou(a, np.array([[5, 0, 14, 9]]))[0, 0] == pytest.approx(50 / 150)
    assert iou(a, np.array([[20, 20, 29, 29]]))[0, 0] == 0.0


def test_tracker_keeps_ids_and_expires():
    tracker = FaceTracker(min_iou=0.3, max_missed=1)
    lm = np.zeros((1, 5, 2), np.float32)
    opened = tracker.update(0, np.array([[100, 100, 199, 199]]), lm)
    first = opened[0].id
    assert tracker.update(1, np.array([[110, 105, 209, 204]]), lm) == []
    assert [t.id for t in tracker.tracks] == [first]
    tracker.update(2, np.zeros((0, 4)), lm[:0])      # missed once: kept
    assert [t.id for t in tracker.tracks] == [first]
    tracker.update(3, np.zeros((0, 4)), lm[:0])      # missed twice: expired
    assert tracker.tracks == []
    again = tracker.update(4, np.array([[110, 105, 209, 204]]), lm)
    assert again[0].id != first


def test_moving_face_keeps_one_track_and_is_followed(parts, actors, gallery_vectors):
    pipeline, detector = make_pipeline(parts, make_gallery(gallery_vectors), detect_every_n_frames=5)
    ids, centres = set(), []
    for k in range(20):
        frame = place(actors["obama2.jpg"], centre=(200 + 8 * k, 230))
        result = pipeline.process(frame)
        assert len(result.tracks) == 1
        ids.add(result.tracks[0].track_id)
        box = result.tracks[0].box
        centres.append((box[0] + box[2]) / 2)
    assert len(ids) == 1
    # followed between detections: the box centre moves with the face (8 px a frame)
    assert centres[-1] - centres[0] == pytest.approx(8 * 19, abs=20)
    # one detection on the first frame, then every 5th frame
    assert detector.calls == 4


def test_following_a_still_face_keeps_its_box_size(parts, actors, gallery_vectors):
    """Regression: a box a bit too large spread the landmarks, which grew the box frame after frame."""
    pipeline, detector = make_pipeline(parts, make_gallery(gallery_vectors), detect_every_n_frames=60)
    frame = place(actors["obama3.jpg"], face_px=180)
    widths = []
    for _ in range(30):
        box = pipeline.process(frame).tracks[0].box
        widths.append(box[2] - box[0])
    assert detector.calls == 1
    assert max(widths) / widths[0] < 1.1 and min(widths) / widths[0] > 0.9


def test_a_moving_face_is_looked_for_where_its_motion_takes_it(parts, actors, gallery_vectors):
    """Following starts from the box moved as the face moved over the last frame: one landmark call."""
    landmarks, embedder = parts
    counting = CountingLandmarks(landmarks)
    pipeline = VisionPipeline(CountingDetector(), counting, embedder, make_gallery(gallery_vectors), RULE,
                              PipelineSettings(detect_every_n_frames=60))
    centres, calls = [], []
    for k in range(16):
        before = counting.boxes
        view = pipeline.process(place(actors["obama2.jpg"], centre=(150 + 20 * k, 230))).tracks[0]
        calls.append(counting.boxes - before)
        centres.append((view.box[0] + view.box[2]) / 2)
    # 20 px a frame is too far for one look from the last box; from the predicted box it is not
    assert calls[1] == 2 and calls[3:] == [1] * 13
    assert np.diff(centres)[2:] == pytest.approx([20] * 13, abs=4)


def test_around_a_tracked_face_the_detector_searches_at_its_size(parts, actors, gallery_vectors):
    pipeline, detector = make_pipeline(parts, make_gallery(gallery_vectors), detect_every_n_frames=5,
                                       full_detect_every_n_passes=10)
    still = background(1280, 720)
    frame = place(actors["obama3.jpg"], 1280, 720, centre=(640, 360), face_px=220, base=still)
    first = pipeline.process(frame).tracks[0]
    for _ in range(5):
        view = pipeline.process(frame).tracks[0]
    assert detector.calls == 2 and detector.shapes[0] == (720, 1280)
    h, w = detector.shapes[1]
    assert h * w < 0.4 * 720 * 1280                                      # around the face only
    assert detector.min_faces[1] >= 0.7 * (first.box[2] - first.box[0]) - 1 > 100   # coarser than min_face_px
    assert view.track_id == first.track_id and view.staff_id == OBAMA
    assert pipeline.tracks[0].last_detected_frame == 5                    # the pass confirmed the track


def test_a_smaller_face_appearing_beside_a_tracked_one_is_found(parts, actors, gallery_vectors):
    pipeline, detector = make_pipeline(parts, make_gallery(gallery_vectors), detect_every_n_frames=5,
                                       full_detect_every_n_passes=10)
    still = background(1280, 720)
    one = place(actors["obama3.jpg"], 1280, 720, centre=(400, 360), face_px=240, base=still)
    for _ in range(5):
        pipeline.process(one)
    two = place(actors["biden.jpg"], 1280, 720, centre=(1000, 360), face_px=120, base=one)
    result = pipeline.process(two)
    # one pass, two searches: the changed region at min_face_px, around the tracked face coarser
    assert detector.calls == 3 and (720, 1280) not in detector.shapes[1:]
    assert sorted(detector.min_faces[1:])[0] == 100 and sorted(detector.min_faces[1:])[1] > 150
    assert len(result.tracks) == 2
    new = max(result.tracks, key=lambda v: v.box[0])
    assert abs((new.box[0] + new.box[2]) / 2 - 1000) < 30 and new.box[2] - new.box[0] < 160


def test_changed_box_ignores_cells_inside_excluded_boxes():
    before = np.zeros((720, 1280, 3), np.uint8)
    after = before.copy()
    after[100:300, 100:300] = 200      # inside the excluded box
    after[600:700, 1000:1100] = 200    # outside it
    kw = dict(level=12, frame_shape=after.shape)
    t0, t1 = thumbnail(before), thumbnail(after)
    everything = changed_box(t1, t0, **kw)
    assert everything[0] <= 100 and everything[2] >= 1099
    outside = changed_box(t1, t0, exclude=[np.array([50.0, 50.0, 350.0, 350.0])], **kw)
    assert outside[0] >= 980 and outside[1] >= 580 and outside[2] <= 1120
    # a box covering only part of a changed cell (20x20 px here) does not hide that cell
    partial = changed_box(t1, t0, exclude=[np.array([110.0, 110.0, 310.0, 310.0])], **kw)
    np.testing.assert_array_equal(partial, everything)
    assert everything[0] == 100 and everything[1] == 100
    assert changed_box(t1, t0, exclude=[np.array([0.0, 0.0, 1279.0, 719.0])], **kw) is None


def test_thumbnail_is_cell_means_of_every_fourth_pixel():
    rng = np.random.default_rng(3)
    frame = rng.integers(0, 256, (720, 1280, 3), dtype=np.uint8)
    expected = cv2.resize(np.ascontiguousarray(frame[::4, ::4]), (64, 36), interpolation=cv2.INTER_AREA)
    np.testing.assert_array_equal(thumbnail(frame), expected)


def test_with_nobody_in_view_the_detector_searches_only_what_moved(parts, gallery_vectors):
    pipeline, detector = make_pipeline(parts, make_gallery(gallery_vectors), detect_every_n_frames=5,
                                       full_detect_every_n_passes=20)
    still = background(640, 480)
    for _ in range(11):
        assert pipeline.process(still).tracks == []
    assert detector.calls == 1 and detector.shapes == [(480, 640)]   # one full pass, then nothing moved
    moving = still.copy()
    for k in range(6):                              # something (not a face) moves: searched every frame
        moving[100:200, 40 * k:40 * k + 40] = 255
        pipeline.process(moving.copy())
    assert detector.calls == 1 + 6
    # ... only around the change (the 40x100 patch plus a face width on each side)
    assert all(h * w < 0.5 * 480 * 640 for h, w in detector.shapes[1:])


def test_a_full_frame_pass_comes_every_few_passes(parts, gallery_vectors):
    pipeline, detector = make_pipeline(parts, make_gallery(gallery_vectors), detect_every_n_frames=5,
                                       full_detect_every_n_passes=2)
    still = background(640, 480)
    for _ in range(16):
        pipeline.process(still)
    assert detector.shapes == [(480, 640), (480, 640)]    # frames 0 and 15; 5 and 10 had nothing new


def test_a_face_appearing_is_found_in_the_changed_region(parts, actors, gallery_vectors):
    pipeline, detector = make_pipeline(parts, make_gallery(gallery_vectors), detect_every_n_frames=5)
    still = background(1280, 720)
    pipeline.process(still)
    frame = place(actors["obama2.jpg"], 1280, 720, centre=(900, 360), face_px=130, base=still)
    view = pipeline.process(frame).tracks[0]
    assert detector.shapes[-1] != (720, 1280)           # a region, not the whole frame
    true = np.array([900 - 65, 360 - 65, 900 + 65, 360 + 65])
    assert iou(np.array(view.box), true)[0, 0] > 0.5    # boxes come back in frame coordinates


def test_without_the_motion_gate_the_detector_runs_every_idle_frame(parts, gallery_vectors):
    pipeline, detector = make_pipeline(parts, make_gallery(gallery_vectors), idle_motion_level=0)
    still = background(640, 480)
    for _ in range(7):
        pipeline.process(still)
    assert detector.calls == 7


def test_two_people_get_two_tracks_and_their_identities(parts, actors, gallery_vectors):
    pipeline, _ = make_pipeline(parts, make_gallery(gallery_vectors))
    frame = place(actors["obama2.jpg"], centre=(170, 230), face_px=140)
    frame = place(actors["biden.jpg"], centre=(470, 230), face_px=140, base=frame)
    for _ in range(3):
        result = pipeline.process(frame)
    by_x = sorted(result.tracks, key=lambda v: v.box[0])
    assert len(by_x) == 2 and by_x[0].track_id != by_x[1].track_id
    assert [v.staff_id for v in by_x] == [OBAMA, BIDEN]


def test_face_leaving_expires_its_track_and_returning_opens_a_new_one(parts, actors, gallery_vectors):
    pipeline, _ = make_pipeline(parts, make_gallery(gallery_vectors), detect_every_n_frames=3)
    frame = place(actors["obama3.jpg"])
    first = pipeline.process(frame).tracks[0].track_id
    empty = background(640, 480)
    for _ in range(8):
        result = pipeline.process(empty)
    assert result.tracks == []
    assert pipeline.process(frame).tracks[0].track_id != first


def test_a_track_missed_by_a_detection_pass_names_nobody(parts, actors, gallery_vectors):
    """Regression: a face that left kept lending its name to a track following the background."""
    pipeline, _ = make_pipeline(parts, make_gallery(gallery_vectors), detect_every_n_frames=5)
    face = place(actors["obama2.jpg"])
    assert [pipeline.process(face).tracks[0].staff_id for _ in range(3)][-1] == OBAMA
    empty = background(640, 480)
    views = [pipeline.process(empty).tracks for _ in range(8)]   # frames 3..10; passes at 5 and 10
    after_pass = [v for frame_views in views[2:] for v in frame_views]
    assert all(v.staff_id is None for v in after_pass)
    assert views[-1] == []                                        # expired at the second pass


# --- recognition schedule ------------------------------------------------------------------------


def test_recognises_once_per_track_not_every_frame(parts, actors, gallery_vectors):
    pipeline, _ = make_pipeline(parts, make_gallery(gallery_vectors), recognize_stale_frames=40)
    frame = place(actors["obama2.jpg"])
    recognised_on = [k for k in range(60) if pipeline.process(frame).recognised]
    # first view, the second observation for the agreement rule, then once stale (40 frames on)
    assert recognised_on == [0, 1, 41]
    assert pipeline.tracks[0].recognition.staff_id == OBAMA


def test_a_clearly_better_view_is_recognised_again(parts, actors, gallery_vectors):
    pipeline, _ = make_pipeline(parts, make_gallery(gallery_vectors), recognize_stale_frames=1000,
                                better_view_factor=1.3)
    recognised_on = []
    for k in range(30):   # walking up: 110 px to 255 px, quality grows with size
        result = pipeline.process(place(actors["obama2.jpg"], face_px=110 + 5 * k))
        if result.recognised:
            recognised_on.append(k)
    assert recognised_on[:2] == [0, 1]
    assert 3 <= len(recognised_on) <= 6          # again for better views, but not every frame
    assert len(pipeline.tracks) == 1 and pipeline.tracks[0].recognition.staff_id == OBAMA


def test_identity_known_on_the_second_frame_with_two_observations(parts, actors, gallery_vectors):
    pipeline, _ = make_pipeline(parts, make_gallery(gallery_vectors))
    frame = place(actors["biden.jpg"])
    first, second = pipeline.process(frame).tracks[0], pipeline.process(frame).tracks[0]
    assert first.recognition.reason == "few_observations" and first.staff_id is None
    assert second.staff_id == BIDEN and second.recognition.agreeing == 2


# --- quality gate -----------------------------------------------------------------------------------


@pytest.mark.parametrize("change, reason", [
    (lambda f, a: place(a, centre=(40, 230)), "partial"),
    (lambda f, a: place(a, face_px=80), "too_small"),
    (lambda f, a: (f * 0.12).astype(np.uint8), "too_dark"),
    (lambda f, a: cv2.GaussianBlur(f, (0, 0), 4), "blurry"),
])
def test_quality_gate_blocks_recognition_with_a_reason(parts, actors, gallery_vectors, change, reason):
    actor = actors["obama2.jpg"]
    pipeline, _ = make_pipeline(parts, make_gallery(gallery_vectors), min_face_px=60)
    pipeline.quality = type(pipeline.quality)(min_face_px=100)
    frame = change(place(actor), actor)
    results = [pipeline.process(frame) for _ in range(3)]
    views = [v for r in results for v in r.tracks]
    assert views, "the face should still be detected and tracked"
    assert all(v.quality.reason == reason and v.recognition is None for v in views)
    assert all(r.recognised == 0 for r in results)
    assert views[0].quality.message("zh_CN") and views[0].quality.message("en")


def test_profile_turned_face_is_not_frontal(parts, gallery_vectors, photos):
    from app.vision.quality import assess

    # a mirrored-and-stretched half face gives a strong yaw from the 5 points
    landmarks, embedder = parts
    frame = cv2.imdecode(np.fromfile(photos["obama.jpg"], np.uint8), cv2.IMREAD_COLOR)
    boxes, _, _ = native.FaceDetector().detect(frame, downscale=0, min_face=80)
    shape = landmarks.predict(frame, boxes[:1])[0].copy()
    eye_line = shape[0:2].mean(0) - shape[2:4].mean(0)
    shape[4] += 0.5 * eye_line   # nose far off the eye midpoint
    chip = embedder.chips(frame, shape[None])[0]
    assert assess(frame.shape, boxes[0], shape, chip).reason == "not_frontal"


# --- decision rules -------------------------------------------------------------------------------


def test_unenrolled_person_is_unknown(parts, actors, gallery_vectors):
    gallery = FaceGallery()
    gallery.add(10, OBAMA, gallery_vectors["obama.jpg"])
    pipeline, _ = make_pipeline(parts, gallery)
    frame = place(actors["biden.jpg"])
    for _ in range(4):
        view = pipeline.process(frame).tracks[0]
    assert view.staff_id is None
    assert view.recognition.reason == "below_threshold" and view.recognition.candidate_id == OBAMA


def test_two_similar_enrolled_people_fail_the_margin(parts, actors, gallery_vectors):
    gallery = make_gallery(gallery_vectors)
    gallery.add(30, 3, gallery_vectors["obama.jpg"] * 0.999 + 0.001 * gallery_vectors["biden.jpg"])
    pipeline, _ = make_pipeline(parts, gallery)
    frame = place(actors["obama2.jpg"])
    for _ in range(3):
        view = pipeline.process(frame).tracks[0]
    assert view.staff_id is None and view.recognition.reason == "low_margin"
    assert view.recognition.margin < RULE.margin


def test_empty_gallery_reports_unknown(parts, actors):
    pipeline, _ = make_pipeline(parts, FaceGallery())
    view = pipeline.process(place(actors["obama2.jpg"])).tracks[0]
    assert view.recognition.reason == "empty_gallery" and view.staff_id is None


def test_agreement_counts_observations_of_the_same_person(gallery_vectors):
    gallery = make_gallery(gallery_vectors)
    evidence = TrackEvidence()
    rule = DecisionRule(threshold=0.5, margin=0.0, min_observations=3)
    evidence.add(gallery_vectors["obama.jpg"], 1.0, OBAMA)
    evidence.add(gallery_vectors["obama.jpg"], 1.0, BIDEN)   # one observation disagreed
    evidence.add(gallery_vectors["obama.jpg"], 1.0, OBAMA)
    decision = decide(gallery, evidence, rule)
    assert decision.reason == "few_observations" and decision.agreeing == 2
    evidence.add(gallery_vectors["obama.jpg"], 1.0, OBAMA)
    assert decide(gallery, evidence, rule).staff_id == OBAMA


def test_aggregate_is_the_quality_weighted_mean_direction():
    evidence = TrackEvidence(capacity=3)
    a, b = np.eye(128, dtype=np.float32)[0], np.eye(128, dtype=np.float32)[1]
    evidence.add(a * 5, 3.0, None)
    evidence.add(b, 1.0, None)
    agg = evidence.aggregate()
    assert np.linalg.norm(agg) == pytest.approx(1.0)
    assert agg[0] / agg[1] == pytest.approx(3.0)
    for _ in range(3):
        evidence.add(b, 1.0, None)   # capacity: the oldest view falls out
    assert evidence.aggregate()[0] == pytest.approx(0.0)


def test_flip_augmentation_is_the_mean_of_chip_and_mirror(parts, frames):
    landmarks, embedder = parts
    plain = DlibEmbedder(embedder.descriptor, flip=False)
    frame = frames["obama.jpg"]
    boxes, _, _ = native.FaceDetector().detect(frame, downscale=0, min_face=80)
    shape = landmarks.predict(frame, boxes[:1])
    chips = plain.chips(frame, shape)
    one = plain.embed_chips(chips)[0]
    mirror = plain.embed_chips(np.ascontiguousarray(chips[:, :, ::-1]))[0]
    both = embedder.embed(frame, shape)[0]
    expected = (one + mirror) / np.linalg.norm(one + mirror)
    assert np.allclose(both, expected, atol=1e-5)
    assert embedder.model_id != plain.model_id


# --- worker and latest-frame slot -------------------------------------------------------------


def test_slot_keeps_only_the_newest_frame():
    """The worker's slot is the camera's FrameSlot (one latest-frame buffer in the code base)."""
    slot = FrameSlot()
    for k in range(3):
        slot.put(np.full((2, 2, 3), k, np.uint8))
    item = slot.get(timeout=0)
    assert item.frame[0, 0, 0] == 2 and item.seq == 3 and slot.dropped == 2
    assert slot.get(timeout=0.01) is None
    slot.close()
    assert slot.closed and slot.get() is None   # a closed slot never blocks a taker


def test_worker_processes_a_slot_on_its_own_thread(parts, actors, gallery_vectors):
    pipeline, _ = make_pipeline(parts, make_gallery(gallery_vectors))
    slot = FrameSlot()
    results, seen = [], threading.Event()

    def on_result(result):
        results.append((threading.current_thread().name, result, worker.frame))
        if any(v.staff_id == OBAMA for v in result.tracks):
            seen.set()

    worker = VisionWorker(pipeline, slot, on_result)
    worker.start()
    frame = place(actors["obama3.jpg"])
    for k in range(400):   # up to 20 s on a loaded machine; normally done in a few frames
        slot.put(frame, ts=1000.0 + k)
        if seen.wait(0.05):
            break
    worker.stop()
    worker.join(5)
    assert not worker.is_alive() and worker.error is None
    assert seen.is_set()
    assert {name for name, _, _ in results} == {"vision"}
    # the capture time of each frame goes with it; on_result sees the frame it is about
    assert all(result.timestamp >= 1000.0 for _, result, _ in results)
    assert all(current is frame for _, _, current in results)


def test_worker_stops_while_its_camera_is_stopped():
    """A closed slot (the camera stopped) does not end the worker; stop() does."""
    slot = FrameSlot()
    slot.close()
    worker = VisionWorker(object(), slot)   # no frame comes: the pipeline is never called
    worker.start()
    worker.join(0.3)
    assert worker.is_alive()
    worker.stop()
    worker.join(5)
    assert not worker.is_alive() and worker.error is None and worker.processed == 0


def test_worker_over_an_iterable_reports_errors(parts, gallery_vectors):
    pipeline, _ = make_pipeline(parts, make_gallery(gallery_vectors))
    frames = [background(320, 240), np.zeros((10, 10), np.uint8)]  # the second is not BGR
    worker = VisionWorker(pipeline, iter(frames))
    worker.start()
    worker.join(10)
    assert worker.processed == 1 and worker.error is not None


def test_walk_up_clip_identities(parts, actors, gallery_vectors):
    """The synthesised clip: every person is identified soon after entering, with one track each."""
    clip = WalkUpClip([actors["obama2.jpg"], actors["biden.jpg"]], 640, 480, episode_frames=50, gap=6)
    for ep in clip.episodes:
        object.__setattr__(ep, "start_width", 110.0)
        object.__setattr__(ep, "end_width", 170.0)
    pipeline, _ = make_pipeline(parts, make_gallery(gallery_vectors))
    known_at, track_ids = {}, {}
    for k, frame in enumerate(clip):
        truth = clip.truth(k)
        for view in pipeline.process(frame).tracks:
            if truth and view.staff_id is not None:
                known_at.setdefault(truth[0], k)
                track_ids.setdefault(truth[0], set()).add(view.track_id)
    assert set(known_at) == {"obama2.jpg", "biden.jpg"}
    for ep in clip.episodes:
        assert known_at[ep.actor.name] - clip.entered(ep) <= 6
        assert len(track_ids[ep.actor.name]) == 1


# --- identity belongs to the face under the track --------------------------------------------------


def swap_views(pipeline, before, after, frames_before=6, frames_after=8):
    """The views of `before` shown a few frames, then `after` in the same spot from one frame on."""
    first = [pipeline.process(before).tracks for _ in range(frames_before)]
    second = [pipeline.process(after).tracks for _ in range(frames_after)]
    return first, second


def test_the_next_face_in_the_same_spot_never_gets_the_previous_name(parts, actors, gallery_vectors):
    """Regression (issue 23): the track kept obama's name on biden's face until it was stale."""
    pipeline, _ = make_pipeline(parts, make_gallery(gallery_vectors), detect_every_n_frames=10)
    first, second = swap_views(pipeline, place(actors["obama2.jpg"]), place(actors["biden.jpg"]))
    assert first[-1][0].staff_id == OBAMA
    obama_track = first[-1][0].track_id
    assert all(v.staff_id != OBAMA for views in second for v in views)
    assert all(v.track_id != obama_track for views in second for v in views)
    assert second[-1][0].staff_id == BIDEN and pipeline.renewed >= 1


def test_an_unenrolled_face_in_the_same_spot_is_unknown_not_the_previous_name(parts, actors, gallery_vectors):
    gallery = FaceGallery()
    gallery.add(10, OBAMA, gallery_vectors["obama.jpg"])   # biden is not enrolled
    pipeline, _ = make_pipeline(parts, gallery, detect_every_n_frames=10)
    first, second = swap_views(pipeline, place(actors["obama2.jpg"]), place(actors["biden.jpg"]))
    assert first[-1][0].staff_id == OBAMA
    assert all(v.staff_id is None for views in second for v in views)
    assert second[-1][0].recognition.reason in ("below_threshold", "low_margin")


def test_a_face_too_poor_to_recognise_starts_the_track_over(parts, actors, gallery_vectors):
    """No descriptor can vouch for a blurred face that does not look like the named one: no name."""
    pipeline, _ = make_pipeline(parts, make_gallery(gallery_vectors), detect_every_n_frames=10)
    blurred = cv2.GaussianBlur(place(actors["biden.jpg"]), (0, 0), 6)
    first, second = swap_views(pipeline, place(actors["obama2.jpg"]), blurred)
    assert first[-1][0].staff_id == OBAMA
    assert all(not v.quality.ok for views in second for v in views), "the test needs a poor view"
    assert all(v.staff_id is None and v.track_id != first[-1][0].track_id for views in second for v in views)


def test_a_scene_cut_ends_every_track(parts, actors, gallery_vectors):
    pipeline, _ = make_pipeline(parts, make_gallery(gallery_vectors), detect_every_n_frames=10)
    other_room = background(640, 480, seed=3)
    first, second = swap_views(pipeline, place(actors["obama2.jpg"]), place(actors["biden.jpg"], base=other_room))
    assert first[-1][0].staff_id == OBAMA and pipeline.cuts == 1
    assert all(v.staff_id != OBAMA for views in second for v in views)
    assert second[-1][0].staff_id == BIDEN


def test_one_face_keeps_its_track_and_name_while_it_turns_and_walks_up(parts, actors, gallery_vectors, models):
    """The look check asks the descriptor again when a face drifts; the same person stays one track."""
    heads = native.LandmarkModel(str(models.path("shape_predictor_5_face_landmarks")))
    actor = find_actor("obama", actors["obama2.jpg"].image, native.FaceDetector(), heads)
    clip = WalkUpClip([actor], 960, 540, episode_frames=60, gap=2)
    pipeline, _ = make_pipeline(parts, make_gallery(gallery_vectors))
    episode, named = clip.episodes[0], []
    leaves = episode.start + int(0.85 * (episode.frames - 1))   # from there it steps out of the picture
    for k, frame in enumerate(clip):
        views = pipeline.process(frame).tracks
        if clip.entered(episode) + 3 <= k < leaves:
            assert len(views) == 1
            named.append((views[0].track_id, views[0].staff_id))
    assert {staff for _, staff in named} == {OBAMA}, named
    assert len({track for track, _ in named}) == 1


def test_scene_cuts_of_the_development_video_are_found_and_nothing_else():
    """The cut rule on real footage (skipped without ../shared/data): three cuts, no false ones."""
    from pathlib import Path

    from app.bench.identity import DEVELOPMENT_SHOTS, development_video
    from app.vision.scene_change import cut

    found = development_video()
    if found is None:
        pytest.skip("no development video (../shared/data/extras/video)")
    settings = PipelineSettings()
    capture = cv2.VideoCapture(str(Path(found[0])))
    cuts, previous, k = [], None, 0
    try:
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            thumb = thumbnail(frame)
            if previous is not None and cut(thumb, previous, settings.scene_cut_level, settings.scene_cut_fraction,
                                            settings.scene_cut_everywhere):
                cuts.append(k)
            previous, k = thumb, k + 1
    finally:
        capture.release()
    assert cuts == [first for first, _, _ in DEVELOPMENT_SHOTS[1:]]


def test_the_same_person_looking_different_keeps_the_track_checked_by_a_quick_descriptor(parts, actors,
                                                                                          gallery_vectors):
    """Another photo of obama in the spot (another look, the same face): one quick, mirror-free
    dlib descriptor vouches for it; no full recognition, the track and its name stay."""
    pipeline, _ = make_pipeline(parts, make_gallery(gallery_vectors), detect_every_n_frames=10)
    first, second = swap_views(pipeline, place(actors["obama2.jpg"]), place(actors["obama3.jpg"]), frames_after=4)
    track = first[-1][0].track_id
    assert first[-1][0].staff_id == OBAMA
    assert [v.track_id for views in second for v in views] == [track] * 4
    assert all(v.staff_id == OBAMA for views in second for v in views)
    assert pipeline.quick_checks >= 1 and pipeline.renewed == 0
    assert not second[0][0].recognised_now, "a full recognition was spent on the same face"

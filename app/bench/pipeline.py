"""`daka bench pipeline`: the vision pipeline against face_recognition's webcam example, same frames.

Three measurements, for ours and for the baseline:
- throughput: every frame of the clip processed back to back; frames/s = frames / processing
  wall time, CPU time per frame from the process CPU clock (all threads);
- time to identity: a real-time replay. Frames arrive at the clip's frame rate into a
  latest-frame slot; the system takes the newest frame whenever it is free and spends its real,
  measured processing time on it. Latency = from the frame where a face is first fully in view
  to the moment a result naming the right person is ready;
- GIL: while the system runs on its own thread, a 1 ms ticker on another thread records how
  late it wakes up (a thread that holds the GIL delays it).

The baseline is face_recognition 1.3 the way its README's `facerec_from_webcam_faster.py` does
it: every other frame, resized to 1/4, HOG `face_locations`, `face_encodings`, the known face
with the smallest `face_distance` if within tolerance 0.6.
"""

from __future__ import annotations

import statistics
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _read_bgr(path: Path) -> np.ndarray:
    image = cv2.imdecode(np.fromfile(path, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError(f"not an image: {path}")
    return image


# --- sources ---------------------------------------------------------------------------------


class Scene:
    """Frames, fps, enrolment photos {name: [BGR]} and, when known, the truth per episode."""

    def __init__(self, frames, fps, enrol, episodes, description, facing=None):
        self.frames, self.fps, self.enrol, self.episodes, self.description = frames, fps, enrol, episodes, description
        self.facing = facing   # episodes timed from when the face is in front of the camera (and its TOF beam)


def synthesised_scene(detector, landmarks=None) -> Scene:
    """With a landmark model the actors are heads with depth (live to the liveness check)."""
    from app.bench.clip import WalkUpClip, find_actor
    from app.devdata import registry_face_images

    photos = {n: _read_bgr(p) for n, p in registry_face_images().items()
              if n in ("obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg")}
    actors = [find_actor("obama", photos["obama2.jpg"], detector, landmarks),
              find_actor("biden", photos["biden.jpg"], detector, landmarks),
              find_actor("obama", photos["obama3.jpg"], detector, landmarks)]
    clip = WalkUpClip(actors, 1280, 720, fps=25.0, episode_frames=75, gap=12, repeats=2)
    _log(f"bench: rendering {len(clip)} frames 1280x720 …")
    frames = list(clip)
    episodes = [(clip.entered(ep), ep.start + ep.frames, ep.actor.name) for ep in clip.episodes]
    facing = [(_facing(clip, ep), ep.start + ep.frames, ep.actor.name) for ep in clip.episodes]
    enrol = {"obama": [photos["obama.jpg"]], "biden": [photos["biden.jpg"]]}
    return Scene(frames, clip.fps, enrol, episodes, facing=facing, description=
                 "synthesised 1280x720 25 fps: obama2/biden/obama3 photos (face_recognition 1.3.0 sdist) "
                 "as heads with depth walking in from the side while approaching (face 170->260 px), bobbing, "
                 "turning +-6 deg and nodding +-3 deg, standing, leaving; "
                 "x2; enrolled: obama.jpg, biden.jpg")


def _facing(clip, episode) -> int:
    """The first frame where the face is fully in view and in front of the camera: its centre
    within half a face width of the frame centre (where the TOF beam points)."""
    for k in range(clip.entered(episode), episode.start + episode.frames):
        _, box, _ = clip.truth(k)
        w = box[2] - box[0]
        if abs((box[0] + box[2]) / 2 - clip.width / 2) <= 0.5 * w and abs((box[1] + box[3]) / 2 - clip.height / 2) <= 0.6 * w:
            return k
    raise ValueError("the face never stands in front of the camera")


def video_scene(path: str, enrol_dirs: list[str], max_frames: int = 900) -> Scene:
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise ValueError(f"cannot open video {path}")
    fps = capture.get(cv2.CAP_PROP_FPS) or 25.0
    frames = []
    while len(frames) < max_frames:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    enrol: dict[str, list[np.ndarray]] = {}
    for d in enrol_dirs:
        for person in sorted(p for p in Path(d).iterdir() if p.is_dir()):
            enrol[person.name] = [_read_bgr(f) for f in sorted(person.iterdir()) if f.is_file()]
    return Scene(frames, fps, enrol, None, f"video {path}: {len(frames)} frames at {fps:.2f} fps; "
                                             f"enrolled: {', '.join(enrol) or 'nobody'}")


# --- the two systems -----------------------------------------------------------------------------


class Ours:
    name = "daka pipeline"

    def __init__(self, models, config, enrol):
        from app.vision.engine import VisionParts
        from app.vision.gallery import FaceGallery
        from app.vision.pipeline import VisionPipeline

        self.gallery = FaceGallery()
        self.pipeline = VisionPipeline.from_config(VisionParts.load(models, config.vision), config, self.gallery)
        self.names: dict[int, str] = {}
        template = 0
        for staff, (name, images) in enumerate(sorted(enrol.items()), start=1):
            self.names[staff] = name
            for image in images:
                boxes, _, _ = self.pipeline.detector.detect(image, downscale=0.0, min_face=80, threads=1)
                if len(boxes) == 0:
                    raise ValueError(f"no face in an enrolment photo of {name}")
                widest = boxes[[int(np.argmax(boxes[:, 2] - boxes[:, 0]))]]
                shape = self.pipeline.landmark_model.predict(image, widest)
                template += 1
                self.gallery.add(template, staff, self.pipeline.embedder.embed(image, shape)[0])

    def reset(self):
        self.pipeline.reset()

    def process(self, frame) -> list[str | None]:
        result = self.pipeline.process(frame)
        return [self.names.get(v.staff_id) for v in result.tracks]


class OursLive(Ours):
    """Ours with liveness at the normal level, a TOF sensor in front of a live person simulated."""

    name = "daka pipeline, liveness normal (simulated TOF of a live person)"

    def __init__(self, models, config, enrol):
        from app.vision.liveness.synth import FittingTof

        super().__init__(models, _liveness(config, "normal"), enrol)
        self.tof = FittingTof(self.pipeline, focal_px_at_640=config.liveness.focal_px)
        self.pipeline.distance_source = self.tof

    def process(self, frame) -> list[str | None]:
        self.tof.frame_shape = frame.shape
        return super().process(frame)


def _liveness(config, level: str):
    from dataclasses import replace

    return replace(config, liveness=replace(config.liveness, level=level))


class FaceRecognitionWebcam:
    name = "face_recognition 1.3 (README webcam example)"

    def __init__(self, enrol):
        import face_recognition

        self.fr = face_recognition
        self.known, self.known_names = [], []
        for name, images in sorted(enrol.items()):
            for image in images:
                encodings = face_recognition.face_encodings(np.ascontiguousarray(image[:, :, ::-1]))
                if encodings:
                    self.known.append(encodings[0])
                    self.known_names.append(name)
        self.process_this_frame = True
        self.names: list[str | None] = []
        self.locations: list = []     # (top, right, bottom, left) on the 1/4 frame, as the README keeps them

    def reset(self):
        self.process_this_frame = True
        self.names, self.locations = [], []

    def process(self, frame) -> list[str | None]:
        small = cv2.resize(frame, (0, 0), fx=0.25, fy=0.25)
        if self.process_this_frame:
            rgb = np.ascontiguousarray(small[:, :, ::-1])
            locations = self.locations = self.fr.face_locations(rgb)
            encodings = self.fr.face_encodings(rgb, locations)
            self.names = []
            for encoding in encodings:
                name = None
                if self.known:
                    distances = self.fr.face_distance(self.known, encoding)
                    best = int(np.argmin(distances))
                    if distances[best] <= 0.6:
                        name = self.known_names[best]
                self.names.append(name)
        self.process_this_frame = not self.process_this_frame
        return list(self.names)


# --- measurements ------------------------------------------------------------------------------


def throughput(system, frames, repeat: int = 3) -> dict:
    """The clip processed `repeat` times; the median run (the machine is shared: runs vary)."""
    system.reset()
    system.process(frames[0])  # warm-up
    runs = []
    for _ in range(repeat):
        system.reset()
        wall = cpu = 0.0
        for frame in frames:
            w0, c0 = time.perf_counter(), time.process_time()
            system.process(frame)
            wall += time.perf_counter() - w0
            cpu += time.process_time() - c0
        runs.append((wall, cpu))
    wall, cpu = sorted(runs)[len(runs) // 2]
    return {"frames": len(frames), "runs": repeat, "frames_per_s": round(len(frames) / wall, 2),
            "frames_per_s_runs": [round(len(frames) / w, 1) for w, _ in runs],
            "cpu_ms_per_frame": round(1000 * cpu / len(frames), 3),
            "wall_ms_per_frame": round(1000 * wall / len(frames), 3)}


def realtime_latency(system, scene: Scene, cost_s: float | None = None) -> dict:
    """Replay at the clip's frame rate into a latest-frame slot; time from entering to identity.

    The replay clock advances by each `process` call's measured time (this machine's speed), or
    by `cost_s` a call when given: a machine of known speed, so a test checks what the system
    names at a given pace whatever the load on the machine running it.
    """
    system.reset()
    period = 1.0 / scene.fps
    clock, last = 0.0, -1
    known_at: dict[int, float] = {}
    first_face_at: dict[str, float] = {}
    named: dict[str, int] = {}
    processed = 0
    n = len(scene.frames)
    while True:
        newest = min(n - 1, int(clock / period + 1e-9))
        if newest <= last:
            if newest == n - 1:
                break
            clock = (last + 1) * period   # idle until the next frame arrives
            continue
        t0 = time.perf_counter()
        names = system.process(scene.frames[newest])
        clock += time.perf_counter() - t0 if cost_s is None else cost_s
        last, processed = newest, processed + 1
        if scene.episodes:
            for e, (enter, end, who) in enumerate(scene.episodes):
                if enter <= newest < end and e not in known_at and who in names:
                    known_at[e] = clock - enter * period
        else:
            for name in names:
                if name is not None:
                    first_face_at.setdefault(name, clock)
                    named[name] = named.get(name, 0) + 1
    out = {"frames_offered": n, "frames_processed": processed}
    if not scene.episodes:  # no truth: who was named, first when, in how many processed frames
        out["named"] = {k: {"first_s": round(first_face_at[k], 3), "frames": named[k]} for k in sorted(named)}
    if scene.episodes:
        lat = [1000 * known_at[e] for e in sorted(known_at)]
        out.update({
            "episodes": len(scene.episodes), "identified": len(lat),
            "latency_ms": [round(x, 1) for x in lat],
            "median_ms": round(statistics.median(lat), 1) if lat else None,
            "p95_ms": round(float(np.percentile(lat, 95)), 1) if lat else None,
        })
    return out


def gil_hold(system, frames, seconds_cap: float = 20.0) -> dict:
    """How late a 1 ms ticker wakes while `system` runs on another thread (max, p99)."""
    def ticker(stop: threading.Event, lateness: list):
        while not stop.is_set():
            t0 = time.perf_counter()
            time.sleep(0.001)
            lateness.append(time.perf_counter() - t0 - 0.001)

    def measure(work) -> list:
        lateness: list = []
        stop = threading.Event()
        t = threading.Thread(target=ticker, args=(stop, lateness))
        t.start()
        work()
        stop.set()
        t.join()
        return lateness

    def run_system():
        system.reset()
        t_end = time.perf_counter() + seconds_cap
        for frame in frames:
            system.process(frame)
            if time.perf_counter() > t_end:
                break

    worker = threading.Thread(target=run_system)
    idle = measure(lambda: time.sleep(1.0))
    busy = measure(lambda: (worker.start(), worker.join()))
    return {
        "ticker_late_ms_idle_max": round(1000 * max(idle), 2),
        "ticker_late_ms_max": round(1000 * max(busy), 2),
        "ticker_late_ms_p99": round(1000 * float(np.percentile(busy, 99)), 2),
        "ticks": len(busy),
    }


def identity(models, config, video=None, enrol_dirs=(), baseline: bool = True) -> dict:
    """Wrong names and cards on the staged clips (and the development video when present), ours
    and the baseline: app/bench/identity.py."""
    from app.bench import identity as ident

    off = _liveness(config, "off")

    def ours(enrol):
        system = Ours(models, off, enrol)
        return (lambda frame: ident.ours_seen(system, frame)), system.reset

    def face_recognition(enrol):
        views = ident.BaselineViews(FaceRecognitionWebcam(enrol))
        return views.seen, views.reset

    systems = {"ours": ours}
    if baseline:
        systems["baseline"] = face_recognition
    out: dict = {}
    if video is None:
        out.update(ident.run_identity(models, config, systems, log=_log))
        found = ident.development_video()
        if found is None:
            _log("bench: identity: no development video (../shared/data/extras/video): skipped")
        else:
            video, enrol_dirs = found
    if video is not None:
        entry = ident.run_video_identity(video, enrol_dirs, systems, log=_log)
        if entry is not None:
            out["development_video"] = entry
    return out


def run(models, config, video: str | None = None, enrol_dirs=(), baseline: bool = True, repeat: int = 3) -> dict:
    from app import native

    scene = video_scene(video, list(enrol_dirs)) if video else synthesised_scene(
        native.FaceDetector(), native.LandmarkModel(str(models.path("shape_predictor_5_face_landmarks"))))
    systems = [Ours(models, _liveness(config, "off"), scene.enrol)]   # liveness: measured apart, below
    if baseline:
        try:
            systems.append(FaceRecognitionWebcam(scene.enrol))
        except ImportError:
            _log("bench: face_recognition is not installed; no baseline (pip install --no-deps face_recognition==1.3.0)")
    out: dict = {"clip": scene.description, "frames": len(scene.frames),
                 "settings": {"min_face_px": config.vision.min_face_px,
                              "detect_every_n_frames": config.vision.detect_every_n_frames,
                              "recognize_stale_frames": config.vision.recognize_stale_frames,
                              "detect_threads": config.vision.detect_threads,
                              "flip_augment": config.vision.flip_augment,
                              "embedder": systems[0].pipeline.embedder.model_id,
                              "threshold": systems[0].pipeline.rule.threshold,
                              "margin": systems[0].pipeline.rule.margin,
                              "min_observations": config.recognition.min_observations}}
    for key, system in zip(("ours", "baseline"), systems):
        _log(f"bench: {system.name}: throughput …")
        entry = {"system": system.name, "throughput": throughput(system, scene.frames, repeat)}
        _log(f"bench: {system.name}: real-time replay …")
        entry["realtime"] = realtime_latency(system, scene)
        _log(f"bench: {system.name}: GIL ticker …")
        entry["gil"] = gil_hold(system, scene.frames[: min(len(scene.frames), 200)])
        out[key] = entry
    # the time liveness adds until the confirm card, for a live person, in the same replay
    live = OursLive(models, config, scene.enrol)
    _log(f"bench: {live.name}: throughput, real-time replay …")
    out["ours_liveness"] = {"system": live.name, "throughput": throughput(live, scene.frames, repeat),
                            "realtime": realtime_latency(live, scene)}
    if scene.facing:
        # a live person facing the terminal: timed from when the face is in front of the camera
        facing = Scene(scene.frames, scene.fps, scene.enrol, scene.facing, scene.description)
        _log("bench: liveness off / normal, timed from facing the camera …")
        out["ours"]["realtime_facing"] = realtime_latency(systems[0], facing)
        out["ours_liveness"]["realtime_facing"] = realtime_latency(live, facing)
    for key in ("realtime", "realtime_facing"):
        with_live, without = out["ours_liveness"].get(key, {}), out["ours"].get(key, {})
        if with_live.get("median_ms") is not None and without.get("median_ms") is not None:
            suffix = "" if key == "realtime" else "_facing"
            out[f"liveness_added_median_ms{suffix}"] = round(with_live["median_ms"] - without["median_ms"], 1)
            out[f"liveness_added_p95_ms{suffix}"] = round(with_live["p95_ms"] - without["p95_ms"], 1)
    out["identity"] = identity(models, config, video, enrol_dirs, baseline="baseline" in out)
    if "baseline" in out:
        ours, base = out["ours"], out["baseline"]
        out["ratio_frames_per_s"] = round(ours["throughput"]["frames_per_s"] / base["throughput"]["frames_per_s"], 2)
        if ours["realtime"].get("median_ms") and base["realtime"].get("median_ms"):
            out["ratio_median_latency"] = round(base["realtime"]["median_ms"] / ours["realtime"]["median_ms"], 2)
    return out

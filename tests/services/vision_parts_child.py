"""A process that runs a terminal and enrols every way a process can, counting the networks it loads.

Run by tests/services/test_compose.py: argv = instance folder, a photo to upload, a photo the camera shows.
Prints one JSON line: the ONNX Runtime sessions made (by file name), the landmark models made,
and the enrolment results.
"""

from __future__ import annotations

import json
import sys
import time
import urllib.parse
from pathlib import Path

import cv2
import numpy as np
import onnxruntime
import tomli_w

from app import native

sessions: list[str] = []
landmark_models = 0


class CountedSession(onnxruntime.InferenceSession):
    def __init__(self, path, *args, **kwargs):
        sessions.append(Path(str(path)).name)
        super().__init__(path, *args, **kwargs)


onnxruntime.InferenceSession = CountedSession
RealLandmarkModel = native.LandmarkModel


def counted_landmarks(*args, **kwargs):
    global landmark_models
    landmark_models += 1
    return RealLandmarkModel(*args, **kwargs)


native.LandmarkModel = counted_landmarks


def portrait(photo: Path, out: Path) -> Path:
    image = cv2.imdecode(np.fromfile(photo, np.uint8), cv2.IMREAD_COLOR)
    boxes, _, _ = native.FaceDetector().detect(image, downscale=0, min_face=40)
    left, top, right, bottom = boxes[0]
    m = 0.6 * (right - left)
    h, w = image.shape[:2]
    cv2.imwrite(str(out), image[max(0, int(top - m)):min(h, int(bottom + m)), max(0, int(left - m)):min(w, int(right + m))])
    return out


def main(root: str, upload: str, scene: str) -> None:
    from admin.context import AdminServices
    from app.config import load_config
    from app.hardware.gpio import make_pin_factory
    from app.instance import Instance
    from app.services.compose import open_library
    from app.services.terminal import Terminal

    instance = Instance(Path(root)).prepare()
    image = portrait(Path(scene), Path(root) / "scene.jpg")
    instance.config_path.write_text(tomli_w.dumps({
        "camera": {"source": f"test://?image={urllib.parse.quote(str(image))}&width=640&height=480&fps=15"},
        "gpio": {"pin_factory": "mock", "relay_pin": 17, "buzzer_pin": 18, "led_green_pin": 22, "led_red_pin": 23},
        "liveness": {"level": "off"}, "attendance": {"flush_seconds": 600}}), encoding="utf-8")
    config = load_config(instance)
    terminal = Terminal(config, instance, pin_factory=make_pin_factory("mock")).start()
    try:
        results = {"upload": terminal.library.enroll_file(Path(upload).read_bytes(), "E001_奥巴马.jpg").ok}
        deadline = time.monotonic() + 120
        while terminal.camera.slot.latest() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        # The synthetic scene's bouncing ball crosses the drifting face now and then, and which frame
        # is the newest at this moment depends on the machine's load: a covered face is refused
        # (as at a real terminal, where the person tries again), so try the next frames a few times.
        for _attempt in range(20):
            seen = terminal.camera.slot.latest().seq
            results["capture"] = terminal.enroll_capture(terminal.cards.find("E001")).as_dict()
            if results["capture"]["ok"]:
                break
            while terminal.camera.slot.latest().seq == seen and time.monotonic() < deadline + 120:
                time.sleep(0.05)
        # the admin's own library (a standalone admin page) and the CLI's, in the same process
        admin = AdminServices(config, instance, terminal.store)
        results["admin_library"] = admin.library.embedder is terminal.pipeline.embedder
        cli = open_library(config, instance, terminal.store)
        results["cli_library"] = cli.embedder is terminal.library.embedder is terminal.pipeline.embedder
    finally:
        terminal.stop()
    print(json.dumps({"sessions": sorted(sessions), "landmark_models": landmark_models, "results": results}))


if __name__ == "__main__":
    main(*sys.argv[1:4])

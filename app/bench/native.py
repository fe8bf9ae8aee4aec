"""`daka bench native`: the C++ core and the descriptor paths against the usual Python tools.

Every figure is a median over repeated runs after a warm-up, next to the same measurement done
the way most projects do it (the `dlib-bin` wheel, numpy, OpenCV), with the ratio baseline/ours.
"""

from __future__ import annotations

import os
import sys

import cv2
import numpy as np

from app import native
from app.bench.timing import median_ms
from app.devdata import registry_face_images
from app.vision.descriptors import DlibDescriptor, OnnxDescriptor


def _pair(ours: float, baseline: float | None, baseline_name: str, unit: str = "ms") -> dict:
    out = {"ours_" + unit: round(ours, 4), "baseline": baseline_name}
    if baseline is not None:
        out["baseline_" + unit] = round(baseline, 4)
        out["speedup"] = round(baseline / ours, 2) if ours > 0 else None
    return out


def _frame_640x480(photo) -> np.ndarray:
    img = cv2.imread(str(photo)) if photo else None
    if img is None:
        rng = np.random.default_rng(0)
        return rng.integers(0, 255, (480, 640, 3), dtype=np.uint8)
    scale = min(640 / img.shape[1], 480 / img.shape[0])
    img = cv2.resize(img, (int(img.shape[1] * scale), int(img.shape[0] * scale)), interpolation=cv2.INTER_AREA)
    frame = np.full((480, 640, 3), 90, np.uint8)
    y, x = (480 - img.shape[0]) // 2, (640 - img.shape[1]) // 2
    frame[y:y + img.shape[0], x:x + img.shape[1]] = img
    return frame


def _dlib_bin():
    try:
        import dlib  # lazy: the PyPI wheel dlib-bin, a test-only baseline (None when absent)

        return dlib
    except ImportError:
        return None


def bench_descriptor(models, chips: np.ndarray, repeat: int, log) -> dict:
    single, batch = chips[:1], np.ascontiguousarray(np.resize(chips, (8, 150, 150, 3)))
    out: dict = {}
    log("bench: descriptor (ONNX Runtime, 1 and 2 threads) …")
    onnx1 = OnnxDescriptor(models.onnx, threads=1)
    onnx2 = OnnxDescriptor(models.onnx, threads=2)
    ours_single = median_ms(lambda: onnx1.compute(single), repeat)
    ours_batch = median_ms(lambda: onnx1.compute(batch), max(5, repeat // 4)) / 8
    ours_single_2t = median_ms(lambda: onnx2.compute(single), repeat)
    log("bench: descriptor (dlib C++ path, OpenBLAS) …")
    dlib_cpp = DlibDescriptor(models.path("dlib_face_recognition_resnet_model_v1"))
    dlib_single = median_ms(lambda: dlib_cpp.compute(single), max(5, repeat // 4))
    dlib_batch = median_ms(lambda: dlib_cpp.compute(batch), 3, warmup=1) / 8
    base_single = base_batch = None
    dlib = _dlib_bin()
    if dlib is not None:
        log("bench: descriptor (dlib-bin wheel) …")
        net = dlib.face_recognition_model_v1(str(models.path("dlib_face_recognition_resnet_model_v1")))
        rgb = [np.ascontiguousarray(c[:, :, ::-1]) for c in batch]
        base_single = median_ms(lambda: net.compute_face_descriptor(rgb[0]), max(5, repeat // 4))
        base_batch = median_ms(lambda: net.compute_face_descriptor(rgb), 3, warmup=1) / 8
    out["onnx_single_1thread"] = _pair(ours_single, base_single, "dlib-bin compute_face_descriptor, 1 chip")
    out["onnx_batch8_per_face_1thread"] = _pair(ours_batch, base_batch, "dlib-bin, batch of 8, per face")
    out["onnx_single_2threads"] = _pair(ours_single_2t, base_single, "dlib-bin compute_face_descriptor, 1 chip")
    out["dlib_cpp_openblas_single"] = _pair(dlib_single, base_single, "dlib-bin compute_face_descriptor, 1 chip")
    out["dlib_cpp_openblas_batch8_per_face"] = _pair(dlib_batch, base_batch, "dlib-bin, batch of 8, per face")
    return out


def bench_hog(frame: np.ndarray, repeat: int, log) -> dict:
    log("bench: HOG detection …")
    det = native.FaceDetector()
    full = median_ms(lambda: det.detect(frame, downscale=1.0, upsample=0, grayscale=False), repeat)
    full_gray = median_ms(lambda: det.detect(frame, downscale=1.0, upsample=0), repeat)
    terminal_1t = median_ms(lambda: det.detect(frame, downscale=0, upsample=0, min_face=100), repeat)
    terminal = median_ms(lambda: det.detect(frame, downscale=0, upsample=0, min_face=100, threads=2), repeat)
    faces = len(det.detect(frame, downscale=0, min_face=100, threads=2)[0])
    base = None
    dlib = _dlib_bin()
    if dlib is not None:
        hog = dlib.get_frontal_face_detector()
        rgb = np.ascontiguousarray(frame[:, :, ::-1])
        base = median_ms(lambda: hog(rgb, 0), repeat)
    return {
        "frame": "640x480",
        "faces_found_terminal": faces,
        "hog_640x480_colour": _pair(full, base, "dlib-bin get_frontal_face_detector()(rgb, 0)"),
        "hog_640x480_gray": _pair(full_gray, base, "dlib-bin get_frontal_face_detector()(rgb, 0)"),
        "hog_640x480_terminal_min_face_100_1thread": _pair(terminal_1t, base,
                                                           "dlib-bin get_frontal_face_detector()(rgb, 0)"),
        "hog_640x480_terminal_min_face_100_2threads": _pair(terminal, base,
                                                            "dlib-bin get_frontal_face_detector()(rgb, 0)"),
    }


def bench_landmarks(models, frame: np.ndarray, boxes: np.ndarray, repeat: int, log) -> dict:
    """The 5-point landmarks and the aligned chip of one face: the bindings' checks are in these calls."""
    from app import native

    log("bench: landmarks and chips …")
    path = str(models.path("shape_predictor_5_face_landmarks"))
    landmarks = native.LandmarkModel(path)
    box = np.ascontiguousarray(boxes[:1])
    shapes = landmarks.predict(frame, box)
    ours_predict = median_ms(lambda: landmarks.predict(frame, box), repeat * 10)
    ours_chips = median_ms(lambda: native.extract_chips(frame, shapes), repeat * 10)
    base_predict = base_chips = None
    dlib = _dlib_bin()
    if dlib is not None:
        sp = dlib.shape_predictor(path)
        rgb = np.ascontiguousarray(frame[:, :, ::-1])
        rect = dlib.rectangle(*(int(round(v)) for v in box[0]))
        shape = sp(rgb, rect)
        base_predict = median_ms(lambda: sp(rgb, rect), repeat * 10)
        base_chips = median_ms(lambda: dlib.get_face_chip(rgb, shape, 150, 0.25), repeat * 10)
    return {
        "predict_1face": _pair(ours_predict, base_predict, "dlib-bin shape_predictor(rgb, rect)"),
        "extract_chips_1face": _pair(ours_chips, base_chips, "dlib-bin get_face_chip(rgb, shape, 150, 0.25)"),
    }


def bench_gallery(repeat: int, log) -> dict:
    out = {}
    rng = np.random.default_rng(1)
    for n in (1_000, 10_000, 100_000):
        log(f"bench: gallery top-1 over {n:,} …")
        vecs = rng.standard_normal((n, 128), dtype=np.float32)
        index = native.GalleryIndex(128)
        index.add(np.arange(n, dtype=np.int64), vecs)
        query = rng.standard_normal(128, dtype=np.float32)
        ours = median_ms(lambda: index.search(query, 1), repeat * 4 if n < 100_000 else repeat)
        base = median_ms(lambda: int(np.argmin(np.linalg.norm(vecs - query, axis=1))),
                         repeat * 4 if n < 100_000 else repeat)
        out[f"top1_{n}"] = _pair(ours, base, "numpy: argmin(norm(G - q, axis=1))")
    return out


def bench_text(font, repeat: int, log) -> dict:
    log("bench: text drawing …")
    renderer = native.TextRenderer(str(font.path), font.face_index)
    frame = np.zeros((320, 480, 3), np.uint8)
    name = "欧阳娜娜打卡"  # 6 characters
    ours = median_ms(lambda: renderer.draw(frame, name, (40, 100), 24), repeat * 10)
    ours_outline = median_ms(lambda: renderer.draw(frame, name, (40, 150), 24, outline=2), repeat * 10)
    base = median_ms(lambda: cv2.putText(frame, "ABCDEF", (40, 200), cv2.FONT_HERSHEY_SIMPLEX, 0.8,
                                         (255, 255, 255), 1, cv2.LINE_AA), repeat * 10)
    note = "cv2.putText cannot draw Chinese; its 6 ASCII characters at ~24 px are the baseline"
    return {
        "chinese_6_chars_24px": _pair(ours, base, "cv2.putText 6 ASCII chars (LINE_AA)"),
        "chinese_6_chars_24px_outline2": _pair(ours_outline, base, "cv2.putText 6 ASCII chars (LINE_AA)"),
        "font": str(font.path),
        "note": note,
    }


def run(models, font, repeat: int = 30, log=None) -> dict:
    log = log or (lambda msg: print(msg, file=sys.stderr))
    photos = registry_face_images()
    frame = _frame_640x480(photos.get("obama.jpg"))
    det = native.FaceDetector()
    boxes, _, _ = det.detect(frame, downscale=1.0)
    if len(boxes) == 0:
        raise RuntimeError("the benchmark photo shows no face to make chips from")
    shapes = native.LandmarkModel(str(models.path("shape_predictor_5_face_landmarks"))).predict(frame, boxes)
    chips = native.extract_chips(frame, shapes)
    return {
        "command": "daka bench native --json",
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "build": dict(native.build_info()),
        "blas_loaded": [os.path.realpath(p) for p in native.loaded_libraries("blas")],
        "descriptor": bench_descriptor(models, chips, repeat, log),
        "hog": bench_hog(frame, repeat, log),
        "landmarks": bench_landmarks(models, frame, boxes, repeat, log),
        "gallery": bench_gallery(repeat, log),
        "text": bench_text(font, repeat, log),
    }

"""Face descriptors: the ONNX Runtime path (default) and dlib's own path (reference, fallback).

Both take BGR uint8 chips (n, 150, 150, 3) as `extract_chips` makes them and return float32
(n, 128). Both release the GIL while they compute, so the UI thread keeps running.

On a Jetson, ONNX Runtime's GPU builds add the "TensorrtExecutionProvider" and
"CUDAExecutionProvider"; `OnnxDescriptor(providers="auto")` takes them first when the installed
onnxruntime offers them (the Jetson wheels of onnxruntime-gpu), else the CPU (app/models/sessions.py).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from app import native
from app.models.sessions import make_session

CHIP_SHAPE = (150, 150, 3)


def _check_chips(chips: np.ndarray) -> np.ndarray:
    if not isinstance(chips, np.ndarray) or chips.dtype != np.uint8 or chips.shape[1:] != CHIP_SHAPE:
        got = f"{chips.dtype} {chips.shape}" if isinstance(chips, np.ndarray) else type(chips).__name__
        raise ValueError(f"chips must be uint8 of shape (n, 150, 150, 3), got {got}")
    return np.ascontiguousarray(chips)


class OnnxDescriptor:
    """dlib's ResNet exported to ONNX, run by ONNX Runtime."""

    name = "onnx"

    def __init__(self, path: str | Path, threads: int = 1, providers: str | list[str] = "cpu"):
        self.path = Path(path)
        self.threads = max(1, int(threads))
        self._session = make_session(path, threads, providers)
        self._input = self._session.get_inputs()[0].name

    @property
    def providers(self) -> list[str]:
        return self._session.get_providers()

    def compute(self, chips: np.ndarray) -> np.ndarray:
        chips = _check_chips(chips)
        if len(chips) == 0:
            return np.zeros((0, 128), np.float32)
        # InferenceSession.run is thread-safe and releases the GIL while it runs.
        return self._session.run(None, {self._input: chips})[0]


class DlibDescriptor:
    """dlib's own ResNet through the native core (OpenBLAS); one call at a time."""

    name = "dlib"

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._net = native.DlibDescriptor(str(path))

    def compute(self, chips: np.ndarray) -> np.ndarray:
        chips = _check_chips(chips)
        return self._net.compute(chips)


def open_descriptor(models, backend: str = "onnx", threads: int = 1, providers="cpu"):
    """The configured descriptor backend; falls back to dlib's path when the ONNX graph is absent."""
    if backend == "onnx" and models.onnx is not None:
        return OnnxDescriptor(models.onnx, threads=threads, providers=providers)
    if backend not in ("onnx", "dlib"):
        raise ValueError(f"unknown descriptor backend {backend!r} (onnx or dlib)")
    return DlibDescriptor(models.path("dlib_face_recognition_resnet_model_v1"))

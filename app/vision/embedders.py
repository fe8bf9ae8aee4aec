"""Face embedders: landmarks in a frame -> L2-normalised identity vectors.

An embedder hides which model makes the vector, so that the pipeline, the gallery and the
evaluation do not change when a second model is added (a fused embedder would concatenate or
average the normalised vectors of two embedders and expose the same three members).
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from app import native


class Embedder(Protocol):
    model_id: str   # names the model and its options; part of every descriptor cache key
    dim: int

    def embed(self, frame: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        """(n, dim) float32 unit vectors for the (n, 5, 2) landmarks of faces in `frame`."""
        ...


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    v = np.asarray(vectors, np.float32)
    norms = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.maximum(norms, 1e-12)


class DlibEmbedder:
    """dlib's ResNet (ONNX or dlib path) on aligned 150 px chips.

    With `flip`, the chip and its mirror image are described in one batch and the two vectors
    averaged (test-time augmentation): the aligned chip is symmetric about its vertical axis,
    so the mirror is another valid view of the same face. It doubles the descriptor cost.
    """

    dim = 128

    def __init__(self, descriptor, flip: bool = True):
        self.descriptor = descriptor
        self.flip = flip
        self.model_id = "dlib_resnet_v1" + ("+flip" if flip else "")

    def chips(self, frame: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        return native.extract_chips(frame, np.ascontiguousarray(landmarks, np.float32))

    def embed_chips(self, chips: np.ndarray) -> np.ndarray:
        n = len(chips)
        if n == 0:
            return np.zeros((0, self.dim), np.float32)
        if not self.flip:
            return unit_rows(self.descriptor.compute(chips))
        batch = np.concatenate([chips, chips[:, :, ::-1]])
        raw = self.descriptor.compute(np.ascontiguousarray(batch))
        return unit_rows(unit_rows(raw[:n]) + unit_rows(raw[n:]))

    def embed(self, frame: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        return self.embed_chips(self.chips(frame, landmarks))

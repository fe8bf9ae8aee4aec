"""Face embedders: landmarks in a frame -> L2-normalised identity vectors.

An embedder hides which model makes the vector, so that the pipeline, the gallery and the
evaluation do not change when a second model is added: `FusedEmbedder` concatenates the
weighted unit vectors of dlib and faceres, so one gallery search scores the fused similarity.
`describe()` keeps each model's vector apart (enrolment stores one template per model) and
`combine()` makes the gallery vector from them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from app import native
from app.models import FIX_HINT, ModelError

from .descriptors import open_descriptor
from .faceres import FaceresNetwork, attributes

# Margin around the aligned face in the faceres chip (dlib's chips use 0.25); tuned with `daka eval`.
FACERES_PADDING = 0.4


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
    kind = "dlib_face_recognition_resnet_model_v1"   # the template kind stored for enrolled photos
    quick_kind = kind                                # the part of `describe` that `quick` compares with

    def __init__(self, descriptor, flip: bool = True):
        self.descriptor = descriptor
        self.flip = flip
        self.model_id = "dlib_resnet_v1" + ("+flip" if flip else "")
        self.kinds = (self.kind,)

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

    def quick(self, chips: np.ndarray) -> np.ndarray:
        """Unit descriptors of chips already cut, without the mirror (half the cost): for checking
        that a face is still the one a track's full descriptors (`parts[kind]`) described."""
        return unit_rows(self.descriptor.compute(np.ascontiguousarray(chips)))

    def describe(self, frame: np.ndarray, landmarks: np.ndarray) -> "Embedding":
        return Embedding({self.kind: self.embed(frame, landmarks)})

    def combine(self, parts: dict[str, np.ndarray]) -> np.ndarray:
        return unit_rows(parts[self.kind])


@dataclass(frozen=True)
class Embedding:
    """What the embedders say about n faces: unit vectors per model, and attributes if any."""

    parts: dict[str, np.ndarray]                  # template kind -> (n, d) unit rows
    attributes: list | None = None                # FaceAttributes per face (faceres), else None


class FaceresEmbedder:
    """The faceres network (HSE MobileNet) on 224 px aligned chips with a margin.

    Its chips come from the frame and the same 5-point alignment as dlib's, with more padding
    (`padding` = margin around the aligned face, as a fraction of its size). No mirror image
    (unlike dlib): one pass costs about as much as dlib's chip and mirror together, and a second
    would break the 30 ms budget for recognising a face with both models.
    """

    dim = 1024
    kind = "faceres"

    def __init__(self, network, padding: float = FACERES_PADDING):
        self.network = network
        self.padding = float(padding)
        self.model_id = f"faceres_hse_mobilenet+pad{self.padding:g}"
        self.kinds = (self.kind,)

    def chips(self, frame: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        return native.extract_chips(frame, np.ascontiguousarray(landmarks, np.float32), size=224,
                                    padding=self.padding)

    def describe(self, frame: np.ndarray, landmarks: np.ndarray) -> Embedding:
        out = self.network.run(self.chips(frame, landmarks))
        return Embedding({self.kind: unit_rows(out["embedding"])}, attributes(out["gender"], out["age"]))

    def combine(self, parts: dict[str, np.ndarray]) -> np.ndarray:
        return unit_rows(parts[self.kind])

    def embed(self, frame: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        return self.combine(self.describe(frame, landmarks).parts)


class FusedEmbedder:
    """dlib and faceres together: the gallery vector is [sqrt(w) * dlib, sqrt(1 - w) * faceres].

    Both halves are unit vectors, so the cosine of two fused vectors is exactly
    w * cos_dlib + (1 - w) * cos_faceres: the fusion rule (a weighted mean of the two
    similarities) runs inside the ordinary gallery search, margin rule and track aggregation.
    """

    def __init__(self, dlib: DlibEmbedder, faceres: FaceresEmbedder, dlib_weight: float = 0.5):
        if not 0.0 < dlib_weight < 1.0:
            raise ValueError("dlib_weight must be strictly between 0 and 1")
        self.members = (dlib, faceres)
        self.weights = (float(dlib_weight), 1.0 - float(dlib_weight))
        self.dim = dlib.dim + faceres.dim
        self.kinds = (dlib.kind, faceres.kind)
        self.model_id = f"fused({dlib.model_id},{faceres.model_id};w={dlib_weight:g})"

    def chips(self, frame: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        return self.members[0].chips(frame, landmarks)

    @property
    def quick_kind(self) -> str:
        return self.members[0].kind   # the part of `describe` that `quick` compares with

    def quick(self, chips: np.ndarray) -> np.ndarray:
        """dlib's quick descriptor (see DlibEmbedder.quick): about a fifth of a fused description."""
        return self.members[0].quick(chips)

    def describe(self, frame: np.ndarray, landmarks: np.ndarray) -> Embedding:
        parts, attrs = {}, None
        for member in self.members:
            e = member.describe(frame, landmarks)
            parts.update(e.parts)
            attrs = attrs or e.attributes
        return Embedding(parts, attrs)

    def combine(self, parts: dict[str, np.ndarray]) -> np.ndarray:
        halves = [np.sqrt(w) * unit_rows(parts[m.kind]) for m, w in zip(self.members, self.weights)]
        return np.ascontiguousarray(np.concatenate(halves, axis=1), np.float32)

    def embed(self, frame: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        return self.combine(self.describe(frame, landmarks).parts)


EMBEDDERS = ("dlib", "faceres", "fused")


def open_embedder(models, vision, providers=None):
    """The embedder `[vision] embedder` names (dlib, faceres or fused), on ONNX Runtime.

    `providers` (default `[vision] onnx_providers`): "cpu", or "auto" for TensorRT, then CUDA, then
    the CPU; both networks run in the same engine, so on a Jetson both move to the GPU together.
    """
    providers = providers or getattr(vision, "onnx_providers", "cpu")
    kind = vision.embedder
    if kind not in EMBEDDERS:
        raise ValueError(f"unknown embedder {kind!r} ({', '.join(EMBEDDERS)})")
    dlib = None
    if kind in ("dlib", "fused"):
        dlib = DlibEmbedder(open_descriptor(models, vision.descriptor_backend, vision.descriptor_threads,
                                            providers), flip=vision.flip_augment)
        if kind == "dlib":
            return dlib
    if models.faceres is None:
        raise ModelError(f"[vision] embedder = {kind!r} needs the faceres model, which is not installed — {FIX_HINT}")
    faceres = FaceresEmbedder(FaceresNetwork(models.faceres, vision.descriptor_threads, providers),
                              padding=vision.faceres_padding)
    return faceres if kind == "faceres" else FusedEmbedder(dlib, faceres, vision.fusion_dlib_weight)

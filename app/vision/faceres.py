"""The `faceres` network (HSE MobileNet, converted from TF.js at set-up) on ONNX Runtime.

Input: the aligned face with a margin, 224x224, **BGR with the ImageNet channel means
subtracted** (the model's original preprocessing; RGB or raw 0-255 input costs ~15 points of
rank-1). One forward pass gives a 1024-D identity embedding, a gender probability and a 100-way
age distribution. ONNX Runtime releases the GIL while it runs; batches of any size.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

# The input contract belongs to the model (app/models/faceres.py); imported here for the runtime.
from app.models.faceres import IMAGENET_MEAN_BGR, INPUT_SIZE, preprocess
from app.models.sessions import make_session

__all__ = ["AGES", "IMAGENET_MEAN_BGR", "INPUT_SIZE", "FaceAttributes", "FaceresNetwork", "attributes", "preprocess"]

AGES = np.arange(100, dtype=np.float32)


@dataclass(frozen=True)
class FaceAttributes:
    """Estimated from the face; shown for information, nothing depends on them."""

    gender: str          # "male" / "female"
    male_probability: float
    age: float           # expectation of the age distribution, years

    def as_dict(self) -> dict:
        return {"gender": self.gender, "male_probability": round(self.male_probability, 3), "age": round(self.age, 1)}


class FaceresNetwork:
    """The converted graph in an ONNX Runtime session (GPU providers first with providers="auto")."""

    def __init__(self, path: str | Path, threads: int = 1, providers="cpu"):
        self.path = Path(path)
        self._session = make_session(path, threads, providers)
        self._input = self._session.get_inputs()[0].name
        self._outputs = [o.name for o in self._session.get_outputs()]

    @property
    def providers(self) -> list[str]:
        return self._session.get_providers()

    def run(self, chips_bgr: np.ndarray) -> dict[str, np.ndarray]:
        """{"embedding": (n, 1024), "gender": (n, 1), "age": (n, 100)} for BGR uint8 224 px chips."""
        x = preprocess(chips_bgr)
        if len(x) == 0:
            return {"embedding": np.zeros((0, 1024), np.float32), "gender": np.zeros((0, 1), np.float32),
                    "age": np.zeros((0, 100), np.float32)}
        return dict(zip(self._outputs, self._session.run(None, {self._input: x})))


def attributes(gender: np.ndarray, age: np.ndarray) -> list[FaceAttributes]:
    """Per-face attributes from the gender sigmoid (probability of male) and the age softmax."""
    out = []
    for p_male, dist in zip(np.asarray(gender).reshape(-1), np.asarray(age).reshape(len(gender), -1)):
        out.append(FaceAttributes("male" if p_male >= 0.5 else "female", float(p_male), float(dist @ AGES)))
    return out

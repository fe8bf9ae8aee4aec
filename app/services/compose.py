"""One recipe for each part a process needs, so every process builds them the same way.

The terminal (`app.services.terminal`), the standalone admin (`admin.context`) and the CLI
(`daka enroll`, `daka library ...`) all open the face library, the vision pipeline and attendance
here; a difference between them is a bug.

The networks (the landmark model and the embedder's descriptor networks) are loaded once per
process and model configuration by `open_vision`: the terminal's pipeline and its face library
share them, and a library opened later in the same process (the admin's) gets the same ones.
"""

from __future__ import annotations

import threading
import weakref

from app.attendance import Attendance, open_attendance
from app.library import FaceLibrary
from app.models import resolve
from app.vision.engine import VisionParts
from app.vision.gallery import FaceGallery
from app.vision.pipeline import VisionPipeline

__all__ = ["open_attendance", "open_library", "open_models", "open_pipeline", "open_vision", "Attendance"]

# Parts in use, by what they were loaded from; they go when nothing holds them any more.
_loaded: weakref.WeakValueDictionary[tuple, VisionParts] = weakref.WeakValueDictionary()
_loading = threading.Lock()


def open_models(config, models=None):
    """The model files the config names (`[models] dir`), checked when `[models] verify` asks."""
    return models or resolve(config.models.dir or None, verify=config.models.verify)


def _parts_key(models, vision) -> tuple:
    """What the loaded networks depend on: the model files and the embedder's settings."""
    return (tuple(sorted((k, str(p)) for k, p in models.files.items())), str(models.onnx), str(models.faceres),
            vision.embedder, vision.descriptor_backend, vision.descriptor_threads, vision.onnx_providers,
            vision.flip_augment, vision.faceres_padding, vision.fusion_dlib_weight)


def open_vision(config, models=None) -> VisionParts:
    """The landmark model and the configured embedder, loaded once per process (while in use)."""
    models = open_models(config, models)
    key = _parts_key(models, config.vision)
    with _loading:   # two threads opening at once must not both load
        parts = _loaded.get(key)
        if parts is None:
            parts = _loaded[key] = VisionParts.load(models, config.vision)
        return parts


def open_library(config, instance, store, *, models=None, gallery: FaceGallery | None = None,
                 load: bool = True) -> FaceLibrary:
    """The face library over `store`, its templates loaded into `gallery` (a new one if None)."""
    # The library makes templates with the configured embedder (one row per model), the pipeline's.
    library = FaceLibrary(store, open_vision(config, models), gallery if gallery is not None else FaceGallery(),
                          instance.photos_dir, config.library, max_bytes=config.storage.photo_max_mb * 1024 * 1024,
                          detect_threads=config.vision.detect_threads)
    if load:
        library.load_gallery()
    return library


def open_pipeline(config, models, gallery: FaceGallery) -> VisionPipeline:
    """The frame-by-frame vision pipeline recognising against `gallery`."""
    return VisionPipeline.from_config(open_vision(config, models), config, gallery)

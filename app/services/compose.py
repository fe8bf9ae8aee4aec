"""One recipe for each part a process needs, so every process builds them the same way.

The terminal (`app.services.terminal`), the standalone admin (`admin.context`) and the CLI
(`daka enroll`, `daka library ...`) all open the face library, the vision pipeline and attendance
here; a difference between them is a bug.
"""

from __future__ import annotations

from app.attendance import Attendance, open_attendance
from app.library import FaceLibrary
from app.models import resolve
from app.vision.engine import FaceEngine
from app.vision.gallery import FaceGallery
from app.vision.pipeline import VisionPipeline

__all__ = ["open_attendance", "open_library", "open_models", "open_pipeline", "Attendance"]


def open_models(config, models=None):
    """The model files the config names (`[models] dir`), checked when `[models] verify` asks."""
    return models or resolve(config.models.dir or None, verify=config.models.verify)


def open_library(config, instance, store, *, models=None, gallery: FaceGallery | None = None,
                 load: bool = True) -> FaceLibrary:
    """The face library over `store`, its templates loaded into `gallery` (a new one if None)."""
    engine = FaceEngine(open_models(config, models), config.vision)
    # The library makes templates with the engine's configured embedder (one row per model).
    library = FaceLibrary(store, engine, gallery if gallery is not None else FaceGallery(), instance.photos_dir,
                          config.library, max_bytes=config.storage.photo_max_mb * 1024 * 1024)
    if load:
        library.load_gallery()
    return library


def open_pipeline(config, models, gallery: FaceGallery) -> VisionPipeline:
    """The frame-by-frame vision pipeline recognising against `gallery`."""
    return VisionPipeline.from_config(open_models(config, models), config, gallery)

"""FaceLibrary: enrol staff photos, keep the live gallery in step, recompute templates.

One usable face per photo or a clear per-file reason. Photos are stored under the instance's
photos folder with generated names; the template row points at the file; the injected
:class:`~app.vision.gallery.FaceGallery` is updated at once, so no restart is needed.
"""

from __future__ import annotations

import hashlib
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
from loguru import logger
from sqlalchemy import select

from app import native
from app.i18n import text
from app.store import FaceTemplate, Staff, Store
from app.vision.quality import REASONS as QUALITY_REASONS
from app.vision.quality import QualityThresholds, assess

from .images import STORED_MAX_PIXELS, ImageRefused, decode_image
from .names import BadName, check_department, parse_photo_name, photo_path

MODEL_ID = "dlib_face_recognition_resnet_model_v1"   # dlib's template kind (DlibEmbedder.kind)
MAX_SIDE = 1600  # larger photos are scaled down before detection: faster, same faces
# Photos decoded and analysed at once (uploads from several admin pages or API clients), and how
# long another one waits for its turn before it is refused as "busy".
MAX_CONCURRENT = 2
BUSY_WAIT_S = 60.0

# The reason codes of a refused photo; each one's text is ``library.<code>`` in app/i18n, or
# ``quality.<code>`` for the quality gate's codes (app.vision.quality).
REASONS = ("not_image", "too_large", "too_many_pixels", "busy", "bad_name", "name_conflict", "no_face",
           "several_faces", "duplicate_face", "duplicate_photo", *QUALITY_REASONS)


@dataclass(frozen=True)
class EnrollResult:
    file: str
    ok: bool
    reason: str | None = None
    detail: str = ""
    staff_no: str | None = None
    name: str | None = None
    template_id: int | None = None

    def message(self, language: str = "zh_CN") -> str:
        if self.ok:
            return text("library.enrolled", language)
        area = "quality" if self.reason in QUALITY_REASONS else "library"
        return text(f"{area}.{self.reason}", language)

    def as_dict(self) -> dict:
        return {**asdict(self), "message": self.message(), "message_en": self.message("en")}


class Refused(Exception):
    def __init__(self, reason: str, detail: str = ""):
        super().__init__(detail or reason)
        self.reason, self.detail = reason, detail


@dataclass(frozen=True)
class FaceSample:
    descriptor: np.ndarray           # the gallery vector (the embedder's combination of `parts`)
    quality: float
    parts: dict | None = None        # template kind -> float32 vector, one stored row each
    attributes: object | None = None


class FaceLibrary:
    def __init__(self, store: Store, engine, gallery, photos_dir: Path, library_cfg, *,
                 max_bytes: int, embedder=None, max_concurrent: int = MAX_CONCURRENT,
                 busy_wait: float = BUSY_WAIT_S):
        """`embedder` (app.vision.embedders) makes the templates: one FaceTemplate row per model
        it runs (`embedder.kinds`, stored as the row's model_id) for each photo; the first kind's
        row is the photo's primary template and its id keys the gallery. Without one, the
        engine's configured embedder (the same `[vision] embedder` the pipeline uses).
        At most `max_concurrent` photos are decoded and analysed at once (each may take a couple of
        hundred MB); another waits up to `busy_wait` seconds, then is refused as "busy"."""
        self.store, self.engine, self.gallery = store, engine, gallery
        self.embedder = embedder or engine.embedder
        self.kinds = tuple(self.embedder.kinds)
        self.photos_dir = Path(photos_dir)
        self.cfg, self.max_bytes = library_cfg, max_bytes
        self.model_id = self.kinds[0]
        self.limits = QualityThresholds(min_face_px=library_cfg.min_face_px)
        self.incomplete = 0   # photos whose templates lack a model the embedder needs (reindex)
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(max_concurrent)
        self.busy_wait = busy_wait

    # -- gallery -------------------------------------------------------
    def load_gallery(self) -> int:
        """Fill the live gallery from the templates of active staff; returns the photos loaded.

        Photos without a template of every model in use (enrolled before a model was added)
        are left out and counted in `incomplete`: `daka reindex` computes the missing ones.
        """
        self.gallery.clear()
        with self.store.session() as s:
            rows = s.execute(select(FaceTemplate.id, FaceTemplate.staff_id, FaceTemplate.descriptor,
                                    FaceTemplate.model_id, FaceTemplate.photo_file)
                             .join(Staff).where(Staff.active.is_(True)).order_by(FaceTemplate.id)).all()
        photos: dict[str, dict] = {}
        for t_id, staff_id, blob, model_id, photo in rows:
            group = photos.setdefault(photo, {"staff": staff_id, "ids": {}, "parts": {}})
            group["ids"].setdefault(model_id, t_id)
            group["parts"].setdefault(model_id, np.frombuffer(blob, "<f4")[None, :])
        loaded = self.incomplete = 0
        for group in photos.values():
            if not all(k in group["parts"] for k in self.kinds):
                self.incomplete += 1
                continue
            vector = self.embedder.combine({k: group["parts"][k] for k in self.kinds})[0]
            self.gallery.add(group["ids"][self.kinds[0]], group["staff"], vector)
            loaded += 1
        if self.incomplete:
            logger.warning("{} enrolled photo(s) lack a template of {} and are not recognised: run "
                           "`daka reindex`", self.incomplete, " / ".join(self.kinds))
        return loaded

    # -- analysis ------------------------------------------------------
    def analyse(self, bgr: np.ndarray) -> FaceSample:
        """The one usable face of a photo, or :class:`Refused` with the reason."""
        scale = min(1.0, MAX_SIDE / max(bgr.shape[:2]))
        if scale < 1.0:
            bgr = cv2.resize(bgr, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        frame = np.ascontiguousarray(bgr)
        smallest = max(40, self.cfg.min_face_px // 2)  # find small faces to say "too small"
        boxes, _, _ = self.engine.detector.detect(frame, downscale=0.0, upsample=0, min_face=smallest,
                                                  threads=self.engine.vision.detect_threads)
        if len(boxes) == 0:
            raise Refused("no_face")
        if len(boxes) > 1:
            raise Refused("several_faces", f"{len(boxes)} faces")
        landmarks = self.engine.landmarks.predict(frame, boxes)
        chips = native.extract_chips(frame, landmarks)
        quality = assess(frame.shape, boxes[0], landmarks[0], chips[0], self.limits)
        if not quality.ok:
            raise Refused(quality.reason, f"face {quality.face_px:.0f} px, brightness "
                                          f"{quality.brightness:.0f}, sharpness {quality.sharpness:.0f}")
        described = self.embedder.describe(frame, landmarks)
        parts = {k: np.asarray(v[0], dtype="<f4") for k, v in described.parts.items()}
        vector = np.asarray(self.embedder.combine(described.parts)[0], dtype="<f4")
        return FaceSample(vector, quality.score, parts,
                          described.attributes[0] if described.attributes else None)

    # -- enrolment -----------------------------------------------------
    def enroll_bytes(self, data: bytes, filename: str, *, department: str = "") -> EnrollResult:
        """Enrol one photo named 工号_姓名.ext."""
        try:
            who = parse_photo_name(filename)
            department = check_department(department)
        except BadName as exc:
            return EnrollResult(filename, False, "bad_name", str(exc))
        if not self._slots.acquire(timeout=self.busy_wait):
            return EnrollResult(filename, False, "busy", f"more than {self.busy_wait:.0f} s waiting for "
                                "other enrolments", who.staff_no, who.name)
        try:
            try:
                image = decode_image(data, max_bytes=self.max_bytes)
                extension = image.extension
                sample = self.analyse(image.bgr)
                del image  # the decoded pixels go before the slot is handed on
            finally:
                self._slots.release()
            template_id = self._store_template(who, data, extension, sample, filename, department)
        except ImageRefused as exc:
            return EnrollResult(filename, False, exc.reason, exc.detail, who.staff_no, who.name)
        except Refused as exc:
            return EnrollResult(filename, False, exc.reason, exc.detail, who.staff_no, who.name)
        return EnrollResult(filename, True, None, "", who.staff_no, who.name, template_id)

    def _store_template(self, who, data: bytes, extension: str, sample: FaceSample,
                        filename: str, department: str) -> int:
        digest = hashlib.sha256(data).hexdigest()
        with self._lock:  # one enrolment at a time: the duplicate checks then hold
            with self.store.session() as s:
                staff = s.scalar(select(Staff).where(Staff.staff_no == who.staff_no))
                if staff is not None and staff.name != who.name:
                    raise Refused("name_conflict", f"{who.staff_no} is {staff.name}")
                if staff is not None and s.scalar(select(FaceTemplate.id).where(
                        FaceTemplate.staff_id == staff.id, FaceTemplate.photo_sha256 == digest)):
                    raise Refused("duplicate_photo")
                match = self.gallery.match(sample.descriptor)
                if match.staff_id is not None and match.similarity >= self._duplicate_similarity() \
                        and (staff is None or match.staff_id != staff.id):
                    other = s.get(Staff, match.staff_id)
                    raise Refused("duplicate_face", f"similarity {match.similarity:.3f} to "
                                  f"{other.staff_no if other else match.staff_id}")
                if staff is None:
                    staff = Staff(staff_no=who.staff_no, name=who.name, department=department)
                    s.add(staff)
                stored = f"{uuid.uuid4().hex}{extension}"
                path = self.photos_dir / stored
                path.write_bytes(data)
                try:
                    templates = [FaceTemplate(staff=staff, descriptor=self._stored(sample, kind).tobytes(),
                                              model_id=kind, photo_file=stored, photo_sha256=digest,
                                              original_name=filename[:255], quality=sample.quality)
                                 for kind in self.kinds]
                    s.add_all(templates)   # inserted in this order: the primary template gets the lowest id
                    s.flush()
                    template = templates[0]
                    self.store.audit(s, "library", "enroll", staff_no=who.staff_no, template=template.id,
                                     file=filename)
                except BaseException:
                    path.unlink(missing_ok=True)
                    raise
                ids = (template.id, staff.id)
            self.gallery.add(ids[0], ids[1], sample.descriptor)
            return ids[0]

    def _duplicate_similarity(self) -> float:
        """The duplicate threshold on the scale of the similarity in use (each embedder has its own)."""
        if len(self.kinds) > 1:
            return self.cfg.fused_duplicate_similarity
        if self.kinds == ("faceres",):
            return self.cfg.faceres_duplicate_similarity
        return self.cfg.duplicate_similarity

    def _stored(self, sample: FaceSample, kind: str) -> np.ndarray:
        vector = sample.parts[kind] if sample.parts else sample.descriptor
        return np.asarray(vector, dtype="<f4")

    def enroll_many(self, items: Iterable[tuple[str, Callable[[], bytes]]]) -> Iterator[EnrollResult]:
        """Enrol (file name, reader) pairs one by one; a reader may raise :class:`Refused`."""
        for name, read in items:
            try:
                data = read()
            except Refused as exc:
                yield EnrollResult(name, False, exc.reason, exc.detail)
                continue
            yield self.enroll_bytes(data, name)

    # -- removal -------------------------------------------------------
    def remove_template(self, template_id: int, actor: str = "library") -> bool:
        """Remove a photo's templates (every model's row of that photo) and the photo."""
        with self._lock, self.store.session() as s:
            template = s.get(FaceTemplate, template_id)
            if template is None:
                return False
            photo = template.photo_file
            siblings = s.scalars(select(FaceTemplate).where(FaceTemplate.photo_file == photo)).all()
            ids = [t.id for t in siblings]
            for t in siblings:
                s.delete(t)
            self.store.audit(s, actor, "remove_template", template=template_id)
        self.gallery.remove_templates(ids)
        path = photo_path(self.photos_dir, photo)
        if path is None:  # a stored name with a path in it (a tampered database): never follow it
            logger.warning("template {}: photo file {!r} is not inside {}; not deleted", template_id, photo,
                           self.photos_dir)
        else:
            path.unlink(missing_ok=True)
        return True

    # -- model change --------------------------------------------------
    def reindex(self, progress: Callable[[int, int], None] | None = None) -> dict:
        """Recompute every photo's templates with the current models (one row per model)."""
        with self.store.session() as s:
            rows = s.execute(select(FaceTemplate.photo_file, FaceTemplate.id)
                             .order_by(FaceTemplate.id)).all()
        photos = list(dict.fromkeys(photo for photo, _ in rows))
        done, failed = 0, []
        for i, photo in enumerate(photos, 1):
            try:
                path = photo_path(self.photos_dir, photo)
                if path is None:
                    raise OSError(f"{photo!r} is not a file in the photos folder")
                data = path.read_bytes()
                sample = self.analyse(decode_image(data, max_bytes=max(self.max_bytes, len(data)),
                                                   max_pixels=STORED_MAX_PIXELS).bgr)
            except (OSError, ImageRefused, Refused) as exc:
                first = next(t for p, t in rows if p == photo)
                failed.append({"template_id": first, "photo": photo,
                               "reason": getattr(exc, "reason", "missing_photo"), "detail": str(exc)})
            else:
                self._replace_templates(photo, sample)
                done += 1
            if progress:
                progress(i, len(photos))
        with self.store.session() as s:
            self.store.audit(s, "library", "reindex", updated=done, failed=len(failed), model=self.model_id)
        self.load_gallery()
        return {"templates": len(photos), "updated": done, "failed": failed, "model_id": self.model_id,
                "models": list(self.kinds)}

    def _replace_templates(self, photo: str, sample: FaceSample) -> None:
        """Give a photo one up-to-date row per model: rows of other models are reused, then added."""
        with self.store.session() as s:
            rows = s.scalars(select(FaceTemplate).where(FaceTemplate.photo_file == photo)
                             .order_by(FaceTemplate.id)).all()
            if not rows:
                return
            by_kind = {t.model_id: t for t in rows}
            spare = [t for t in rows if t.model_id not in self.kinds]
            for kind in self.kinds:
                t = by_kind.get(kind) or (spare.pop(0) if spare else None)
                if t is None:
                    first = rows[0]
                    t = FaceTemplate(staff_id=first.staff_id, photo_file=photo, photo_sha256=first.photo_sha256,
                                     original_name=first.original_name, model_id=kind)
                    s.add(t)
                t.descriptor = self._stored(sample, kind).tobytes()
                t.model_id, t.quality = kind, sample.quality

"""FaceLibrary: enrol staff photos, keep the live gallery in step, recompute templates.

One call enrols: :meth:`FaceLibrary.enroll` takes an image (a file's bytes or a BGR array) and an
:class:`~app.library.names.Identity`; the admin's uploads, `daka enroll` and on-device capture all
come through it. One usable face per image or a clear reason. The face is found, judged and
described by `app.vision.engine.describe_still`, the pipeline's own steps. Photos are stored
under the instance's photos folder with generated names; the template row points at the file;
the injected :class:`~app.vision.gallery.FaceGallery` is updated at once, so no restart is needed.
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
from app.fleet.central import is_centre, keep_photo, read_photo
from app.i18n import text
from app.store import FaceTemplate, Staff, Store
from app.vision.engine import StillFace, Unusable, VisionParts, describe_still
from app.vision.quality import REASONS as QUALITY_REASONS
from app.vision.quality import QualityThresholds

from .images import MAX_PIXELS, STORED_MAX_PIXELS, ImageRefused, decode_image
from .names import BadName, Identity, photo_path

MODEL_ID = "dlib_face_recognition_resnet_model_v1"   # dlib's template kind (DlibEmbedder.kind)
# Photos decoded and analysed at once (uploads from several admin pages or API clients), and how
# long another one waits for its turn before it is refused as "busy".
MAX_CONCURRENT = 2
BUSY_WAIT_S = 60.0
# A captured frame is stored as a JPEG of this quality.
CAPTURE_JPEG_QUALITY = 92
# sync_gallery reloads the whole gallery instead when more than this many photos (and more than
# half of them) changed: building the cohort at once beats that many row updates.
RELOAD_AT = 500

# The reason codes of a refused photo; each one's text is ``library.<code>`` in app/i18n, or
# ``quality.<code>`` for the quality gate's codes (app.vision.quality).
REASONS = ("not_image", "too_large", "too_many_pixels", "busy", "bad_name", "name_conflict", "unknown_staff",
           "no_face", "several_faces", "duplicate_face", "duplicate_photo", *QUALITY_REASONS)


@dataclass(frozen=True)
class EnrollResult:
    file: str
    ok: bool
    reason: str | None = None
    detail: str = ""
    staff_no: str | None = None
    name: str | None = None
    template_id: int | None = None
    doubt: str | None = None   # the quality gate's reason an administrator overrode (enrolled anyway)

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


def _array_image(bgr) -> np.ndarray:
    """A BGR uint8 (h, w, 3) array as it is, or :class:`Refused` ("not_image", "too_many_pixels")."""
    if not isinstance(bgr, np.ndarray) or bgr.dtype != np.uint8 or bgr.ndim != 3 or bgr.shape[2] != 3 \
            or 0 in bgr.shape:
        got = f"{bgr.dtype} {bgr.shape}" if isinstance(bgr, np.ndarray) else type(bgr).__name__
        raise Refused("not_image", f"a BGR image must be uint8 of shape (h, w, 3), got {got}")
    if bgr.shape[0] * bgr.shape[1] > MAX_PIXELS:
        raise Refused("too_many_pixels", f"{bgr.shape[1]}x{bgr.shape[0]} pixels, "
                                         f"at most {MAX_PIXELS // 1_000_000} MP")
    return bgr


class FaceLibrary:
    def __init__(self, store: Store, parts: VisionParts, gallery, photos_dir: Path, library_cfg, *,
                 max_bytes: int, detect_threads: int = 2, max_concurrent: int = MAX_CONCURRENT,
                 busy_wait: float = BUSY_WAIT_S):
        """`parts` (app.services.compose.open_vision: the pipeline's landmark model and embedder)
        find and describe faces; the embedder makes the templates: one FaceTemplate row per model
        it runs (`embedder.kinds`, stored as the row's model_id) for each photo; the first kind's
        row is the photo's primary template and its id keys the gallery. The library has its own
        detector (cheap to make; it serialises its callers, and the camera's must not wait).
        At most `max_concurrent` photos are decoded and analysed at once (each may take a couple of
        hundred MB); another waits up to `busy_wait` seconds, then is refused as "busy"."""
        self.store, self.parts, self.gallery = store, parts, gallery
        self.embedder = parts.embedder
        self.detector = native.FaceDetector()
        self.detect_threads = detect_threads
        self.kinds = tuple(self.embedder.kinds)
        self.photos_dir = Path(photos_dir)
        self.cfg, self.max_bytes = library_cfg, max_bytes
        self.model_id = self.kinds[0]
        self.limits = QualityThresholds(min_face_px=library_cfg.min_face_px)
        # An administrator's override of the quality gate: only a face the gate doubts, still one
        # whole face the detector found (no face, several faces, duplicates are never overridden).
        self.doubt_limits = QualityThresholds(
            min_face_px=max(40, library_cfg.min_face_px // 2), max_yaw=1.0, min_pitch=0.0, max_pitch=3.0,
            max_roll_deg=90.0, min_brightness=0.0, max_brightness=255.0, min_contrast=0.0, min_sharpness=1e-6)
        self.incomplete = 0   # photos whose templates lack a model the embedder needs (reindex)
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(max_concurrent)
        self.busy_wait = busy_wait

    # -- gallery -------------------------------------------------------
    def load_gallery(self) -> int:
        """Fill the live gallery from the templates of active staff; returns the photos loaded.

        Photos without a template of every model in use (enrolled before a model was added)
        are left out and counted in `incomplete`: `daka reindex` computes the missing ones.
        The gallery is replaced in one step (FaceGallery.replace_all): faces matched meanwhile
        meet the whole old gallery, never an empty one. At start-up, after a reindex or a restore;
        a change of a few people is `sync_gallery`'s.
        """
        with self._lock:   # an enrolment meanwhile is in the rows read here or waits
            loaded = self._reload()
        if self.incomplete:
            logger.warning("{} enrolled photo(s) lack a template of {} and are not recognised: run "
                           "`daka reindex`", self.incomplete, " / ".join(self.kinds))
        return loaded

    def _reload(self) -> int:
        with self.store.session() as s:
            photos = self._active_photos(s)
        vectors = self._vectors(photos)
        self.gallery.replace_all([(ids[0], staff, v) for (ids, staff, _), v in zip(photos, vectors)])
        return len(photos)

    def sync_gallery(self, staff_ids: Iterable[int] = ()) -> dict:
        """Bring the live gallery in step with the store by changes, not by a reload: templates of
        people made inactive or deleted leave it, those of people made active (or added by a
        fleet's mirror) join it, and the templates of `staff_ids` are read again (their vectors
        may have changed in place). The gallery's cohort is updated row by row (cohort.py), so a
        change of a few people costs milliseconds however large the staff, where a reload costs
        seconds. Returns the templates added and removed."""
        refresh = set(staff_ids)
        with self._lock:
            with self.store.session() as s:
                want = {ids[0]: staff for ids, staff, _ in self._active_photos(s, vectors=False)}
                have = self.gallery.entries()
                gone = [t for t, staff in have.items() if want.get(t) != staff]
                needed = {t for t, staff in want.items() if have.get(t) != staff or staff in refresh}
                if len(needed) > max(RELOAD_AT, len(want) // 2):   # most of it (a fleet's snapshot)
                    self._reload()
                    return {"added": len(want), "removed": len(have), "reloaded": True}
                photos = [p for p in self._active_photos(s, staff_ids={want[t] for t in needed}) if p[0][0] in needed]
                fresh = [(ids[0], staff, v) for (ids, staff, _), v in zip(photos, self._vectors(photos))]
            self.gallery.remove_templates(gone)
            for template_id, staff, vector in fresh:
                self.gallery.add(template_id, staff, vector)
        return {"added": len(fresh), "removed": len(gone), "reloaded": False}

    def _active_photos(self, s, *, vectors: bool = True, staff_ids: set[int] | None = None) -> list:
        """(template ids by model, staff id, descriptors by model) of every photo of active staff
        (of `staff_ids` only, when given) with a template of each model in use, in enrolment order;
        the others are counted in `incomplete`. `vectors` False: ids only (no descriptors read)."""
        columns = [FaceTemplate.id, FaceTemplate.staff_id, FaceTemplate.model_id, FaceTemplate.photo_file]
        query = select(*columns, *([FaceTemplate.descriptor] if vectors else [])).join(Staff) \
            .where(Staff.active.is_(True)).order_by(FaceTemplate.id)
        if staff_ids is not None:
            if not staff_ids:
                return []
            query = query.where(FaceTemplate.staff_id.in_(sorted(staff_ids)))
        photos: dict[str, tuple[dict, int, dict]] = {}
        for row in s.execute(query):
            ids, _, parts = photos.setdefault(row.photo_file, ({}, row.staff_id, {}))
            ids.setdefault(row.model_id, row.id)
            if vectors:
                parts.setdefault(row.model_id, np.frombuffer(row.descriptor, "<f4")[None, :])
        complete = [(tuple(ids[k] for k in self.kinds), staff, parts) for ids, staff, parts in photos.values()
                    if all(k in ids for k in self.kinds)]
        if staff_ids is None:
            self.incomplete = len(photos) - len(complete)
        return complete

    def _vectors(self, photos: list) -> np.ndarray:
        """The gallery vectors of `_active_photos` rows, combined in one batch."""
        if not photos:
            return np.zeros((0, 0), np.float32)
        return self.embedder.combine({k: np.vstack([parts[k] for _, _, parts in photos]) for k in self.kinds})

    # -- analysis ------------------------------------------------------
    def analyse(self, bgr: np.ndarray, *, lenient: bool = False) -> StillFace:
        """The one usable face of a photo, or :class:`Refused` with the reason (`lenient`: the
        administrator's override of the quality gate's doubts)."""
        try:
            # find small faces too, to say "too small" rather than "no face"
            return describe_still(bgr, self.detector, self.parts, self.doubt_limits if lenient else self.limits,
                                  min_face=max(40, self.cfg.min_face_px // 2), threads=self.detect_threads)
        except Unusable as exc:
            raise Refused(exc.reason, exc.detail) from exc

    def _analyse_or_doubt(self, bgr: np.ndarray, accept_doubtful: bool) -> tuple[StillFace, str | None]:
        """The face and, when the gate doubted it and the administrator accepted anyway, its reason."""
        try:
            return self.analyse(bgr), None
        except Refused as exc:
            if not accept_doubtful or exc.reason not in QUALITY_REASONS:
                raise
            return self.analyse(bgr, lenient=True), exc.reason

    # -- enrolment -----------------------------------------------------
    def enroll(self, image: bytes | np.ndarray, identity: Identity, *, label: str | None = None,
               accept_doubtful: bool = False) -> EnrollResult:
        """Enrol one image of `identity`: a photo file's bytes (stored as they are) or a BGR array
        (a camera frame, stored as a JPEG). `label` names the image in the result and on the
        template (the file name; "工号_姓名.jpg" when None). `accept_doubtful`: an administrator
        enrols a photo the quality gate doubts (the result and the audit name the doubt)."""
        try:
            who = identity.checked()
        except BadName as exc:
            return EnrollResult(label or "", False, "bad_name", str(exc))
        label = label if label is not None else f"{who.staff_no}_{who.name}.jpg"
        if not self._slots.acquire(timeout=self.busy_wait):
            return EnrollResult(label, False, "busy", f"more than {self.busy_wait:.0f} s waiting for "
                                "other enrolments", who.staff_no, who.name)
        try:
            try:
                if isinstance(image, (bytes, bytearray, memoryview)):
                    data = bytes(image)
                    decoded = decode_image(data, max_bytes=self.max_bytes)
                    extension = decoded.extension
                    sample, doubt = self._analyse_or_doubt(decoded.bgr, accept_doubtful)
                    del decoded  # the decoded pixels go before the slot is handed on
                else:
                    sample, doubt = self._analyse_or_doubt(_array_image(image), accept_doubtful)
                    ok, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, CAPTURE_JPEG_QUALITY])
                    if not ok:
                        raise Refused("not_image", "the image could not be encoded as JPEG")
                    data, extension = jpeg.tobytes(), ".jpg"
            finally:
                self._slots.release()
            template_id = self._store_template(who, data, extension, sample, label, doubt)
        except (ImageRefused, Refused) as exc:
            return EnrollResult(label, False, exc.reason, exc.detail, who.staff_no, who.name)
        return EnrollResult(label, True, None, "", who.staff_no, who.name, template_id, doubt)

    def enroll_file(self, data: bytes, filename: str, *, department: str = "",
                    accept_doubtful: bool = False) -> EnrollResult:
        """Enrol a photo file named 工号_姓名.ext: the file name says who it is."""
        try:
            identity = Identity.from_file_name(filename, department)
        except BadName as exc:
            return EnrollResult(filename, False, "bad_name", str(exc))
        return self.enroll(data, identity, label=filename, accept_doubtful=accept_doubtful)

    def enroll_many(self, items: Iterable[tuple[str, Callable[[], bytes]]], *,
                    accept_doubtful: bool = False) -> Iterator[EnrollResult]:
        """Enrol (file name, reader) pairs one by one (see `enroll_file`); a reader may raise :class:`Refused`."""
        for name, read in items:
            try:
                data = read()
            except Refused as exc:
                yield EnrollResult(name, False, exc.reason, exc.detail)
                continue
            yield self.enroll_file(data, name, accept_doubtful=accept_doubtful)

    def _store_template(self, who: Identity, data: bytes, extension: str, sample: StillFace, label: str,
                        doubt: str | None = None) -> int:
        digest = hashlib.sha256(data).hexdigest()
        # A fleet's central library (issue 20) keeps the bytes in the database too, where every
        # terminal reads them (asked at each enrolment: `daka fleet init` may come after the start).
        central = is_centre(self.store)
        with self._lock:  # one enrolment at a time: the duplicate checks then hold
            with self.store.session() as s:
                staff = s.scalar(select(Staff).where(Staff.staff_no == who.staff_no))
                if staff is None and who.existing:
                    raise Refused("unknown_staff", f"no one has staff no {who.staff_no}")
                if staff is not None and staff.name != who.name:
                    raise Refused("name_conflict", f"{who.staff_no} is {staff.name}")
                if staff is not None and s.scalar(select(FaceTemplate.id).where(
                        FaceTemplate.staff_id == staff.id, FaceTemplate.photo_sha256 == digest)):
                    raise Refused("duplicate_photo")
                match = self.gallery.match(sample.vector)
                if match.staff_id is not None and match.similarity >= self._duplicate_similarity() \
                        and (staff is None or match.staff_id != staff.id):
                    other = s.get(Staff, match.staff_id)
                    raise Refused("duplicate_face", f"similarity {match.similarity:.3f} to "
                                  f"{other.staff_no if other else match.staff_id}")
                if staff is None:
                    staff = Staff(staff_no=who.staff_no, name=who.name, department=who.department)
                    s.add(staff)
                if central:
                    keep_photo(s, data)
                stored = f"{uuid.uuid4().hex}{extension}"
                path = self.photos_dir / stored
                path.write_bytes(data)
                try:
                    templates = [FaceTemplate(staff=staff, descriptor=sample.parts[kind].tobytes(),
                                              model_id=kind, photo_file=stored, photo_sha256=digest,
                                              original_name=label[:255],
                                              # a doubted photo ranks last where the best photo is shown
                                              quality=0.0 if doubt else sample.quality.score)
                                 for kind in self.kinds]
                    s.add_all(templates)   # inserted in this order: the primary template gets the lowest id
                    s.flush()
                    template = templates[0]
                    self.store.audit(s, "library", "enroll", staff_no=who.staff_no, template=template.id,
                                     file=label, **({"doubt": doubt} if doubt else {}))
                except BaseException:
                    path.unlink(missing_ok=True)
                    raise
                ids = (template.id, staff.id)
            self.gallery.add(ids[0], ids[1], sample.vector)
            return ids[0]

    def _duplicate_similarity(self) -> float:
        """The duplicate threshold on the scale of the similarity in use (each embedder has its own)."""
        if len(self.kinds) > 1:
            return self.cfg.fused_duplicate_similarity
        if self.kinds == ("faceres",):
            return self.cfg.faceres_duplicate_similarity
        return self.cfg.duplicate_similarity

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
            # a centre's photos enrolled on a terminal are in the database only (issue 20)
            central = dict(s.execute(select(FaceTemplate.photo_file, FaceTemplate.photo_sha256)).all()) \
                if is_centre(self.store) else {}
        photos = list(dict.fromkeys(photo for photo, _ in rows))
        done, failed = 0, []
        for i, photo in enumerate(photos, 1):
            try:
                path = photo_path(self.photos_dir, photo)
                if path is None:
                    raise OSError(f"{photo!r} is not a file in the photos folder")
                if not path.exists() and photo in central:
                    self._restore_photo(path, central[photo])
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

    def _restore_photo(self, path: Path, digest: str) -> None:
        """Write a centre's photo from ``face_photos`` into the photos folder (when it is there)."""
        with self.store.session() as s:
            data = read_photo(s, digest)
        if data is not None:
            path.write_bytes(data)

    def _replace_templates(self, photo: str, sample: StillFace) -> None:
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
                t.descriptor = sample.parts[kind].tobytes()
                t.model_id, t.quality = kind, sample.quality.score

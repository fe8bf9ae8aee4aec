"""Face library enrolment: real photos, a corpus of bad files, zip and folder sources, reindex."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib

import cv2
import numpy as np
import pytest
from PIL import Image
from sqlalchemy import func, select

from app.library import FaceLibrary, folder_items, parse_photo_name, zip_items
from app.library.names import BadName
from app.store import AuditEntry, FaceTemplate, Staff
from app.vision.decision import DecisionRule, TrackEvidence, decide
from app.vision.engine import VisionParts
from app.vision.gallery import FaceGallery


@pytest.fixture(scope="module")
def parts(models):
    from app.config import load_config_file

    return VisionParts.load(models, load_config_file(None, env={}).vision)


@pytest.fixture
def library(store, parts, instance):
    config = store.app.config["DAKA_CONFIG"]
    lib = FaceLibrary(store, parts, FaceGallery(), instance.photos_dir, config.library,
                      max_bytes=config.storage.photo_max_mb * 1024 * 1024)
    lib.load_gallery()
    return lib


def _jpeg(bgr, quality=92) -> bytes:
    ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return buf.tobytes()


def _png_header(width, height) -> bytes:
    """A PNG whose IHDR claims width x height (a decompression bomb's header)."""
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) \
        + chunk(b"IEND", b"")


def test_enrolls_a_real_photo_and_updates_the_live_gallery(library, photos, frames, store, instance):
    result = library.enroll_file(photos["obama.jpg"].read_bytes(), "HR0878_奥巴马.jpg")
    assert result.ok, result
    assert (result.staff_no, result.name) == ("HR0878", "奥巴马")
    with store.session() as s:
        template = s.get(FaceTemplate, result.template_id)
        staff = s.get(Staff, template.staff_id)
        assert staff.staff_no == "HR0878" and staff.name == "奥巴马"
        assert s.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "enroll")) == 1
    stored = instance.photos_dir / template.photo_file
    assert stored.read_bytes() == photos["obama.jpg"].read_bytes()
    assert "奥巴马" not in template.photo_file and "/" not in template.photo_file
    # no restart: another photo of the same man matches at once
    face = library.analyse(frames["obama2.jpg"])
    match = library.gallery.match(face.vector)
    assert match.staff_id == staff.id and match.similarity > 0.93


def test_several_photos_per_person_and_duplicates_refused(library, photos):
    assert library.enroll_file(photos["obama.jpg"].read_bytes(), "A1_Obama.jpg").ok
    second = library.enroll_file(photos["obama2.jpg"].read_bytes(), "A1_Obama_2.jpg")
    assert second.ok, second
    again = library.enroll_file(photos["obama.jpg"].read_bytes(), "A1_Obama(3).jpg")
    assert (again.ok, again.reason) == (False, "duplicate_photo")
    other = library.enroll_file(photos["obama3.jpg"].read_bytes(), "B2_Someone.jpg")
    assert (other.ok, other.reason) == (False, "duplicate_face")
    assert "A1" in other.detail
    conflict = library.enroll_file(photos["biden.jpg"].read_bytes(), "A1_Biden.jpg")
    assert (conflict.ok, conflict.reason) == (False, "name_conflict")
    biden = library.enroll_file(photos["biden.jpg"].read_bytes(), "C3_Biden.jpg")
    assert biden.ok, biden
    assert len(library.gallery) == 3


def test_exif_orientation_is_honoured(library, frames):
    # Store the photo lying on its side with an EXIF tag saying "rotate 90° clockwise to view".
    sideways = cv2.rotate(frames["obama.jpg"], cv2.ROTATE_90_COUNTERCLOCKWISE)
    image = Image.fromarray(sideways[:, :, ::-1])
    exif = Image.Exif()
    exif[0x0112] = 6
    buf = io.BytesIO()
    image.save(buf, "JPEG", exif=exif.tobytes(), quality=92)
    assert library.enroll_file(buf.getvalue(), "E1_旋转.jpg").ok
    # Without the tag the face lies sideways and is not found.
    plain = io.BytesIO()
    image.save(plain, "JPEG", quality=92)
    assert library.enroll_file(plain.getvalue(), "E2_横躺.jpg").reason == "no_face"


@pytest.mark.parametrize("fmt", ["PNG", "WEBP", "BMP"])
def test_other_formats(library, frames, fmt):
    buf = io.BytesIO()
    half = cv2.resize(frames["biden.jpg"], None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
    Image.fromarray(half[:, :, ::-1]).save(buf, fmt)
    result = library.enroll_file(buf.getvalue(), f"F1_拜登.{fmt.lower()}")
    assert result.ok, result


def _corpus(photos, frames):
    good = photos["obama.jpg"].read_bytes()
    face = frames["obama.jpg"]
    gif = io.BytesIO()
    Image.fromarray(face[:, :, ::-1]).save(gif, "GIF")
    two = np.hstack([frames["obama.jpg"], frames["biden.jpg"][: face.shape[0], :]])
    small = cv2.resize(face, None, fx=0.22, fy=0.22, interpolation=cv2.INTER_AREA)  # face ~57 px
    canvas = np.full((480, 640, 3), 128, np.uint8)
    canvas[100:100 + small.shape[0], 100:100 + small.shape[1]] = small
    return [
        ("truncated.jpg", "T1_截断.jpg", good[: len(good) // 2], "not_image"),
        ("zero bytes", "Z1_空.jpg", b"", "not_image"),
        ("bomb header", "P1_炸弹.png", _png_header(100000, 100000), "too_many_pixels"),
        ("36 MP header", "P2_大图.png", _png_header(6000, 6000), "too_many_pixels"),
        ("too many bytes", "L1_大.jpg", good + b"\0" * (5 * 1024 * 1024), "too_large"),
        ("gif", "G1_动图.jpg", gif.getvalue(), "not_image"),
        ("text", "X1_文本.jpg", "这不是图片\n".encode() * 20, "not_image"),
        ("path", "../../x_名.jpg", good, "bad_name"),
        ("right-to-left override", "E104_\u202egpj.jpg", good, "bad_name"),
        ("zero-width space", "E105_张\u200b三.jpg", good, "bad_name"),
        ("300 chars", "N1_" + "长" * 300 + ".jpg", good, "bad_name"),
        ("no underscore", "obama.jpg", good, "bad_name"),
        ("empty name", "N2_.jpg", good, "bad_name"),
        ("no letter in the name", "E108_..jpg", good, "bad_name"),
        ("digits for a name", "E110_123.jpg", good, "bad_name"),
        ("no face", "N3_空白.jpg", _jpeg(np.full((480, 640, 3), 120, np.uint8)), "no_face"),
        ("two faces", "N4_两人.jpg", _jpeg(two), "several_faces"),
        ("small face", "N5_小.jpg", _jpeg(canvas), "too_small"),
        ("blurry", "N6_模糊.jpg", _jpeg(cv2.GaussianBlur(face, (0, 0), 6)), "blurry"),
        ("dark", "N7_暗.jpg", _jpeg((face * 0.15).astype(np.uint8)), "too_dark"),
    ]


def test_bad_file_corpus_gives_a_reason_per_file_and_stores_nothing(library, photos, frames,
                                                                   store, instance):
    for label, filename, data, reason in _corpus(photos, frames):
        result = library.enroll_file(data, filename)
        assert (result.ok, result.reason) == (False, reason), (label, result)
        assert result.message() and result.message("en")
    assert list(instance.photos_dir.iterdir()) == []
    with store.session() as s:
        assert s.scalar(select(func.count()).select_from(Staff)) == 0
    assert len(library.gallery) == 0


def test_enrol_an_array_with_an_identity(library, frames, store, instance):
    """The one enrolment call with a BGR array (a camera frame) and an identity: stored as a
    JPEG under a new person with their department; every identity check still holds."""
    from app.library import Identity

    result = library.enroll(frames["obama.jpg"], Identity("HR9", " 奥巴马 ", department="行政"))
    assert result.ok and (result.staff_no, result.name, result.file) == ("HR9", "奥巴马", "HR9_奥巴马.jpg"), result
    with store.session() as s:
        template = s.get(FaceTemplate, result.template_id)
        staff = s.get(Staff, template.staff_id)
        assert (staff.name, staff.department, template.original_name) == ("奥巴马", "行政", "HR9_奥巴马.jpg")
        stored = instance.photos_dir / template.photo_file
    assert stored.suffix == ".jpg" and cv2.imdecode(np.fromfile(stored, np.uint8), cv2.IMREAD_COLOR).shape \
        == frames["obama.jpg"].shape
    assert library.gallery.match(library.analyse(frames["obama2.jpg"]).vector).staff_id == staff.id

    def refusal(image, identity):
        r = library.enroll(image, identity)
        return (r.ok, r.reason)

    assert refusal(frames["obama.jpg"], Identity("HR9", "奥巴马")) == (False, "duplicate_photo")
    assert refusal(frames["obama2.jpg"], Identity("HR10", "Someone")) == (False, "duplicate_face")
    assert refusal(frames["obama2.jpg"], Identity("HR9", "别人")) == (False, "name_conflict")
    assert refusal(frames["biden.jpg"], Identity("HR11", "拜\u200b登")) == (False, "bad_name")
    assert refusal(frames["biden.jpg"], Identity("HR 11", "拜登")) == (False, "bad_name")
    assert refusal(frames["biden.jpg"], Identity("HR11", "拜登", department="\u202e")) == (False, "bad_name")
    assert refusal(frames["biden.jpg"], Identity("HR12", "拜登", existing=True)) == (False, "unknown_staff")
    assert library.enroll(frames["obama3.jpg"], Identity("HR9", "奥巴马", existing=True)).ok
    with store.session() as s:
        assert [st.staff_no for st in s.scalars(select(Staff))] == ["HR9"]
        assert s.scalar(select(func.count(func.distinct(FaceTemplate.photo_file)))) == 2


def test_an_array_gets_the_same_refusals_as_a_file_and_stores_nothing(library, frames, store, instance):
    from app.library import Identity

    face = frames["obama.jpg"]
    small = cv2.resize(face, None, fx=0.22, fy=0.22, interpolation=cv2.INTER_AREA)  # face ~57 px
    canvas = np.full((480, 640, 3), 128, np.uint8)
    canvas[100:100 + small.shape[0], 100:100 + small.shape[1]] = small
    corpus = [
        ("no face", np.full((480, 640, 3), 120, np.uint8), "no_face"),
        ("two faces", np.hstack([face, frames["biden.jpg"][: face.shape[0], :]]), "several_faces"),
        ("small face", canvas, "too_small"),
        ("blurry", cv2.GaussianBlur(face, (0, 0), 6), "blurry"),
        ("dark", (face * 0.15).astype(np.uint8), "too_dark"),
        ("float pixels", face.astype(np.float32), "not_image"),
        ("one channel", np.ascontiguousarray(face[:, :, 0]), "not_image"),
        ("empty", np.zeros((0, 640, 3), np.uint8), "not_image"),
        ("not an array", face.tolist()[:2], "not_image"),
        ("over 16 MP", np.broadcast_to(face[:1, :1], (4000, 4001, 3)), "too_many_pixels"),
    ]
    for label, image, reason in corpus:
        result = library.enroll(image, Identity("N1", "张三"))
        assert (result.ok, result.reason) == (False, reason), (label, result)
        assert result.message() and result.message("en") and result.detail or reason in ("no_face",), (label, result)
    assert list(instance.photos_dir.iterdir()) == []
    with store.session() as s:
        assert s.scalar(select(func.count()).select_from(Staff)) == 0
    assert len(library.gallery) == 0


def test_zip_and_folder_sources(library, photos, frames, tmp_path):
    corpus = _corpus(photos, frames)
    archive = tmp_path / "faces.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("部门/HR0001_奥巴马.jpg", photos["obama.jpg"].read_bytes())
        zf.writestr("HR0002_拜登.jpg", photos["biden.jpg"].read_bytes())
        for _, filename, data, _ in corpus[:6]:
            zf.writestr(filename, data)
    items = list(zip_items(archive, max_bytes=library.max_bytes, max_files=100))
    results = list(library.enroll_many(items))
    ok = sorted(r.file for r in results if r.ok)
    assert ok == ["HR0001_奥巴马.jpg", "HR0002_拜登.jpg"]
    assert sorted(r.reason for r in results if not r.ok) == sorted(c[3] for c in corpus[:6])

    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "HR0003_Obama.jpg").write_bytes(photos["obama2.jpg"].read_bytes())
    (folder / "obama3.jpg").write_bytes(photos["obama3.jpg"].read_bytes())
    results = {r.file: r for r in library.enroll_many(folder_items(folder, max_bytes=library.max_bytes))}
    assert results["HR0003_Obama.jpg"].reason == "duplicate_face"
    assert results["obama3.jpg"].reason == "bad_name"


def test_reindex_recomputes_every_template(library, photos, store):
    assert library.enroll_file(photos["obama.jpg"].read_bytes(), "R1_Obama.jpg").ok
    assert library.enroll_file(photos["biden.jpg"].read_bytes(), "R2_Biden.jpg").ok
    with store.session() as s:
        for t in s.scalars(select(FaceTemplate)):
            t.descriptor, t.model_id = np.ones(128, "<f4").tobytes(), "old-model"
    library.load_gallery()
    seen = []
    report = library.reindex(progress=lambda i, n: seen.append((i, n)))
    assert report["updated"] == 2 and report["failed"] == [] and seen[-1] == (2, 2)
    with store.session() as s:
        assert {t.model_id for t in s.scalars(select(FaceTemplate))} == set(library.kinds)
    assert library.gallery.match(library.analyse(
        cv2.imdecode(np.fromfile(photos["obama2.jpg"], np.uint8), cv2.IMREAD_COLOR)).vector).similarity > 0.93


@pytest.mark.parametrize("name, expected", [
    ("HR0878_张三.jpg", ("HR0878", "张三")),
    ("HR0878_张三_2.jpg", ("HR0878", "张三")),
    ("HR0878_张三（2）.png", ("HR0878", "张三")),
    ("A-1_Mary_Ann.webp", ("A-1", "Mary_Ann")),
    ("7_Zoë.bmp", ("7", "Zoë")),
])
def test_photo_names(name, expected):
    got = parse_photo_name(name)
    assert (got.staff_no, got.name) == expected


@pytest.mark.parametrize("name", ["", "noname.jpg", "_张三.jpg", "HR 1_张三.jpg", "HR1_.jpg",
                                  "a/HR1_x.jpg", "HR1_a\x07b.jpg", "HR1_" + "x" * 65 + ".jpg",
                                  "HR1_\u202egpj.jpg", "HR1_张\u200b三.jpg", "HR1_张\u200d三.jpg",
                                  "HR1_张\u2028三.jpg", "HR1_\ue000.jpg", "HR1_张\ufeff.jpg"])
def test_bad_photo_names(name):
    with pytest.raises(BadName):
        parse_photo_name(name)


def test_truncated_jpeg_is_refused_even_when_pillow_is_told_to_load_truncated(photos, monkeypatch):
    # face_recognition sets ImageFile.LOAD_TRUNCATED_IMAGES = True when imported; an upload cut
    # in half must still be refused, and the global switch left as it was.
    from PIL import ImageFile

    from app.library.images import ImageRefused, decode_image

    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    good = photos["obama.jpg"].read_bytes()
    with pytest.raises(ImageRefused) as refused:
        decode_image(good[: len(good) // 2], max_bytes=5_000_000)
    assert refused.value.reason == "not_image"
    assert ImageFile.LOAD_TRUNCATED_IMAGES is True
    assert decode_image(good, max_bytes=5_000_000).bgr.shape[2] == 3


def _spy_on_decoding(monkeypatch) -> list:
    """Record every decode of pixel data (Pillow's ImageFile.load) while the real one runs."""
    from PIL import ImageFile

    calls, real = [], ImageFile.ImageFile.load

    def load(self):
        calls.append(self.size)
        return real(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", load)
    return calls


def test_an_oversized_photo_is_refused_from_its_header_without_decoding(monkeypatch):
    """A 36 MP PNG (the review's +420 MB upload) costs no decoding; a 12 MP phone photo is read."""
    from app.library.images import ImageRefused, decode_image

    big = io.BytesIO()
    Image.new("L", (6000, 6000)).save(big, "PNG")
    phone = io.BytesIO()
    Image.new("L", (4032, 3024), 128).save(phone, "PNG")
    calls = _spy_on_decoding(monkeypatch)
    with pytest.raises(ImageRefused) as refused:
        decode_image(big.getvalue(), max_bytes=50_000_000)
    assert refused.value.reason == "too_many_pixels"
    assert "6000x6000" in refused.value.detail and "at most 16 MP" in refused.value.detail
    assert calls == []
    assert decode_image(phone.getvalue(), max_bytes=50_000_000).bgr.shape == (3024, 4032, 3)
    assert calls and set(calls) == {(4032, 3024)}


def test_the_refusal_names_the_file_and_the_limit(library, monkeypatch):
    calls = _spy_on_decoding(monkeypatch)
    result = library.enroll_file(_png_header(6000, 6000), "E201_大图.png")
    assert (result.ok, result.reason, result.staff_no) == (False, "too_many_pixels", "E201")
    assert result.as_dict()["message"] == "图片像素过多，请缩小后再上传" and "36.0 MP" in result.detail
    assert calls == []


def test_enrolments_beyond_the_slots_are_refused_as_busy_and_waiters_get_their_turn(store, parts, instance,
                                                                                    photos, monkeypatch):
    """Two photos are decoded at once; a third waits its turn, or is refused as "busy" when it may not wait."""
    import threading

    from app.library import service
    from tests.helpers.waiting import wait_for

    config = store.app.config["DAKA_CONFIG"]
    library = FaceLibrary(store, parts, FaceGallery(), instance.photos_dir, config.library,
                          max_bytes=config.storage.photo_max_mb * 1024 * 1024, max_concurrent=2, busy_wait=0)
    inside, release, real = [], threading.Event(), service.decode_image

    def held_decode(data, **kw):
        inside.append(threading.current_thread().name)
        assert release.wait(120)
        return real(data, **kw)

    monkeypatch.setattr(service, "decode_image", held_decode)
    results = {}
    holders = [threading.Thread(target=lambda n=n, f=f: results.__setitem__(n, library.enroll_file(
        photos[f].read_bytes(), f"{n}_x.jpg")), name=n) for n, f in (("A1", "obama.jpg"), ("B1", "biden.jpg"))]
    for t in holders:
        t.start()
    try:
        wait_for(lambda: len(inside) == 2, 120)
        busy = library.enroll_file(photos["obama2.jpg"].read_bytes(), "C1_x.jpg")
        assert (busy.ok, busy.reason, busy.staff_no) == (False, "busy", "C1") and len(inside) == 2
        assert busy.as_dict()["message"] == "正在处理其他照片，请稍后重试"
        library.busy_wait = 120.0  # now a third one waits for a slot instead
        waiter = threading.Thread(target=lambda: results.__setitem__("C2", library.enroll_file(
            photos["obama2.jpg"].read_bytes(), "C2_x.jpg")), name="C2")
        waiter.start()
        release.set()
        waiter.join(120)
    finally:
        release.set()
        for t in holders:
            t.join(120)
    assert sorted(inside) == ["A1", "B1", "C2"] and "busy" not in {r.reason for r in results.values()}
    # Two photos of one man: whichever is stored first is enrolled, the other is his duplicate.
    assert results["B1"].ok and results["A1"].ok != results["C2"].ok, results


def test_remove_template_never_deletes_outside_the_photos_folder(library, store, instance, photos):
    """A restored backup may carry photo_file='../x': the rows go, a file outside photos/ stays."""
    result = library.enroll_file(photos["obama.jpg"].read_bytes(), "T1_x.jpg")
    assert result.ok, result
    outside = instance.photos_dir.parent / "daka.toml.bak"
    outside.write_text("not a photo")
    with store.session() as s:
        template = s.get(FaceTemplate, result.template_id)
        inside = instance.photos_dir / template.photo_file
        for t in s.scalars(select(FaceTemplate).where(FaceTemplate.photo_file == template.photo_file)):
            t.photo_file = "../daka.toml.bak"
    assert library.remove_template(result.template_id)
    assert outside.read_text() == "not a photo" and inside.exists()
    with store.session() as s:
        assert s.scalar(select(func.count()).select_from(FaceTemplate)) == 0
    assert len(library.gallery) == 0
    # An ordinary photo is deleted with its templates.
    again = library.enroll_file(photos["biden.jpg"].read_bytes(), "T2_y.jpg")
    with store.session() as s:
        stored = instance.photos_dir / s.get(FaceTemplate, again.template_id).photo_file
    assert stored.is_file() and library.remove_template(again.template_id) and not stored.exists()


def test_enrolled_photos_feed_the_decision_by_false_accept_rate(library, photos, frames, store):
    """Admin uploads (two photos of one person) and removal change what the configured decision
    sees: its threshold follows the enrolled photos, a known face is accepted, a stranger is not."""
    config = store.app.config["DAKA_CONFIG"]
    rule = DecisionRule.from_config(config.recognition, config.vision.embedder)
    assert rule.by_false_accept
    assert library.enroll_file(photos["obama.jpg"].read_bytes(), "A1_Obama.jpg").ok
    assert library.enroll_file(photos["obama2.jpg"].read_bytes(), "A1_Obama_2.jpg").ok
    biden = library.enroll_file(photos["biden.jpg"].read_bytes(), "C3_Biden.jpg")
    assert biden.ok and (library.gallery.people, len(library.gallery)) == (2, 3)

    def seen(name, times=2):
        vector = library.analyse(frames[name]).vector
        evidence = TrackEvidence()
        for _ in range(times):
            evidence.add(vector, 1.0, library.gallery.match(vector).staff_id, library.gallery.match(vector))
        return decide(library.gallery, evidence, rule)

    with store.session() as s:
        obama = s.scalar(select(Staff.id).where(Staff.staff_no == "A1"))
    known = seen("obama3.jpg")
    assert (known.staff_id, known.reason) == (obama, "accepted")
    assert known.threshold == pytest.approx(rule.threshold_for(3))
    assert seen("biden.jpg").known
    library.remove_template(biden.template_id)
    stranger = seen("biden.jpg")
    assert (stranger.known, stranger.reason) == (False, "below_threshold")
    assert stranger.threshold == pytest.approx(rule.threshold_for(2))


def _random_people(library, store, people: int, photos: int = 2, seed: int = 5) -> dict[int, list[int]]:
    """`people` staff with `photos` templates each (random unit vectors of every model in use),
    written to the store as enrolment writes them; returns staff id -> primary template ids."""
    rng = np.random.default_rng(seed)
    members = getattr(library.embedder, "members", (library.embedder,))
    dims = {m.kind: m.dim for m in members}
    out: dict[int, list[int]] = {}
    with store.session() as s:
        for p in range(people):
            staff = Staff(staff_no=f"R{p:04d}", name=f"随机{p}")
            s.add(staff)
            for k in range(photos):
                rows = []
                for kind in library.kinds:
                    v = rng.normal(size=dims[kind]).astype("<f4")
                    rows.append(FaceTemplate(staff=staff, model_id=kind, photo_file=f"r{p}_{k}.jpg",
                                             photo_sha256=f"{p}-{k}", descriptor=(v / np.linalg.norm(v)).tobytes()))
                s.add_all(rows)
                s.flush()
                out.setdefault(staff.id, []).append(rows[0].id)
    return out


def _same_gallery(a: FaceGallery, b: FaceGallery) -> None:
    assert a.entries() == b.entries()
    for x, y in zip(a.cohort_memo("parts", lambda p: p), b.cohort_memo("parts", lambda p: p)):
        assert np.allclose(np.sort(x), np.sort(y), atol=1e-5)


def test_a_reload_never_leaves_the_gallery_empty_for_a_face_matched_meanwhile(library, store, monkeypatch):
    """load_gallery emptied the live gallery, then read the store and added photo by photo: a face
    matched meanwhile (the camera does not wait) met nobody, and a fleet terminal showed 'nobody'
    to an enrolled person at every library change. The new gallery is built aside and swapped in."""
    people = _random_people(library, store, 6)
    library.load_gallery()
    someone = next(iter(people))
    probe = _vector_of(library, store, people[someone][0])
    seen = []
    real = library.store.session

    def session_meanwhile(*args, **kwargs):
        seen.append(library.gallery.match(probe).staff_id)   # a camera frame while the store is read
        return real(*args, **kwargs)

    monkeypatch.setattr(library.store, "session", session_meanwhile)
    assert library.load_gallery() == 12
    assert seen and all(staff == someone for staff in seen), seen
    assert library.gallery.match(probe).staff_id == someone


def _vector_of(library, store, template_id: int) -> np.ndarray:
    """The gallery vector of a stored photo (every model's row of it, combined)."""
    with store.session() as s:
        photo = s.get(FaceTemplate, template_id).photo_file
        rows = s.scalars(select(FaceTemplate).where(FaceTemplate.photo_file == photo)).all()
        return library.embedder.combine({t.model_id: np.frombuffer(t.descriptor, "<f4")[None, :] for t in rows})[0]


def test_sync_gallery_follows_the_store_by_changes_and_ends_where_a_reload_would(library, store, parts):
    people = _random_people(library, store, 40)
    library.load_gallery()
    before = library.gallery.revision
    assert library.sync_gallery() == {"added": 0, "removed": 0, "reloaded": False}
    assert library.gallery.revision == before   # nothing changed: the memoised threshold still holds
    first, second = list(people)[:2]
    with store.session() as s:
        s.get(Staff, first).active = False
        s.delete(s.get(Staff, second))   # the rows of a deleted person go with it (fleet tombstones)
        for t in s.scalars(select(FaceTemplate).where(FaceTemplate.staff_id == second)):
            s.delete(t)
    assert library.sync_gallery() == {"added": 0, "removed": 4, "reloaded": False}
    assert first not in library.gallery.staff_ids() and second not in library.gallery.staff_ids()
    config = store.app.config["DAKA_CONFIG"]
    reloaded = FaceLibrary(store, parts, FaceGallery(), library.photos_dir, config.library, max_bytes=1 << 20)
    reloaded.load_gallery()
    _same_gallery(library.gallery, reloaded.gallery)
    with store.session() as s:
        s.get(Staff, first).active = True
    assert library.sync_gallery() == {"added": 2, "removed": 0, "reloaded": False}
    reloaded.load_gallery()
    _same_gallery(library.gallery, reloaded.gallery)


def test_sync_gallery_reads_the_named_peoples_vectors_again(library, store):
    """A fleet's mirror rewrites a person's template rows in place (a central reindex): the ids
    stay, the vectors change; the people it names are read again."""
    people = _random_people(library, store, 8)
    library.load_gallery()
    who = next(iter(people))
    template = people[who][0]
    rng = np.random.default_rng(99)
    with store.session() as s:
        photo = s.get(FaceTemplate, template).photo_file
        for t in s.scalars(select(FaceTemplate).where(FaceTemplate.photo_file == photo)):
            v = rng.normal(size=len(t.descriptor) // 4).astype("<f4")
            t.descriptor = (v / np.linalg.norm(v)).tobytes()
    vector = _vector_of(library, store, template)
    assert library.gallery.match(vector).similarity < 0.5   # the gallery still has the old vector
    assert library.sync_gallery() == {"added": 0, "removed": 0, "reloaded": False}   # not named: kept
    assert library.sync_gallery({who}) == {"added": 2, "removed": 0, "reloaded": False}
    match = library.gallery.match(vector)
    assert (match.staff_id, match.template_id) == (who, template) and match.similarity == pytest.approx(1.0, abs=1e-5)

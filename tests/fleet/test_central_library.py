"""The central admin's face library: on a centre the photo's bytes go into ``face_photos`` (every
terminal reads them there) and leave with the last template of the photo; a plain store is as before."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest

from app.config import load_config_file
from app.library import FaceLibrary
from app.store import FaceTemplate, open_store
from app.vision.engine import VisionParts
from app.vision.gallery import FaceGallery
from tests.helpers.fleet import make_centre

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def parts(models):
    return VisionParts.load(models, load_config_file(None, env={}).vision)


@pytest.fixture
def open_library(make_config, instance, parts):
    stores = []

    def make(url: str) -> FaceLibrary:
        store = open_store(make_config(), instance, url=url)
        stores.append(store)
        config = store.app.config["DAKA_CONFIG"]
        return FaceLibrary(store, parts, FaceGallery(), instance.photos_dir, config.library,
                           max_bytes=config.storage.photo_max_mb * 1024 * 1024)
    yield make
    for store in stores:
        store.dispose()


def test_a_central_enrolment_puts_the_photo_bytes_where_terminals_read_them(postgres_server, tmp_path, photos,
                                                                            open_library):
    centre = make_centre(postgres_server, tmp_path, terminals=1)
    library = open_library(centre.owner_url)
    data = photos["obama.jpg"].read_bytes()
    result = library.enroll_file(data, "HR0878_奥巴马.jpg")
    assert result.ok, result
    digest = hashlib.sha256(data).hexdigest()
    with library.store.session() as s:
        assert s.get(FaceTemplate, result.template_id).photo_sha256 == digest
    with centre.connect(centre.terminals[0].url) as c:
        assert c.execute("SELECT data FROM face_photos WHERE sha256 = %s", (digest,)).fetchone() == (data,)
        assert ("face_photos", digest, "U") in c.execute("SELECT table_name, row_key, op FROM fleet_changes").fetchall()

    assert library.remove_template(result.template_id)
    with centre.connect(centre.terminals[0].url) as c:
        assert c.execute("SELECT count(*) FROM face_photos").fetchone() == (0,)
        assert c.execute("SELECT op FROM fleet_changes WHERE table_name = 'face_photos' ORDER BY change_no"
                         ).fetchall() == [("U",), ("D",)]


def test_a_plain_postgresql_store_enrols_as_before(postgres_server, photos, open_library, instance):
    library = open_library(postgres_server.create_database("plain_library_store"))
    result = library.enroll_file(photos["obama.jpg"].read_bytes(), "HR0878_奥巴马.jpg")
    assert result.ok, result
    with library.store.session() as s:
        photo = s.get(FaceTemplate, result.template_id).photo_file
        assert s.connection().exec_driver_sql("SELECT to_regclass('public.face_photos')").scalar() is None
    assert (instance.photos_dir / photo).read_bytes() == photos["obama.jpg"].read_bytes()


def test_reindex_on_the_centre_reads_a_terminals_photo_from_the_database(postgres_server, tmp_path, photos,
                                                                         frames, open_library, instance):
    """A photo enrolled on a terminal exists on the centre as bytes only: reindex restores its file."""
    centre = make_centre(postgres_server, tmp_path, terminals=1)
    library = open_library(centre.owner_url)
    data = photos["biden.jpg"].read_bytes()
    sample = library.analyse(frames["biden.jpg"])
    descriptors = {kind: base64.b64encode(sample.parts[kind].astype("<f4").tobytes()).decode()
                   for kind in library.kinds}
    with centre.connect(centre.terminals[0].url) as c:
        applied = c.execute("INSERT INTO fleet_enrolments (staff_no, name, photo, descriptors, quality) "
                            "VALUES ('B1', '拜登', %s, %s, 0.5) RETURNING applied_at IS NOT NULL, error",
                            (data, json.dumps(descriptors))).fetchone()
    assert applied == (True, None)
    with library.store.session() as s:
        photo = s.query(FaceTemplate.photo_file).filter(FaceTemplate.photo_sha256 == hashlib.sha256(data).hexdigest()
                                                          ).first()[0]
    assert not (instance.photos_dir / photo).exists()
    report = library.reindex()
    assert (report["updated"], report["failed"]) == (1, [])
    assert (instance.photos_dir / photo).read_bytes() == data
    assert library.load_gallery() == 1

"""Fixtures shared by the areas: verified models, registry face photos, decoded frames, stores on both
backends, an HR webhook receiver, loguru to the running test. An area's own fixtures are in its folder's conftest.py."""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np
import pytest

from app import native


@pytest.fixture(scope="session")
def models():
    from app.models import resolve

    return resolve(None, verify=True, require_derived=True)


@pytest.fixture(scope="session")
def photos():
    """The face_recognition 1.3.0 sdist's test photos (fetched from PyPI once, cached)."""
    from app.devdata import registry_face_images

    return registry_face_images()


@pytest.fixture
def loguru_to_this_test():
    """Log to this test's stderr: an earlier in-process `daka` call may have left loguru writing to
    a stream pytest has closed since (the kiosk's threads log). Autouse in tests/kiosk/."""
    from loguru import logger

    logger.remove()
    handler = logger.add(sys.stderr, level="INFO")
    yield
    logger.remove(handler)


@pytest.fixture(scope="session")
def frames(photos):
    """Decoded BGR frames of the photos that show one frontal face."""
    out = {}
    for name in ("obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg"):
        img = cv2.imdecode(np.fromfile(photos[name], np.uint8), cv2.IMREAD_COLOR)
        assert img is not None, name
        out[name] = img
    return out


# --------------------------------------------------------------------------
# Store fixtures: every store test runs on SQLite and on a real PostgreSQL
# --------------------------------------------------------------------------

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
_db_numbers = itertools.count(1)


@pytest.fixture(scope="session")
def postgres_server():
    from app.store.pgserver import PostgresServer, find_bindir

    bindir = find_bindir()
    if bindir is None:
        pytest.skip("PostgreSQL binaries (initdb, pg_ctl) not found: install Debian's postgresql "
                    "package (scripts/install_system_deps.sh does) to run the PostgreSQL tests")
    root = Path(tempfile.mkdtemp(prefix="daka-pg-"))
    server = PostgresServer(root, bindir).start()
    yield server
    server.stop()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(params=BACKENDS)
def database_url(request):
    """None for the instance's SQLite file; a fresh database URL on the test PostgreSQL."""
    if request.param == "sqlite":
        return None
    server = request.getfixturevalue("postgres_server")
    return server.create_database(f"t{next(_db_numbers)}")


@pytest.fixture
def instance(tmp_path):
    from app.instance import Instance

    return Instance(tmp_path / "instance").prepare()


@pytest.fixture
def make_config(instance):
    """A config from the defaults plus ``{section: {key: value}}`` overrides."""
    import tomli_w

    from app.config import load_config

    def make(**sections):
        instance.config_path.write_text(tomli_w.dumps(sections), encoding="utf-8")
        return load_config(instance)
    return make


@pytest.fixture
def store(instance, make_config, database_url):
    from app.store import open_store

    s = open_store(make_config(), instance, url=database_url)
    yield s
    s.dispose()


@pytest.fixture
def receiver():
    """An HR webhook endpoint on a real local HTTP server (tests/helpers/hr_receiver.py)."""
    from tests.helpers.hr_receiver import Receiver

    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def tmpfs(tmp_path):
    """A real 3 MB tmpfs (root only), unmounted at teardown: a disk that fills up for real."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mount = tmp_path / "tmpfs"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=True)


# The compiled core's detector and 5-point landmark model (native and vision tests share them).
@pytest.fixture(scope="module")
def detector():
    return native.FaceDetector()


@pytest.fixture(scope="module")
def landmarks(models):
    return native.LandmarkModel(str(models.path("shape_predictor_5_face_landmarks")))

"""Face photos for tests and benchmarks, fetched from a package registry and cached.

The `face_recognition==1.3.0` source distribution on PyPI carries tests/test_images/: three
photos of one person (obama*.jpg), one of another (biden.jpg) and a few odd ones. Nothing of it
is committed; it is downloaded once with pip into the cache folder.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

SDIST = "face_recognition==1.3.0"
MEMBER_PREFIX = "face_recognition-1.3.0/tests/test_images/"


def cache_dir() -> Path:
    env = os.environ.get("DAKA_CACHE")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[1] / ".cache"


def registry_face_images() -> dict[str, Path]:
    """Map of file name -> path of the sdist's test photos; downloads them on first use."""
    target = cache_dir() / "test-images"
    marker = target / ".complete"
    if not marker.exists():
        target.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp:
            cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:",
                   "-d", tmp, SDIST]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode != 0:
                raise RuntimeError(f"could not download {SDIST} for its test photos: {proc.stderr.strip()[-500:]}")
            archive = next(Path(tmp).glob("*.tar.gz"))
            with tarfile.open(archive) as tar:
                for member in tar.getmembers():
                    if member.isfile() and member.name.startswith(MEMBER_PREFIX):
                        name = Path(member.name).name
                        data = tar.extractfile(member).read()
                        (target / name).write_bytes(data)
        marker.touch()
    return {p.name: p for p in sorted(target.iterdir()) if p.is_file() and not p.name.startswith(".")}

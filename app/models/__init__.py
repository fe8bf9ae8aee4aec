"""Model files: the manifest, where the files are, and whether they are the right ones.

Source weights come from the PyPI package named in models/manifest.toml and are located without
importing it (it imports pkg_resources, gone from recent setuptools). Derived files (the ONNX
descriptor graph) are built at set-up by `daka models install` into a folder beside the
environment, each with a JSON sidecar recording what it was built from and how it verified.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import sys
import tempfile
import tomllib
from dataclasses import dataclass
from pathlib import Path

EXPORTER_VERSION = 1
FIX_HINT = "run `make run` or `make test` (they install the models), or `daka models install`"


class ModelError(RuntimeError):
    """A model file is missing, corrupt or stale; the message names the file and the fix."""


@dataclass(frozen=True)
class ModelSet:
    """Verified paths of the models the terminal runs with."""

    source_dir: Path
    derived_dir: Path
    files: dict[str, Path]
    onnx: Path | None  # the ONNX descriptor graph, None when not built yet
    faceres: Path | None = None  # the converted faceres graph, None when not installed

    def path(self, key: str) -> Path:
        return self.files[key]


def manifest_path() -> Path:
    here = Path(__file__).resolve().parent
    for candidate in (here / "manifest.toml", here.parents[1] / "models" / "manifest.toml"):
        if candidate.is_file():
            return candidate
    raise ModelError("models/manifest.toml not found beside the app package; reinstall Daka")


def load_manifest() -> dict:
    with manifest_path().open("rb") as fh:
        return tomllib.load(fh)


def source_dir(configured: str | Path | None = None, manifest: dict | None = None) -> Path | None:
    """The folder holding the source weights: the configured one, else the installed package's."""
    if configured:
        return Path(configured).expanduser()
    manifest = manifest or load_manifest()
    package, _, sub = manifest["source"]["folder"].partition("/")
    try:
        spec = importlib.util.find_spec(package)  # finds without executing the package
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / sub


def derived_dir(configured: str | Path | None = None) -> Path:
    """Where set-up writes derived models: the configured folder, else beside the environment."""
    if configured:
        return Path(configured).expanduser()
    return Path(sys.prefix) / "share" / "daka" / "models"


def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def verify_file(path: Path, sha256: str, size: int | None = None) -> None:
    """Raise ModelError unless path exists with the expected size and SHA-256."""
    if not path.is_file():
        raise ModelError(f"model file missing: {path} — {FIX_HINT}")
    actual_size = path.stat().st_size
    if size is not None and actual_size != size:
        raise ModelError(
            f"model file corrupt: {path} is {actual_size} bytes, expected {size} — "
            f"delete it and {FIX_HINT}"
        )
    actual = sha256_of(path)
    if actual != sha256:
        raise ModelError(
            f"model file corrupt: {path} has SHA-256 {actual[:16]}…, expected {sha256[:16]}… — "
            f"delete it and {FIX_HINT}"
        )


def atomic_write(path: Path, data: bytes) -> None:
    """Write a model file or sidecar whole or not at all (readers never see half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".")
    try:
        os.fchmod(fd, 0o644)  # models are not secret; the service user must read what root installed
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def sidecar_of(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def check_derived(path: Path, entry: dict, source_sha256: str, *, what: str = "derived model",
                  version_key: str = "exporter_version", version: int = EXPORTER_VERSION) -> dict:
    """Raise ModelError unless a derived file matches its sidecar and its current source.

    The sidecar records the builder's version under ``version_key`` (the ONNX exporter of dlib's
    network, or the TF.js converter of faceres), the source's SHA-256, the file's own SHA-256 and
    the verification's max |diff|, which must be within the manifest entry's tolerance.
    """
    meta_path = sidecar_of(path)
    if not path.is_file() or not meta_path.is_file():
        raise ModelError(f"{what} missing: {path} — {FIX_HINT}")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"{what} record unreadable: {meta_path} ({exc}) — {FIX_HINT}") from exc
    if meta.get(version_key) != version or meta.get("source_sha256") != source_sha256:
        raise ModelError(f"{what} stale: {path} was built from another source or builder — {FIX_HINT}")
    if sha256_of(path) != meta.get("sha256"):
        raise ModelError(f"{what} corrupt: {path} does not match its record — delete it and {FIX_HINT}")
    if not meta.get("max_abs_diff", 1.0) <= float(entry["tolerance"]):
        raise ModelError(f"{what} failed verification: {path} — {FIX_HINT}")
    return meta


def resolve(
    configured_dir: str | Path | None = None,
    *,
    verify: bool = True,
    require_derived: bool = True,
) -> ModelSet:
    """Locate and verify every required model; raise ModelError naming the first problem."""
    manifest = load_manifest()
    src = source_dir(configured_dir, manifest)
    if src is None or not src.is_dir():
        package = manifest["source"]["package"]
        raise ModelError(
            f"model folder not found (PyPI package {package!r} not installed"
            + (f", looked in {src}" if src else "")
            + f") — {FIX_HINT}, or set [models] dir in the config"
        )
    files: dict[str, Path] = {}
    for key, entry in manifest["files"].items():
        path = src / entry["file"]
        if not entry.get("required", True) and not path.exists():
            continue
        if verify:
            verify_file(path, entry["sha256"], entry.get("size"))
        elif not path.is_file():
            raise ModelError(f"model file missing: {path} — {FIX_HINT}")
        files[key] = path

    out_dir = derived_dir(configured_dir)
    onnx_path: Path | None = None
    for key, entry in manifest.get("derived", {}).items():
        path = out_dir / entry["file"]
        try:
            check_derived(path, entry, manifest["files"][entry["from"]]["sha256"])
        except ModelError:
            if require_derived:
                raise
            continue
        files[key] = path
        if path.suffix == ".onnx":
            onnx_path = path
    faceres_path = None
    if "npm" in manifest:
        # lazy: faceres imports numpy, and this package (its helpers above); `daka --help` loads this one
        from .faceres import check_installed, onnx_path as faceres_onnx

        try:
            check_installed(out_dir, manifest)
            faceres_path = faceres_onnx(out_dir, manifest)
        except ModelError:
            pass  # optional for dlib-only terminals; open_embedder names the fix when it is needed
    return ModelSet(source_dir=src, derived_dir=out_dir, files=files, onnx=onnx_path, faceres=faceres_path)

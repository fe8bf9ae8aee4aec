"""Set-up step: build the derived models (the ONNX descriptor graph, faceres) and verify them."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

from app import native

from . import (EXPORTER_VERSION, ModelError, ModelSet, atomic_write, check_derived, load_manifest, resolve, sha256_of,
               sidecar_of)
from .faceres import install_faceres
from .resnet_onnx import build_resnet_onnx
from .sessions import make_session


def verification_chips(count: int = 8, seed: int = 20260101) -> np.ndarray:
    """Deterministic BGR chips: smooth gradients and noise, enough to exercise every layer."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:150, 0:150].astype(np.float32)
    chips = np.empty((count, 150, 150, 3), np.uint8)
    for i in range(count):
        base = 128 + 100 * np.sin(xx / (7 + 3 * i) + i) * np.cos(yy / (11 + i))
        noise = rng.normal(0, 12 + 4 * i, (150, 150, 3))
        chips[i] = np.clip(base[..., None] + noise, 0, 255).astype(np.uint8)
    return chips


def install_models(configured_dir: str | Path | None = None, *, force: bool = False, log=None) -> ModelSet:
    """Verify the source weights, then build and verify the ONNX graph unless it is current."""
    say = log or (lambda msg: print(msg, file=sys.stderr))
    manifest = load_manifest()
    models = resolve(configured_dir, verify=True, require_derived=False)
    for key, entry in manifest.get("derived", {}).items():
        source = models.path(entry["from"])
        source_sha = manifest["files"][entry["from"]]["sha256"]
        target = models.derived_dir / entry["file"]
        if not force:
            try:
                check_derived(target, entry, source_sha)
                say(f"models: {target.name} is current")
                continue
            except ModelError:
                pass
        t0 = time.monotonic()
        say(f"models: exporting {source.name} layers with dlib …")
        layers = native.export_resnet_layers(str(source))
        say(f"models: building the ONNX graph ({len(layers)} layers) …")
        data = build_resnet_onnx(layers).SerializeToString()
        atomic_write(target, data)
        say("models: verifying against dlib's own descriptors …")
        max_diff = verify_onnx_against_dlib(target, source)
        if max_diff > float(entry["tolerance"]):
            target.unlink(missing_ok=True)
            raise ModelError(
                f"ONNX export of {source.name} differs from dlib by {max_diff:.2e} "
                f"(> {entry['tolerance']}); not installed"
            )
        meta = {
            "file": target.name,
            "sha256": sha256_of(target),
            "source": source.name,
            "source_sha256": source_sha,
            "exporter_version": EXPORTER_VERSION,
            "max_abs_diff": max_diff,
            "verified_chips": len(verification_chips()),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        atomic_write(sidecar_of(target), json.dumps(meta, indent=2).encode())
        say(f"models: {target} ready (max |diff| {max_diff:.1e}, {time.monotonic() - t0:.1f} s)")
    install_faceres(models.derived_dir, force=force, log=say)
    return resolve(configured_dir, verify=False, require_derived=True)


def verify_onnx_against_dlib(onnx_path: Path, dat_path: Path) -> float:
    """Max |difference| between dlib's own descriptors and the ONNX graph's on the verification chips."""
    chips = verification_chips()
    reference = native.DlibDescriptor(str(dat_path)).compute(chips)
    # The session the terminal runs the graph in (app.vision.descriptors.OnnxDescriptor opens the same).
    session = make_session(onnx_path, threads=1)
    ours = session.run(None, {session.get_inputs()[0].name: chips})[0]
    return float(np.abs(reference - ours).max())

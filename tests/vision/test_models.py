"""Model manifest, location and verification: clear errors naming the file and the fix."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from app.models import ModelError, load_manifest, resolve, sha256_of, sidecar_of, source_dir
from app.models.resnet_onnx import ExportError, build_resnet_onnx


@pytest.fixture()
def model_dir(tmp_path, models):
    """A configured models folder holding copies of the verified files and the ONNX graph."""
    for path in [*models.files.values(), *([models.faceres] if models.faceres else [])]:
        shutil.copy(path, tmp_path / path.name)
        if sidecar_of(path).exists():
            shutil.copy(sidecar_of(path), tmp_path / sidecar_of(path).name)
    return tmp_path


def test_manifest_lists_only_commercially_usable_models():
    manifest = load_manifest()
    files = {entry["file"] for entry in manifest["files"].values()}
    assert "shape_predictor_68_face_landmarks.dat" not in files
    assert {"shape_predictor_5_face_landmarks.dat", "dlib_face_recognition_resnet_model_v1.dat"} <= files
    for entry in manifest["files"].values():
        assert len(entry["sha256"]) == 64


def test_installed_package_is_found_without_importing_it(models, monkeypatch):
    import sys

    # Another test may have imported it (the face_recognition baseline does): start clean.
    for name in [m for m in sys.modules if m.split(".")[0] == "face_recognition_models"]:
        monkeypatch.delitem(sys.modules, name)
    assert source_dir() == models.source_dir
    assert "face_recognition_models" not in sys.modules
    assert models.onnx is not None and models.onnx.suffix == ".onnx"


def test_configured_folder_verifies(model_dir):
    found = resolve(model_dir)
    assert found.source_dir == model_dir
    assert found.onnx == model_dir / "dlib_face_recognition_resnet_v1.onnx"


def test_missing_file_names_file_and_fix(model_dir):
    (model_dir / "shape_predictor_5_face_landmarks.dat").unlink()
    with pytest.raises(ModelError, match=r"missing: .*shape_predictor_5_face_landmarks\.dat .*make run"):
        resolve(model_dir)


def test_truncated_file_is_corrupt(model_dir):
    path = model_dir / "dlib_face_recognition_resnet_model_v1.dat"
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(ModelError, match=r"corrupt: .*dlib_face_recognition_resnet_model_v1\.dat is 1000 bytes"):
        resolve(model_dir)


def test_flipped_byte_fails_the_hash(model_dir):
    path = model_dir / "shape_predictor_5_face_landmarks.dat"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ModelError, match=r"SHA-256 .* expected"):
        resolve(model_dir)
    # Without verification the same file passes the existence check only.
    assert resolve(model_dir, verify=False).files


def test_missing_onnx_is_an_error_unless_optional(model_dir):
    (model_dir / "dlib_face_recognition_resnet_v1.onnx").unlink()
    with pytest.raises(ModelError, match=r"derived model missing: .*\.onnx"):
        resolve(model_dir)
    assert resolve(model_dir, require_derived=False).onnx is None


def test_tampered_onnx_fails_its_record(model_dir):
    path = model_dir / "dlib_face_recognition_resnet_v1.onnx"
    path.write_bytes(path.read_bytes() + b"\0")
    with pytest.raises(ModelError, match="derived model corrupt"):
        resolve(model_dir)


def test_onnx_from_another_source_is_stale(model_dir):
    record = sidecar_of(model_dir / "dlib_face_recognition_resnet_v1.onnx")
    meta = json.loads(record.read_text())
    meta["source_sha256"] = "0" * 64
    record.write_text(json.dumps(meta))
    with pytest.raises(ModelError, match="stale"):
        resolve(model_dir)
    record.write_text("{not json")
    with pytest.raises(ModelError, match="unreadable"):
        resolve(model_dir)


def test_missing_package_folder(tmp_path):
    with pytest.raises(ModelError, match="missing"):
        resolve(tmp_path / "nowhere")


def test_install_rebuilds_a_removed_graph(model_dir):
    from app.models.install import install_models

    onnx_path = model_dir / "dlib_face_recognition_resnet_v1.onnx"
    before = sha256_of(onnx_path)
    onnx_path.unlink()
    messages = []
    found = install_models(model_dir, log=messages.append)
    assert found.onnx == onnx_path and sha256_of(onnx_path) == before  # deterministic export
    meta = json.loads(sidecar_of(onnx_path).read_text())
    assert meta["max_abs_diff"] < 1e-5
    # readable by the service user when root installed them (mkstemp alone gives 0600)
    assert onnx_path.stat().st_mode & 0o777 == 0o644
    assert sidecar_of(onnx_path).stat().st_mode & 0o777 == 0o644
    assert any("ready" in m for m in messages)
    messages.clear()
    install_models(model_dir, log=messages.append)
    assert messages == ["models: dlib_face_recognition_resnet_v1.onnx is current", "models: faceres.onnx is current"]


def test_builder_rejects_what_it_does_not_know():
    with pytest.raises(ExportError, match="input"):
        build_resnet_onnx([{"kind": "relu", "attrs": {}, "tensors": {}}])
    layers = [
        {"kind": "input", "attrs": {"size": 150}, "tensors": {"mean_rgb": np.zeros(3, np.float32)}},
        {"kind": "prelu", "attrs": {}, "tensors": {}},
    ]
    with pytest.raises(ExportError, match="unsupported layer kind 'prelu'"):
        build_resnet_onnx(layers)
    layers[1] = {"kind": "con", "attrs": {"nr": 3, "nc": 3, "stride_y": 1, "stride_x": 1, "padding_y": 1,
                                          "padding_x": 1},
                 "tensors": {"weight": np.zeros((8, 4, 3, 3), np.float32)}}
    with pytest.raises(ExportError, match="expects 4 channels"):
        build_resnet_onnx(layers)

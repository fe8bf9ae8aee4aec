"""Build the ONNX graph of dlib's face recognition ResNet from the layers dlib lists.

The native core deserializes the .dat file with dlib itself and hands over every layer from
the input up (kind, attributes, parameters); this module turns that list into an equivalent
ONNX graph. The graph takes BGR uint8 chips, NHWC, as the rest of Daka handles images.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17


class ExportError(RuntimeError):
    """The layer list does not describe a network this builder understands."""


@dataclass
class _Graph:
    nodes: list = field(default_factory=list)
    inits: list = field(default_factory=list)
    counter: int = 0

    def name(self, base: str) -> str:
        self.counter += 1
        return f"{base}_{self.counter}"

    def const(self, base: str, value: np.ndarray) -> str:
        name = self.name(base)
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def node(self, op: str, inputs: list[str], **attrs) -> str:
        out = self.name(op.lower())
        self.nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        return out


def _pool_out(size: int, k: int, s: int, p: int) -> int:
    return 1 + (size + 2 * p - k) // s


def build_resnet_onnx(layers: list[dict]) -> onnx.ModelProto:
    """Return the ONNX model for a dlib layer list (as `export_resnet_layers` gives it)."""
    if not layers or layers[0]["kind"] != "input":
        raise ExportError("the layer list must start with the input layer")
    g = _Graph()
    size = int(layers[0]["attrs"]["size"])
    mean_rgb = layers[0]["tensors"]["mean_rgb"].astype(np.float32)
    mean_bgr = mean_rgb[::-1].reshape(1, 1, 1, 3).copy()

    # BGR uint8 NHWC -> dlib's input tensor, (x - mean) / 256, NCHW in B, G, R channel order.
    x = g.node("Cast", ["chips"], to=TensorProto.FLOAT)
    x = g.node("Sub", [x, g.const("mean_bgr", mean_bgr)])
    x = g.node("Mul", [x, g.const("scale", np.array(1.0 / 256.0, dtype=np.float32))])
    cur = g.node("Transpose", [x], perm=[0, 3, 1, 2])
    shape = (3, size, size)  # C, H, W
    first_conv = True
    tags: dict[int, tuple[str, tuple[int, int, int]]] = {}

    i = 1
    while i < len(layers):
        layer = layers[i]
        kind, attrs, tensors = layer["kind"], layer["attrs"], layer["tensors"]
        if kind == "con":
            w = tensors["weight"].astype(np.float32)
            b = tensors.get("bias", np.zeros(w.shape[0], np.float32)).astype(np.float32)
            if first_conv:
                w = w[:, ::-1].copy()  # dlib's filters read R, G, B; the tensor holds B, G, R
                first_conv = False
            if w.shape[1] != shape[0]:
                raise ExportError(f"layer {i}: conv expects {w.shape[1]} channels, input has {shape[0]}")
            # An affine layer right after a convolution is folded into it.
            if i + 1 < len(layers) and layers[i + 1]["kind"] == "affine":
                gamma = layers[i + 1]["tensors"]["gamma"].astype(np.float32)
                beta = layers[i + 1]["tensors"]["beta"].astype(np.float32)
                w = w * gamma.reshape(-1, 1, 1, 1)
                b = b * gamma + beta
                i += 1
            ky, kx = int(attrs["nr"]), int(attrs["nc"])
            sy, sx = int(attrs["stride_y"]), int(attrs["stride_x"])
            py_, px = int(attrs["padding_y"]), int(attrs["padding_x"])
            cur = g.node("Conv", [cur, g.const("w", w), g.const("b", b)], kernel_shape=[ky, kx],
                         strides=[sy, sx], pads=[py_, px, py_, px])
            shape = (w.shape[0], _pool_out(shape[1], ky, sy, py_), _pool_out(shape[2], kx, sx, px))
        elif kind == "affine":
            gamma = tensors["gamma"].astype(np.float32).reshape(1, -1, 1, 1)
            beta = tensors["beta"].astype(np.float32).reshape(1, -1, 1, 1)
            cur = g.node("Add", [g.node("Mul", [cur, g.const("gamma", gamma)]), g.const("beta", beta)])
        elif kind == "relu":
            cur = g.node("Relu", [cur])
        elif kind in ("max_pool", "avg_pool"):
            ky, kx = int(attrs["nr"]), int(attrs["nc"])
            if kind == "avg_pool" and ky == 0 and kx == 0:
                cur = g.node("GlobalAveragePool", [cur])
                shape = (shape[0], 1, 1)
            else:
                sy, sx = int(attrs["stride_y"]), int(attrs["stride_x"])
                py_, px = int(attrs["padding_y"]), int(attrs["padding_x"])
                op = "MaxPool" if kind == "max_pool" else "AveragePool"
                cur = g.node(op, [cur], kernel_shape=[ky, kx], strides=[sy, sx], pads=[py_, px, py_, px])
                shape = (shape[0], _pool_out(shape[1], ky, sy, py_), _pool_out(shape[2], kx, sx, px))
        elif kind == "tag":
            tags[int(attrs["id"])] = (cur, shape)
        elif kind == "skip":
            cur, shape = tags[int(attrs["id"])]
        elif kind == "add_prev":
            other, oshape = tags[int(attrs["tag"])]
            # dlib adds tensors of different sizes by zero-padding the smaller one, top-left aligned.
            out_shape = tuple(max(a, b) for a, b in zip(shape, oshape))
            cur = g.node("Add", [_pad_to(g, cur, shape, out_shape), _pad_to(g, other, oshape, out_shape)])
            shape = out_shape
        elif kind == "fc":
            w = tensors["weight"].astype(np.float32)
            flat = g.node("Flatten", [cur], axis=1)
            if w.shape[0] != shape[0] * shape[1] * shape[2]:
                raise ExportError(f"layer {i}: fc expects {w.shape[0]} inputs, got {shape}")
            cur = g.node("MatMul", [flat, g.const("fc_w", w)])
            if "bias" in tensors:
                cur = g.node("Add", [cur, g.const("fc_b", tensors["bias"].astype(np.float32))])
            shape = (w.shape[1],)
        elif kind == "loss_metric":
            pass
        else:
            raise ExportError(f"layer {i}: unsupported layer kind {kind!r}")
        i += 1

    g.nodes.append(helper.make_node("Identity", [cur], ["descriptor"], name="descriptor"))
    graph = helper.make_graph(
        g.nodes,
        "dlib_face_recognition_resnet_v1",
        [helper.make_tensor_value_info("chips", TensorProto.UINT8, ["n", size, size, 3])],
        [helper.make_tensor_value_info("descriptor", TensorProto.FLOAT, ["n", shape[0]])],
        g.inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="daka", doc_string="dlib face recognition ResNet v1, BGR uint8 NHWC input")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def _pad_to(g: _Graph, name: str, shape: tuple, target: tuple) -> str:
    if shape == target:
        return name
    extra = [t - s for s, t in zip(shape, target)]
    pads = np.array([0, 0, 0, 0, 0, extra[0], extra[1], extra[2]], dtype=np.int64)
    return g.node("Pad", [name, g.const("pads", pads)], mode="constant")

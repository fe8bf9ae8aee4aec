"""Convert a TensorFlow.js graph model (model.json + weight shards) into an ONNX graph.

No TensorFlow is involved: the model.json topology is a list of TensorFlow GraphDef nodes,
the weights are raw little-endian arrays (possibly quantised to float16 or uint8, which
TensorFlow.js dequantises at load the same way as here). Only the operations of a
MobileNet-style graph are understood (Conv2D, DepthwiseConv2dNative, Add/AddV2/Mul/Sub,
Relu/Relu6/Minimum/Maximum, Mean, MatMul/_FusedMatMul, BiasAdd, Sigmoid, Softmax, Identity);
anything else is a ConversionError naming the node.

Layout: TensorFlow's graph is NHWC, ONNX's convolutions are NCHW. The graph input is kept
NHWC (the same tensor TensorFlow.js takes) and transposed once; every 4-D activation is then
held NCHW, and per-channel constants and reduction axes are mapped accordingly.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
_DTYPES = {"float32": np.float32, "int32": np.int32, "uint8": np.uint8, "float16": np.float16, "bool": np.bool_}
# NHWC axis -> NCHW axis, for reductions over 4-D activations.
_NHWC_TO_NCHW = {0: 0, 1: 2, 2: 3, 3: 1}


class ConversionError(RuntimeError):
    """The TF.js model uses something this converter does not understand."""


def read_weights(model_json: Path) -> dict[str, np.ndarray]:
    """The named weight arrays of a TF.js model, dequantised to their original dtype."""
    spec = json.loads(Path(model_json).read_text(encoding="utf-8"))
    out: dict[str, np.ndarray] = {}
    for group in spec["weightsManifest"]:
        data = b"".join((Path(model_json).parent / p).read_bytes() for p in group["paths"])
        offset = 0
        for w in group["weights"]:
            shape = [int(s) for s in w["shape"]]
            count = int(np.prod(shape)) if shape else 1
            quant = w.get("quantization")
            stored = np.dtype(_DTYPES[quant["dtype"] if quant else w["dtype"]]).newbyteorder("<")
            size = count * stored.itemsize
            if offset + size > len(data):
                raise ConversionError(f"weight {w['name']!r} runs past the end of the weight data")
            raw = np.frombuffer(data, stored, count, offset)
            offset += size
            if quant and quant["dtype"] == "float16":
                values = raw.astype(np.float32)
            elif quant:  # affine uint8/uint16 quantisation: value = q * scale + min
                values = (raw.astype(np.float32) * np.float32(quant["scale"]) + np.float32(quant["min"]))
            else:
                values = raw.astype(_DTYPES[w["dtype"]])
            out[w["name"]] = values.reshape(shape)
        if offset != len(data):
            raise ConversionError(f"weight data has {len(data) - offset} bytes no weight describes")
    return out


def _attr_ints(node: dict, key: str) -> list[int]:
    return [int(v) for v in node.get("attr", {}).get(key, {}).get("list", {}).get("i", [])]


def _attr_str(node: dict, key: str) -> str:
    value = node.get("attr", {}).get(key, {}).get("s")
    return base64.b64decode(value).decode() if value else ""


def _attr_strs(node: dict, key: str) -> list[str]:
    return [base64.b64decode(s).decode() for s in node.get("attr", {}).get(key, {}).get("list", {}).get("s", [])]


def _attr_bool(node: dict, key: str) -> bool:
    return bool(node.get("attr", {}).get(key, {}).get("b", False))


@dataclass
class _Builder:
    nodes: list = field(default_factory=list)
    inits: list = field(default_factory=list)
    names: set = field(default_factory=set)

    def fresh(self, base: str) -> str:
        name, n = base, 1
        while name in self.names:
            n += 1
            name = f"{base}_{n}"
        self.names.add(name)
        return name

    def const(self, base: str, value: np.ndarray) -> str:
        name = self.fresh(base)
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def op(self, op: str, inputs: list[str], base: str, **attrs) -> str:
        out = self.fresh(base)
        self.nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        return out


@dataclass
class _Value:
    name: str          # ONNX value name, or None for a constant not yet emitted
    rank: int
    nchw: bool = False  # a 4-D activation held in NCHW order
    const: np.ndarray | None = None
    clip_input: str | None = None   # for Relu / Clip outputs: the value that was clipped
    bounds: tuple[float, float] | None = None   # and the (low, high) it was clipped to


def convert(model_json: str | Path, outputs: dict[str, str], graph_name: str = "tfjs_graph") -> onnx.ModelProto:
    """The ONNX model computing `outputs` ({TF node name: ONNX output name}) of a TF.js graph model.

    The single graph input keeps its TF.js name and NHWC float32 layout.
    """
    model_json = Path(model_json)
    spec = json.loads(model_json.read_text(encoding="utf-8"))
    weights = read_weights(model_json)
    nodes = {n["name"]: n for n in spec["modelTopology"]["node"]}
    b = _Builder(names=set(outputs.values()))   # the output names are taken first
    values: dict[str, _Value] = {}
    inputs = []

    def value(ref: str) -> _Value:
        name = ref.split(":")[0].lstrip("^")
        if name not in values:
            values[name] = _convert_node(nodes.get(name) or _missing(name), value, b, weights, inputs)
        return values[name]

    graph_outputs = []
    for tf_name, onnx_name in outputs.items():
        v = value(tf_name)
        name = _materialise(b, v)
        b.nodes.append(helper.make_node("Identity", [name], [onnx_name], name=onnx_name))
        dims = ["n"] + [f"{onnx_name}_{i}" for i in range(1, v.rank)]
        graph_outputs.append(helper.make_tensor_value_info(onnx_name, TensorProto.FLOAT, dims))
    nodes_used, inits_used = _live(b.nodes, b.inits, list(outputs.values()))
    graph = helper.make_graph(nodes_used, graph_name, inputs, graph_outputs, inits_used)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="daka",
                              doc_string=f"converted from the TensorFlow.js graph model {model_json.name}")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def _live(nodes: list, inits: list, outputs: list[str]) -> tuple[list, list]:
    """The nodes and initialisers the outputs depend on (folding leaves some unused)."""
    needed, kept = set(outputs), []
    for node in reversed(nodes):
        if any(o in needed for o in node.output):
            kept.append(node)
            needed.update(node.input)
    return kept[::-1], [t for t in inits if t.name in needed]


def _missing(name: str):
    raise ConversionError(f"node {name!r} is referenced but not in the graph")


def _materialise(b: _Builder, v: _Value) -> str:
    if v.name is None:
        v.name = b.const("const", v.const)
    return v.name


def _channel_const(b: _Builder, arr: np.ndarray, nchw: bool, base: str) -> str:
    """A constant broadcast against an activation: per-channel vectors move to NCHW's axis 1."""
    arr = np.asarray(arr, np.float32)
    if nchw and arr.ndim == 1 and arr.size > 1:
        arr = arr.reshape(-1, 1, 1)
    elif nchw and arr.ndim == 4:
        arr = arr.transpose(0, 3, 1, 2)
    elif nchw and arr.ndim not in (0, 1):
        raise ConversionError(f"cannot broadcast a constant of shape {arr.shape} against an NCHW activation")
    return b.const(base, arr)


def _convert_node(node: dict, value, b: _Builder, weights: dict, inputs: list) -> _Value:
    op, name = node["op"], node["name"]
    args = [i for i in node.get("input", []) if not i.startswith("^")]
    if op == "Const":
        if name not in weights:
            raise ConversionError(f"constant {name!r} has no weights")
        return _Value(None, weights[name].ndim, const=weights[name])
    if op == "Placeholder":
        dims = [int(d.get("size", -1)) for d in node["attr"]["shape"]["shape"].get("dim", [])]
        if len(dims) != 4:
            raise ConversionError(f"input {name!r}: only 4-D NHWC inputs are supported, got {dims}")
        inputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, ["n" if d < 0 else d for d in dims]))
        b.names.add(name)
        return _Value(b.op("Transpose", [name], name + "_nchw", perm=[0, 3, 1, 2]), 4, nchw=True)
    if op == "Identity":
        return value(args[0])

    if op in ("Conv2D", "DepthwiseConv2dNative"):
        x, w = value(args[0]), value(args[1])
        if w.const is None or not x.nchw:
            raise ConversionError(f"{name}: convolution needs constant weights and a 4-D activation")
        if _attr_str(node, "data_format") not in ("", "NHWC"):
            raise ConversionError(f"{name}: data_format {_attr_str(node, 'data_format')} not supported")
        strides = _attr_ints(node, "strides") or [1, 1, 1, 1]
        dilations = _attr_ints(node, "dilations") or [1, 1, 1, 1]
        padding = _attr_str(node, "padding")
        kernel = w.const.astype(np.float32)
        attrs = {"strides": strides[1:3], "dilations": dilations[1:3], "kernel_shape": list(kernel.shape[:2])}
        if padding == "SAME":
            attrs["auto_pad"] = "SAME_UPPER"   # TensorFlow puts the odd pixel of padding at the end
        elif padding == "VALID":
            attrs["auto_pad"] = "VALID"
        else:
            raise ConversionError(f"{name}: padding {padding!r} not supported")
        if op == "Conv2D":
            kernel = kernel.transpose(3, 2, 0, 1)                       # HWIO -> OIHW
        else:
            kh, kw, c, m = kernel.shape
            kernel = kernel.transpose(2, 3, 0, 1).reshape(c * m, 1, kh, kw)  # HW C M -> (C*M) 1 H W
            attrs["group"] = c
        return _Value(b.op("Conv", [x.name, b.const(name + "/w", kernel)], name, **attrs), 4, nchw=True)

    if op in ("Minimum", "Maximum"):
        clipped = _fold_clip(op, name, value(args[0]), value(args[1]), b)
        if clipped is not None:
            return clipped

    if op in ("Add", "AddV2", "Mul", "Sub", "Minimum", "Maximum", "BiasAdd"):
        onnx_op = {"Add": "Add", "AddV2": "Add", "BiasAdd": "Add", "Mul": "Mul", "Sub": "Sub",
                   "Minimum": "Min", "Maximum": "Max"}[op]
        a, c = value(args[0]), value(args[1])
        if a.const is not None and c.const is not None:
            raise ConversionError(f"{name}: operation on two constants (fold it before converting)")
        act = a if a.const is None else c
        names = [act.name if v is act else _channel_const(b, v.const, act.nchw, name + "/c") for v in (a, c)]
        return _Value(b.op(onnx_op, names, name), act.rank, nchw=act.nchw)

    if op in ("Relu", "Sigmoid", "Relu6"):
        x = value(args[0])
        if op == "Relu6":
            return _clip(b, x.name, 0.0, 6.0, x, name)
        out = b.op(op, [x.name], name)
        if op == "Relu":
            return _Value(out, x.rank, nchw=x.nchw, clip_input=x.name, bounds=(0.0, float("inf")))
        return _Value(out, x.rank, nchw=x.nchw)

    if op == "Softmax":
        x = value(args[0])
        return _Value(b.op("Softmax", [x.name], name, axis=-1), x.rank, nchw=x.nchw)

    if op == "Mean":
        x, axes = value(args[0]), value(args[1])
        if axes.const is None:
            raise ConversionError(f"{name}: reduction axes must be constant")
        ax = [int(a) % x.rank for a in np.atleast_1d(axes.const)]
        if x.nchw:
            ax = [_NHWC_TO_NCHW[a] for a in ax]
        keep = _attr_bool(node, "keep_dims")
        out = b.op("ReduceMean", [x.name], name, axes=sorted(ax), keepdims=int(keep))
        if keep and x.nchw:  # keep NHWC semantics simple: only full spatial pooling is expected
            raise ConversionError(f"{name}: Mean with keep_dims on an activation is not supported")
        return _Value(out, x.rank - (0 if keep else len(ax)), nchw=False)

    if op in ("MatMul", "_FusedMatMul"):
        x, w = value(args[0]), value(args[1])
        if w.const is None or x.nchw or x.rank != 2:
            raise ConversionError(f"{name}: MatMul needs a 2-D activation and constant weights")
        if _attr_bool(node, "transpose_a"):
            raise ConversionError(f"{name}: transpose_a not supported")
        kernel = w.const.astype(np.float32)
        if _attr_bool(node, "transpose_b"):
            kernel = kernel.T
        out = b.op("MatMul", [x.name, b.const(name + "/w", kernel)], name + "/matmul")
        if op == "_FusedMatMul":
            fused = _attr_strs(node, "fused_ops")
            extra = [value(a) for a in args[2:]]
            for step in fused:
                if step == "BiasAdd":
                    bias = extra.pop(0)
                    out = b.op("Add", [out, b.const(name + "/bias", bias.const.astype(np.float32))], name + "/bias")
                elif step == "Relu":
                    out = b.op("Relu", [out], name + "/relu")
                elif step == "Relu6":
                    out = b.op("Clip", [out, b.const(name + "/lo", np.float32(0)),
                                        b.const(name + "/hi", np.float32(6))], name + "/relu6")
                else:
                    raise ConversionError(f"{name}: fused operation {step!r} not supported")
        return _Value(out, 2)

    raise ConversionError(f"node {name!r}: operation {op!r} not supported by the TF.js converter")


def _clip(b: _Builder, source: str, lo: float, hi: float, like: _Value, name: str) -> _Value:
    out = b.op("Clip", [source, b.const(name + "/lo", np.float32(lo)), b.const(name + "/hi", np.float32(hi))], name)
    return _Value(out, like.rank, nchw=like.nchw, clip_input=source, bounds=(lo, hi))


def _fold_clip(op: str, name: str, a: _Value, c: _Value, b: _Builder) -> _Value | None:
    """Keras' ReLU6 is Relu -> Minimum(6) -> Maximum(0): one Clip (which ONNX Runtime fuses into
    the convolution before it) instead of three passes over the activation."""
    x, k = (a, c) if c.const is not None else (c, a)
    if k.const is None or k.const.size != 1 or x.bounds is None:
        return None
    bound = float(k.const.reshape(()))
    lo, hi = x.bounds
    if op == "Minimum":
        return _clip(b, x.clip_input, lo, min(hi, bound), x, name)
    if bound <= lo:
        return x  # Maximum with a bound the value already respects
    return None

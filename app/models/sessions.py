"""ONNX Runtime sessions over the model files, for the vision runtime and for the set-up checks.

It lives here, below app.vision, so that `daka models install` verifies a graph in the same kind
of session the terminal will run it in without importing the vision package (which imports this
package): one direction, no cycle.

On a Jetson, ONNX Runtime's GPU builds add the "TensorrtExecutionProvider" and
"CUDAExecutionProvider"; ``providers="auto"`` takes them first when the installed onnxruntime
offers them (the Jetson wheels of onnxruntime-gpu), else the CPU.
"""

from __future__ import annotations

from pathlib import Path

GPU_FIRST = ("TensorrtExecutionProvider", "CUDAExecutionProvider")


def make_session(path: str | Path, threads: int = 1, providers: str | list[str] = "cpu"):
    """An ONNX Runtime session: `threads` intra-op threads, sequential; "auto" puts GPU providers first."""
    # lazy: ONNX Runtime takes ~0.2 s to import; the model checks and `daka --help` do without it.
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = max(1, int(threads))
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    available = ort.get_available_providers()
    if providers == "auto":
        chosen = [p for p in GPU_FIRST if p in available] + ["CPUExecutionProvider"]
    elif providers == "cpu":
        chosen = ["CPUExecutionProvider"]
    else:
        chosen = list(providers)
    return ort.InferenceSession(str(path), options, providers=chosen)

"""The composition recipe: one landmark model and one descriptor network per model in a process."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tests.helpers.children import started


def test_a_terminal_that_enrols_loads_each_network_once(tmp_path, photos, models):
    """The terminal's pipeline, its library (an upload and an on-device capture), a standalone
    admin page's library and the CLI's, all in one process: one session per ONNX model."""
    argv = [sys.executable, "vision_parts_child.py", str(tmp_path / "instance"), str(photos["obama.jpg"]),
            str(photos["obama2.jpg"])]
    with started(argv, cwd=Path(__file__).parent) as child:
        assert child.proc.wait(600) == 0, child.log[-3000:]
        report = json.loads(child.out[-1])
    results = report["results"]
    assert results["upload"] and results["capture"]["ok"], results
    assert results["admin_library"] and results["cli_library"], results
    expected = sorted(p.name for p in (models.onnx, models.faceres))   # the default embedder is fused
    assert report["sessions"] == expected, report
    assert report["landmark_models"] == 1, report

"""A `daka` process runs numpy's OpenBLAS on one thread (app/__init__.py): its spinning workers
starved the detector's threads on a 2-core board (`daka bench enrol`, BENCHMARKS.md)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

# The process's threads after a matrix product big enough for OpenBLAS to use its workers.
COUNT = ("import os, numpy; a = numpy.ones((600, 600)); a @ a; "
         "print(len(os.listdir('/proc/self/task')))")


def threads(first: str, env: dict | None = None) -> int:
    environ = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")}
    proc = subprocess.run([sys.executable, "-c", f"{first}{COUNT}"], env={**environ, **(env or {})},
                          capture_output=True, text=True, timeout=120, check=True)
    return int(proc.stdout.strip())


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="one core: OpenBLAS starts no workers anyway")
def test_the_app_package_keeps_openblas_to_one_thread_unless_the_operator_says_otherwise():
    plain = threads("")
    assert plain >= 2, "numpy alone starts OpenBLAS workers on this machine (else this test proves nothing)"
    assert threads("import app; ") < plain
    assert threads("import app; ", {"OPENBLAS_NUM_THREADS": "2"}) == threads("", {"OPENBLAS_NUM_THREADS": "2"})

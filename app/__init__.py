"""Daka (打卡): the face-recognition clock-in terminal."""

import os

__version__ = "0.1.0"

# numpy's OpenBLAS starts a worker thread per core, and its workers spin for a while after each
# product. The terminal's matrix products are small (the decision's cohort, a few rows at a time)
# and its heavy work has threads of its own (the native detector's OpenMP, ONNX Runtime), which
# the spinning workers starved on a 2-core board: enrolling one photo into a 2,000-person gallery
# took 110 ms with them and 79 ms without (`daka bench enrol`, BENCHMARKS.md). OpenBLAS reads this
# when numpy is first imported, which in a `daka` process comes after this package; an operator's
# own value wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

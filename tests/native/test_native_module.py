"""The compiled module, its type stub and its build facts."""

from __future__ import annotations

import ast
from pathlib import Path

from app import native
from app.native import _core


def test_stub_lists_every_public_name():
    stub = Path(_core.__file__).with_name("_core.pyi")
    if not stub.exists():  # editable installs keep the stub in the source tree
        stub = Path(native.__file__).with_name("_core.pyi")
    tree = ast.parse(stub.read_text(encoding="utf-8"))
    listed = next(ast.literal_eval(node.value) for node in tree.body
                  if isinstance(node, ast.AnnAssign) and getattr(node.target, "id", "") == "__all__")
    public = {name for name in dir(_core) if not name.startswith("_")}
    assert set(listed) == public


def test_build_info_is_truthful():
    info = native.build_info()
    assert info["dlib_blas"] is True  # Debian's libdlib-dev is built with BLAS and LAPACK
    assert info["openmp_max_threads"] >= 1
    assert info["dlib_version"].count(".") == 2
    # The module itself maps a BLAS through libdlib; doctor reports which one.
    assert any("blas" in path for path in native.loaded_libraries("blas"))
    assert native.loaded_libraries("no-such-library-name") == []

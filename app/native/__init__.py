"""The compiled C++ core (face engine, gallery index, text renderer), re-exported."""

try:
    from ._core import *  # noqa: F401,F403
except ImportError as exc:  # pragma: no cover - only without a build
    raise ImportError(
        "the native core app.native._core is not built: run `make test` or `make run` "
        f"(which build it), or `pip install -e .` in the project's venv ({exc})"
    ) from exc

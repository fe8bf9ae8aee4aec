"""The fleet's devices page (issue 20): on a central store, every terminal's state and its
per-terminal setting overrides."""

from .routes import bp

__all__ = ["bp"]

"""Signing in and out, the first-run password, the language switch, health."""

from .routes import bp

__all__ = ["bp"]

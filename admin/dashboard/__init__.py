"""Dashboard: today's counts, the live punch feed (server-sent events), terminal status."""

from .routes import bp

__all__ = ["bp"]

"""System: date and time (through a narrow privileged helper), logs, backup, API tokens, users, audit."""

from .routes import bp

__all__ = ["bp"]

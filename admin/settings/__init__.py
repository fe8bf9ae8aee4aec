"""Run-time settings, written through the store's SettingsService (validated, audited)."""

from .routes import bp

__all__ = ["bp"]

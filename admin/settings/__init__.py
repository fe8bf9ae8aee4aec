"""The settings page: the run-time settings registry (app/services/settings.py) as a form,
written through its SettingsService (validated, audited, pushed to the terminal)."""

from .routes import bp

__all__ = ["bp"]

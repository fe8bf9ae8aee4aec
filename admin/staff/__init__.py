"""Staff and face library pages: search, edit, deactivate, delete, upload, thumbnails, download."""

from .routes import bp

__all__ = ["bp"]

"""Make-up requests (补卡): created for a staff member, approved into a punch or rejected."""

from .routes import bp

__all__ = ["bp"]

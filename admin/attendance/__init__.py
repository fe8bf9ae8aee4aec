"""Attendance pages: punches by range / staff / department, daily summary, CSV and XLSX."""

from .routes import bp

__all__ = ["bp"]

"""考勤规则: shifts, schedules and who follows them, the work calendar, leave and hire dates."""

from .routes import bp

__all__ = ["bp"]

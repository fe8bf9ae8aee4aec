"""Records (issue 25): stranger and spoof records (list, filters, CSV and XLSX) and a punch's
detail with its snapshot."""

from .routes import bp

__all__ = ["bp"]

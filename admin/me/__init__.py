"""The staff member's own page (issue 24): opened from a signed, short-lived, one-time link (the QR
code on the terminal after a punch, or one HR prints), no account: this month's days with their
statuses and a form to ask for a correction (补卡) or a leave."""

from .routes import bp

__all__ = ["bp"]

"""The seed's JSON API (same paths, methods and payloads) behind bearer tokens, and its docs."""

from .routes import bp, docs_bp

__all__ = ["bp", "docs_bp"]

"""Daka admin: the Flask blueprint(s), JSON API and pages (built on the app services)."""

"""Reusable kiosk widgets (one .py and one .kv each)."""

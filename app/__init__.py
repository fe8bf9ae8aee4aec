"""Daka (打卡): the face-recognition clock-in terminal."""

__version__ = "0.1.0"

"""Accuracy evaluation: `daka eval lfw` (verification pairs and open-set identification)."""

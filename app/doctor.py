"""`daka doctor`: what is installed, found and working, as one report.

The checks are app/services/selfcheck.py's (the one module of self-checks, shared with
`daka hw test` and the on-device 自检 screen); the doctor picks those that only look.
"""

from __future__ import annotations

from pathlib import Path

from app.services.selfcheck import doctor_checks, doctor_report, format_doctor


def run_doctor(config, instance_dir: Path, *, verify_models: bool = True) -> dict:
    """Every check; `ok` is false when something required (native, models, font, database) fails."""
    return doctor_report(doctor_checks(config, instance_dir, verify_models=verify_models))


def format_report(report: dict) -> str:
    return format_doctor(report)

"""Set the system clock, or give it back to NTP, through the privileged helper.

The helper is scripts/daka-set-time, allowed to the terminal's user by one sudo rule that pins its
two argument forms: ``DATE TIME`` and ``ntp`` (docs/admin.md).
"""

from __future__ import annotations

import datetime as dt
import re
import shlex
import subprocess

DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
TIME_RE = re.compile(r"\d{2}:\d{2}:\d{2}")


class ClockError(ValueError):
    """The clock was not changed; ``bad_value`` when the date or time given was refused (the
    caller's to fix), else the helper failed."""

    def __init__(self, message: str, *, bad_value: bool = False):
        super().__init__(message)
        self.bad_value = bad_value


def parse(date: str, time: str) -> tuple[str, str]:
    """The seed's {"date": "2022-04-18", "time": "15:56:00"}, checked strictly."""
    if not isinstance(date, str) or not isinstance(time, str):
        raise ClockError("date and time must be strings", bad_value=True)
    if len(time) == 5:
        time += ":00"
    if not DATE_RE.fullmatch(date) or not TIME_RE.fullmatch(time):
        raise ClockError("date must be YYYY-MM-DD and time HH:MM:SS", bad_value=True)
    try:
        when = dt.datetime.strptime(f"{date} {time}", "%Y-%m-%d %H:%M:%S")
    except ValueError as exc:
        raise ClockError(str(exc), bad_value=True) from exc
    if not 2000 <= when.year <= 2099:
        raise ClockError("the year must be between 2000 and 2099", bad_value=True)
    return date, time


def set_system_time(command: str, date: str, time: str) -> str:
    """Run ``command DATE TIME``; what it printed, or ClockError. NTP is off afterwards."""
    date, time = parse(date, time)
    return _run([*shlex.split(command), date, time])


def restore_network_time(command: str) -> str:
    """Run ``command ntp``: network time (NTP) on again after a manual setting."""
    return _run([*shlex.split(command), "ntp"])


def ntp_enabled(timedatectl: str = "timedatectl") -> bool | None:
    """Whether systemd synchronises the clock over the network; None when it cannot tell."""
    try:
        done = subprocess.run([timedatectl, "show", "-p", "NTP", "--value"], capture_output=True, text=True,
                              timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    value = done.stdout.strip()
    return {"yes": True, "no": False}.get(value) if done.returncode == 0 else None


def _run(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=15)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ClockError(f"{argv[0]}: {exc}") from exc
    if done.returncode != 0:
        raise ClockError((done.stderr or done.stdout).strip() or f"exit status {done.returncode}")
    return done.stdout.strip()

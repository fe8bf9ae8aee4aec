"""Photo file names: ``工号_姓名.ext`` (staff no, underscore, name), any UTF-8.

Several photos of one person may carry a suffix: ``HR0878_张三_2.jpg`` or ``HR0878_张三(2).jpg``.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

STAFF_NO_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9.-]{0,31}")
NAME_MAX = 64
_SUFFIX_RE = re.compile(r"(?:_\d{1,3}|\s*[(（]\d{1,3}[)）])$")


class BadName(ValueError):
    """A file name that does not follow 工号_姓名.ext; the message says why."""


@dataclass(frozen=True)
class PhotoName:
    staff_no: str
    name: str


def parse_photo_name(filename: str) -> PhotoName:
    """Staff no and name from a file name (no folders allowed in it)."""
    if not filename or "/" in filename or "\\" in filename or "\x00" in filename:
        raise BadName("the file name must not contain a folder path")
    filename = unicodedata.normalize("NFC", filename)
    if len(filename) > 255:
        raise BadName(f"the file name is {len(filename)} characters long, at most 255 allowed")
    stem = filename.rsplit(".", 1)[0] if "." in filename else filename
    if "_" not in stem:
        raise BadName("the file name must be 工号_姓名, e.g. HR0878_张三.jpg")
    staff_no, name = stem.split("_", 1)
    name = _SUFFIX_RE.sub("", name).strip()
    if not STAFF_NO_RE.fullmatch(staff_no):
        raise BadName(f"staff no {staff_no[:40]!r} must be 1-32 letters, digits, '.' or '-'")
    if not name:
        raise BadName("the name after '_' is empty")
    if len(name) > NAME_MAX:
        raise BadName(f"the name is {len(name)} characters long, at most {NAME_MAX} allowed")
    if any(unicodedata.category(c).startswith("C") for c in name):
        raise BadName("the name contains control characters")
    return PhotoName(staff_no, name)

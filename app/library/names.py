"""Photo file names: ``工号_姓名.ext`` (staff no, underscore, name), any UTF-8.

Several photos of one person may carry a suffix: ``HR0878_张三_2.jpg`` or ``HR0878_张三(2).jpg``.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

STAFF_NO_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9.-]{0,31}")
NAME_MAX = 64
_SUFFIX_RE = re.compile(r"(?:_\d{1,3}|\s*[(（]\d{1,3}[)）])$")


class BadName(ValueError):
    """A file name or a person's name Daka does not accept; the message says why."""


def _refuse_hidden(what: str, text: str) -> None:
    # Control (Cc), format (Cf: right-to-left override, zero-width space and joiners), private-use,
    # surrogate and unassigned characters, and line/paragraph separators: invisible or reordering
    # characters that make one name look like another on screen, in exports and in the audit log.
    for c in text:
        if unicodedata.category(c)[0] == "C" or unicodedata.category(c) in ("Zl", "Zp"):
            raise BadName(f"the {what} contains an invisible or control character U+{ord(c):04X}")


def check_person_name(name: str) -> str:
    """A person's name as stored: NFC, trimmed, 1-64 characters, nothing invisible.

    The one rule for every path that names a person: a photo's file name, the admin's create and
    edit, bulk enrolment and a restored backup.
    """
    if not isinstance(name, str):
        raise BadName("the name must be text")
    name = unicodedata.normalize("NFC", name).strip()
    if not name:
        raise BadName("the name is empty")
    if len(name) > NAME_MAX:
        raise BadName(f"the name is {len(name)} characters long, at most {NAME_MAX} allowed")
    _refuse_hidden("name", name)
    if not any(unicodedata.category(c).startswith("L") for c in name):   # ".", "-", "123"
        raise BadName("the name has no letter")
    if "/" in name or "\\" in name:  # it must fit in a photo's file name (工号_姓名.jpg)
        raise BadName("the name must not contain '/' or '\\'")
    return name


def check_department(department: str) -> str:
    """A department as stored: NFC, trimmed, at most 64 characters, nothing invisible (may be empty)."""
    if not isinstance(department, str):
        raise BadName("the department must be text")
    department = unicodedata.normalize("NFC", department).strip()
    if len(department) > NAME_MAX:
        raise BadName(f"the department is {len(department)} characters long, at most {NAME_MAX} allowed")
    _refuse_hidden("department", department)
    return department


def check_staff_no(staff_no: str) -> str:
    if not isinstance(staff_no, str) or not STAFF_NO_RE.fullmatch(staff_no):
        raise BadName(f"staff no {str(staff_no)[:40]!r} must be 1-32 letters, digits, '.' or '-'")
    return staff_no


@dataclass(frozen=True)
class PhotoName:
    staff_no: str
    name: str


@dataclass(frozen=True)
class Identity:
    """Who a photo shows: a staff no and name, the department a new person gets, and whether the
    photo may only be added to a person already in the library (on-device enrolment)."""

    staff_no: str
    name: str
    department: str = ""
    existing: bool = False

    @classmethod
    def from_file_name(cls, filename: str, department: str = "") -> "Identity":
        """The identity a file named 工号_姓名.ext gives (:class:`BadName` if it gives none)."""
        who = parse_photo_name(filename)
        return cls(who.staff_no, who.name, department)

    def checked(self) -> "Identity":
        """The identity as stored (names normalised), or :class:`BadName` saying what is wrong."""
        return Identity(check_staff_no(self.staff_no), check_person_name(self.name),
                        check_department(self.department), bool(self.existing))


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
    check_staff_no(staff_no)
    if not name:
        raise BadName("the name after '_' is empty")
    return PhotoName(staff_no, check_person_name(name))


def check_photo_file(photo_file: str) -> str:
    """A template's stored photo name: one plain file name inside the photos folder, no path."""
    if (not isinstance(photo_file, str) or not photo_file or len(photo_file) > 128
            or photo_file in (".", "..") or "/" in photo_file or "\\" in photo_file
            or any(unicodedata.category(c)[0] == "C" for c in photo_file)):
        raise BadName(f"photo file {str(photo_file)[:60]!r} is not a plain file name in the photos folder")
    return photo_file


def photo_path(photos_dir: Path, photo_file: str) -> Path | None:
    """Where a stored photo is, only if that lies inside the photos folder (symlinks resolved)."""
    try:
        check_photo_file(photo_file)
    except BadName:
        return None
    folder = Path(photos_dir).resolve()
    path = (folder / photo_file).resolve()
    return path if folder in path.parents else None

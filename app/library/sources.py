"""Where bulk enrolment photos come from: a folder or a zip archive, each file read lazily."""

from __future__ import annotations

import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

from .service import Refused

UTF8_FLAG = 0x800


def _zip_name(info: zipfile.ZipInfo) -> str:
    name = info.filename
    if not info.flag_bits & UTF8_FLAG:  # legacy archives: Python decoded the bytes as CP437
        raw = name.encode("cp437")
        for encoding in ("utf-8", "gb18030"):
            try:
                name = raw.decode(encoding)
                break
            except UnicodeDecodeError:
                continue
    return name.replace("\\", "/").rsplit("/", 1)[-1]


def zip_items(path: Path, *, max_bytes: int, max_files: int) -> Iterator[tuple[str, Callable[[], bytes]]]:
    """Photos in an archive (folders inside are flattened), each read at most max_bytes."""
    archive = zipfile.ZipFile(path)
    members = [i for i in archive.infolist() if not i.is_dir() and not _zip_name(i).startswith(".")]
    if len(members) > max_files:
        raise ValueError(f"{path.name} holds {len(members)} files, at most {max_files} accepted")
    for info in members:
        def read(info=info) -> bytes:
            if info.file_size > max_bytes:  # trust nothing: the read below is capped too
                raise Refused("too_large", f"{info.file_size / 1e6:.1f} MB unpacked")
            try:
                with archive.open(info) as fh:
                    data = fh.read(max_bytes + 1)
            except (zipfile.BadZipFile, OSError, RuntimeError) as exc:
                raise Refused("not_image", f"cannot unpack: {exc}") from exc
            if len(data) > max_bytes:
                raise Refused("too_large", "more than the limit once unpacked")
            return data
        yield _zip_name(info), read
    # The archive stays open for readers still held by the caller; it closes when collected.


def _folder_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*")
                  if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts))


def folder_items(root: Path, *, max_bytes: int) -> Iterator[tuple[str, Callable[[], bytes]]]:
    """Files under a folder (recursively, hidden ones skipped), in name order."""
    for path in _folder_files(root):
        def read(path=path) -> bytes:
            if path.stat().st_size > max_bytes:
                raise Refused("too_large", f"{path.stat().st_size / 1e6:.1f} MB")
            return path.read_bytes()
        yield path.name, read


def count_items(path: Path) -> int:
    """How many files folder_items / zip_items will yield (for the progress bar)."""
    if path.is_dir():
        return len(_folder_files(path))
    with zipfile.ZipFile(path) as archive:
        return sum(1 for i in archive.infolist() if not i.is_dir() and not _zip_name(i).startswith("."))

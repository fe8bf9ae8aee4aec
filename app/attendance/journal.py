"""PunchJournal: the crash-safe, append-only file a punch is written to before it counts.

A record is one line: ``<length:8 hex> <crc32:8 hex> <json>\n``. ``append`` writes it with one
``pwrite`` and ``fdatasync``s before returning, so a confirmed punch survives ``kill -9`` and
power loss. A torn last line (crash between write and sync, or mid-write) fails the length or
CRC check and is skipped on replay: its ``append`` never returned, so nobody was told the punch
counted.

Records live in numbered segments ``punches-<n>.jnl`` of a fixed size, created ahead of use on
the flush thread, zero-filled and synced: an append overwrites allocated blocks, so its
``fdatasync`` writes data only and does not wait for the file system's metadata journal, which
the database's commits keep busy. When a segment is full the next appends go to the next one
(or run past the end if it is not ready yet).

The flush job takes ``seal()`` -- the records not yet stored, kept in memory as they were
synced -- stores them idempotently (UUID unique), commits, then ``discard()``s them: full
segments are deleted, the active one stays until it fills. A crash at any point only means
that stored records are replayed at the next start, which the UUID constraint turns into
no-ops: a punch is never lost and never doubled. Deletions need no sync for the same reason.
"""

from __future__ import annotations

import json
import os
import re
import threading
import zlib
from dataclasses import dataclass
from pathlib import Path

from loguru import logger

SEGMENT_RE = re.compile(r"punches-(\d{12})\.jnl")
HEADER_LEN = 18  # 8 hex + space + 8 hex + space
SEGMENT_BYTES = 64 * 1024  # preallocated: about 250 punches


@dataclass(frozen=True)
class Sealed:
    """What one flush stores: the pending records, and the full segments it may then delete."""

    segments: tuple[Path, ...]
    records: tuple[dict, ...]


def encode_record(record: dict) -> bytes:
    body = json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode()
    return b"%08x %08x " % (len(body), zlib.crc32(body)) + body + b"\n"


def decode_segment(data: bytes) -> tuple[list[dict], int]:
    """The intact records of a segment and how many bytes at its end were torn."""
    records, pos = [], 0
    while pos < len(data):
        try:
            length = int(data[pos:pos + 8], 16)
            crc = int(data[pos + 9:pos + 17], 16)
        except ValueError:
            break
        start = pos + HEADER_LEN
        body = data[start:start + length]
        if len(body) != length or data[start + length:start + length + 1] != b"\n" \
                or zlib.crc32(body) != crc:
            break
        records.append(json.loads(body))
        pos = start + length + 1
    return records, len(data[pos:].rstrip(b"\0"))  # zeros are unused preallocated space


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class PunchJournal:
    """Append-only punch records in a folder; thread-safe."""

    def __init__(self, directory: Path, segment_bytes: int = SEGMENT_BYTES):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.segment_bytes = segment_bytes
        self._lock = threading.Lock()
        self._prepare_lock = threading.Lock()  # taken after _lock, never before it
        self._fd: int | None = None
        self._offset = 0
        self._pending: list[dict] = []  # synced, not yet stored, oldest first
        numbers = self._numbers()
        self._closed: list[int] = list(numbers)  # segments no longer appended to
        # Never append to a segment an earlier run wrote: its tail may be torn.
        self._active = (numbers[-1] + 1) if numbers else 1
        for n in numbers:
            records, torn = decode_segment(self._path(n).read_bytes())
            if torn:
                logger.warning("journal {}: skipped a torn record of {} bytes at its end",
                               self._path(n).name, torn)
            self._pending.extend(records)
        self._prepare(self._active)

    # -- paths ---------------------------------------------------------
    def _path(self, number: int) -> Path:
        return self.dir / f"punches-{number:012d}.jnl"

    def _numbers(self) -> list[int]:
        return sorted(int(m.group(1)) for p in self.dir.iterdir()
                      if (m := SEGMENT_RE.fullmatch(p.name)))

    def _prepare(self, number: int) -> None:
        """Create a zero-filled, synced segment (off the append path when possible)."""
        with self._prepare_lock:
            path = self._path(number)
            if path.exists():
                return
            tmp = path.with_suffix(".new")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.write(fd, bytes(self.segment_bytes))
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, path)
            _fsync_dir(self.dir)  # the name must survive power loss with the punches in it

    # -- writing -------------------------------------------------------
    def append(self, record: dict) -> None:
        """Write one record durably; returns only after it is on disk."""
        line = encode_record(record)
        with self._lock:
            full = self._offset + len(line) > self.segment_bytes
            if self._fd is None or (full and self._path(self._active + 1).exists()):
                if self._fd is not None:
                    os.close(self._fd)
                    self._closed.append(self._active)
                    self._active += 1
                self._prepare(self._active)  # a no-op unless the flush thread fell behind
                self._fd = os.open(self._path(self._active), os.O_WRONLY)
                self._offset = 0
            written = os.pwrite(self._fd, line, self._offset)
            if written != len(line):  # a full disk; the partial line fails its CRC on replay
                raise OSError(f"journal: short write ({written} of {len(line)} bytes)")
            os.fdatasync(self._fd)
            self._offset += written
            self._pending.append(record)

    def pending(self) -> list[dict]:
        """Records not yet stored by a flush (a copy), oldest first."""
        with self._lock:
            return list(self._pending)

    def pending_count(self) -> int:
        with self._lock:
            return len(self._pending)

    # -- flushing ------------------------------------------------------
    def seal(self) -> Sealed:
        """The records to store now, and the full segments that hold nothing else."""
        with self._lock:
            records = tuple(self._pending)
            closed = tuple(self._closed)
            upcoming = self._active + 1
        self._prepare(upcoming)  # the next segment, made here on the flush thread
        return Sealed(tuple(self._path(n) for n in closed), records)

    def discard(self, sealed: Sealed) -> None:
        """Forget sealed records once committed to the database; delete full segments."""
        stored = {r["uuid"] for r in sealed.records}
        for path in sealed.segments:
            path.unlink(missing_ok=True)
        gone = set(sealed.segments)
        with self._lock:
            self._pending = [r for r in self._pending if r["uuid"] not in stored]
            self._closed = [n for n in self._closed if self._path(n) not in gone]

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

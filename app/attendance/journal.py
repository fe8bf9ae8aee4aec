"""PunchJournal: the crash-safe, append-only file a punch is written to before it counts.

A record is one line: ``<length:8 hex> <crc32:8 hex> <json>\n``. ``append`` writes it with one
``pwrite`` and ``fdatasync``s before returning, so a confirmed punch survives ``kill -9`` and
power loss. A torn last line (crash between write and sync, or mid-write) fails the length or
CRC check and is skipped on replay: its ``append`` never returned, so nobody was told the punch
counted. A damaged record in the middle of a segment (a flipped bit on the card) costs that
record only: the reader resyncs at the next valid record header and logs what it skipped.

Records live in numbered segments ``punches-<n>.jnl`` of a fixed size, created ahead of use on
the flush thread, zero-filled and synced: an append overwrites allocated blocks, so its
``fdatasync`` writes data only and does not wait for the file system's metadata journal, which
the database's commits keep busy. A reserve of ``reserve_segments`` such segments is kept ready:
it is also the free-space reserve of a full disk, where punches still succeed until the reserve
is used up (a segment never written is reused by the next run, so the reserve survives restarts).

The flush job takes ``seal()`` -- the records not yet stored, kept in memory as they were
synced -- stores them idempotently (UUID unique), commits, then ``discard()``s them: it records
the journal position stored up to in ``flushed.mark`` (synced) and deletes full segments. At
the next start records at or before that mark are not replayed, so punches deleted from the
database afterwards (``clear_data``, retention) never come back. A crash before the mark is
written only means that stored records are replayed, which the UUID constraint turns into
no-ops: a punch is never lost and never doubled.

One process at a time writes a journal: the folder is locked (``journal.lock``) while a
``PunchJournal`` is open, and a second one fails at once, naming the holder's PID.
"""

from __future__ import annotations

import errno
import json
import os
import re
import threading
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from loguru import logger

from app.instance import hold_lock, release_lock

SEGMENT_RE = re.compile(r"punches-(\d{12})\.jnl")
HEADER_RE = re.compile(rb"[0-9a-f]{8} [0-9a-f]{8} ")
HEADER_LEN = 18  # 8 hex + space + 8 hex + space
SEGMENT_BYTES = 64 * 1024  # preallocated: about 250 punches
RESERVE_SEGMENTS = 8       # kept ready: about 2,000 punches on a full disk
MARK_FILE, LOCK_FILE = "flushed.mark", "journal.lock"
MARK_SLOT = 512            # two slots in separate sectors: a torn mark write leaves the other


@dataclass(frozen=True)
class Sealed:
    """What one flush stores: the pending records, where they end, and the segments it may delete."""

    segments: tuple[Path, ...]
    records: tuple[dict, ...]
    end: tuple[int, int] | None = None  # (segment, offset) just past the last sealed record


@dataclass
class SegmentScan:
    """What one segment holds: its intact records (with the offset each ends at) and its damage."""

    records: list[dict] = field(default_factory=list)
    ends: list[int] = field(default_factory=list)
    damaged_records: int = 0  # damaged lines skipped between intact records (resynced after)
    damaged_bytes: int = 0
    torn: int = 0             # bytes of a torn last record (not zeros, no intact record after)


def encode_record(record: dict) -> bytes:
    body = json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode()
    return b"%08x %08x " % (len(body), zlib.crc32(body)) + body + b"\n"


def _record_at(data: bytes, pos: int) -> tuple[dict, int] | None:
    if not HEADER_RE.match(data, pos):
        return None
    length, crc = int(data[pos:pos + 8], 16), int(data[pos + 9:pos + 17], 16)
    start = pos + HEADER_LEN
    body = data[start:start + length]
    if len(body) != length or data[start + length:start + length + 1] != b"\n" or zlib.crc32(body) != crc:
        return None
    try:
        return json.loads(body), start + length + 1
    except ValueError:  # cannot pass the CRC unless written so; never trust it blindly
        return None


def decode_segment(data: bytes) -> SegmentScan:
    """Read a segment; a damaged record is skipped up to the next valid header (resync)."""
    scan, pos, bad = SegmentScan(), 0, None
    while pos < len(data):
        found = _record_at(data, pos)
        if found is not None:
            if bad is not None:
                region = data[bad:pos]
                scan.damaged_records += max(1, region.count(b"\n"))
                scan.damaged_bytes += len(region)
                bad = None
            record, pos = found
            scan.records.append(record)
            scan.ends.append(pos)
            continue
        if bad is None:
            bad = pos
        # JSON bodies hold no raw newline, so a header can only start a line; a damaged length
        # field may hide where, so look for the next header pattern anywhere.
        match = HEADER_RE.search(data, pos + 1)
        if match is None:
            break
        pos = match.start()
    if bad is not None:
        scan.torn = len(data[bad:].rstrip(b"\0"))  # zeros are unused preallocated space
    return scan


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _segment_path(directory: Path, number: int) -> Path:
    return directory / f"punches-{number:012d}.jnl"


def _segment_numbers(directory: Path) -> list[int]:
    return sorted(int(m.group(1)) for p in directory.iterdir() if (m := SEGMENT_RE.fullmatch(p.name)))


def _encode_mark(seq: int, segment: int, offset: int) -> bytes:
    body = b"%016x %012d %012d" % (seq, segment, offset)
    return body + b" %08x\n" % zlib.crc32(body)


def read_mark(directory: Path) -> tuple[int, int, int]:
    """(sequence, segment, offset) of the newest intact flushed mark; zeros when there is none."""
    try:
        data = (Path(directory) / MARK_FILE).read_bytes()
    except FileNotFoundError:
        return 0, 0, 0
    best = (0, 0, 0)
    for slot in (data[:MARK_SLOT], data[MARK_SLOT:2 * MARK_SLOT]):
        line = slot.split(b"\n", 1)[0]
        parts = line.split(b" ")
        if len(parts) != 4:
            continue
        body = b" ".join(parts[:3])
        try:
            if int(parts[3], 16) != zlib.crc32(body):
                continue
            mark = (int(parts[0], 16), int(parts[1]), int(parts[2]))
        except ValueError:
            continue
        best = max(best, mark)
    return best


def spare_segment_path(directory: Path) -> Path:
    """A segment name after every existing one and the flushed mark (to import records, benches)."""
    directory = Path(directory)
    numbers = _segment_numbers(directory)
    return _segment_path(directory, max(numbers + [read_mark(directory)[1]]) + 1)


def is_disk_full(exc: BaseException) -> bool:
    """Whether an error (or one it was raised from) says the disk is full."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        text = str(exc).lower()
        if "disk is full" in text or "no space left" in text or type(exc).__name__ == "DiskFull":
            return True
        exc = exc.__cause__ or exc.__context__ or getattr(exc, "orig", None)
    return False


class PunchJournal:
    """Append-only punch records in a folder; thread-safe; one writer process (locked)."""

    def __init__(self, directory: Path, segment_bytes: int = SEGMENT_BYTES,
                 reserve_segments: int = RESERVE_SEGMENTS):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.segment_bytes = segment_bytes
        self.reserve_segments = reserve_segments
        self._lock_fd: int | None = hold_lock(self.dir / LOCK_FILE, f"the punch journal {self.dir}")
        self._lock = threading.Lock()
        self._prepare_lock = threading.Lock()  # taken after _lock, never before it
        self._mark_lock = threading.Lock()
        self._fd: int | None = None
        self._offset = 0
        self._capacity = 0
        self._pending: list[tuple[dict, int, int]] = []  # (record, segment, end offset), oldest first
        self.reserve_short = False  # the reserve could not be kept full: the disk is full
        try:
            self._open()
        except BaseException:
            release_lock(self._lock_fd)
            raise

    def _open(self) -> None:
        seq, mark_segment, mark_offset = read_mark(self.dir)
        self._mark = (seq, mark_segment, mark_offset)
        self._mark_fd: int | None = None
        numbers = _segment_numbers(self.dir)
        used, unused = [], []
        self._closed: list[int] = []  # segments no longer appended to, not yet deleted
        for n in numbers:
            path = self._path(n)
            data = path.read_bytes()
            if not data.strip(b"\0"):
                unused.append(n)
                continue
            used.append(n)
            scan = decode_segment(data)
            if scan.damaged_records:
                logger.error("journal {}: skipped {} damaged record(s) ({} bytes) and resynced at the "
                             "next intact one; {} intact records read", path.name, scan.damaged_records,
                             scan.damaged_bytes, len(scan.records))
            if scan.torn:
                logger.warning("journal {}: skipped a torn record of {} bytes at its end", path.name, scan.torn)
            fresh = [(r, n, end) for r, end in zip(scan.records, scan.ends)
                     if (n, end) > (mark_segment, mark_offset)]
            if not fresh and n <= mark_segment:
                path.unlink(missing_ok=True)  # everything in it is stored: the mark says so
                continue
            self._pending.extend(fresh)
            self._closed.append(n)  # never append to a segment an earlier run wrote: its tail may be torn
        floor = max(used + [mark_segment])
        # Never-written segments are the reserve of the previous run: reuse them, in order.
        self._ready = [n for n in unused if n > floor]
        for n in unused:
            if n <= floor:
                self._path(n).unlink(missing_ok=True)
        self._next_number = max(numbers + [mark_segment]) + 1
        self._active = self._ready.pop(0) if self._ready else self._take_number()
        self._top_up(first=True)

    # -- paths ---------------------------------------------------------
    def _path(self, number: int) -> Path:
        return _segment_path(self.dir, number)

    def _take_number(self) -> int:
        n = self._next_number
        self._next_number += 1
        return n

    def _prepare(self, number: int) -> None:
        """Create a zero-filled, synced segment (off the append path when possible)."""
        with self._prepare_lock:
            path = self._path(number)
            if path.exists():
                return
            tmp = path.with_suffix(".new")
            try:
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                try:
                    if os.write(fd, bytes(self.segment_bytes)) != self.segment_bytes:
                        raise OSError(errno.ENOSPC, "short write preparing a journal segment")
                    os.fsync(fd)
                finally:
                    os.close(fd)
                os.replace(tmp, path)
            except BaseException:
                tmp.unlink(missing_ok=True)  # a half-made segment would eat the space it lacked
                raise
            _fsync_dir(self.dir)  # the name must survive power loss with the punches in it

    def _top_up(self, first: bool = False) -> None:
        """Keep the active segment and the reserve prepared; best effort (a full disk stops it)."""
        try:
            self._prepare(self._active)
            while True:
                with self._lock:
                    if len(self._ready) >= self.reserve_segments:
                        break
                    number = self._take_number()
                self._prepare(number)
                with self._lock:
                    self._ready.append(number)
        except OSError as exc:
            if not self.reserve_short or first:
                logger.error("journal: cannot prepare segments ({}): {} ready of {}; punches go on "
                             "while they last", exc.strerror or exc, len(self._ready), self.reserve_segments)
            self.reserve_short = True
            return
        if self.reserve_short:
            logger.info("journal: segment reserve restored ({} ready)", len(self._ready))
        self.reserve_short = False

    def reserve_left(self) -> int:
        """Prepared segments not yet written to (the active one not counted)."""
        with self._lock:
            return len(self._ready)

    # -- writing -------------------------------------------------------
    def append(self, record: dict) -> None:
        """Write one record durably; returns only after it is on disk."""
        line = encode_record(record)
        with self._lock:
            if self._fd is not None and self._offset + len(line) > self._capacity and self._ready:
                os.close(self._fd)
                self._fd = None
                self._closed.append(self._active)
                self._active = self._ready.pop(0)
            if self._fd is None:
                self._prepare(self._active)  # a no-op unless the flush thread fell behind
                self._fd = os.open(self._path(self._active), os.O_WRONLY)
                self._offset = 0
                self._capacity = os.fstat(self._fd).st_size
            written = os.pwrite(self._fd, line, self._offset)
            if written != len(line):  # a full disk; the partial line fails its CRC on replay
                raise OSError(errno.ENOSPC, f"journal: short write ({written} of {len(line)} bytes)")
            os.fdatasync(self._fd)
            self._offset += written
            self._pending.append((record, self._active, self._offset))

    def forget_snapshot(self, uuid: str) -> None:
        """Store a pending punch without its snapshot (the file could not be written).

        Only the copy in memory changes: after a crash the replayed record names a missing file,
        which the admin shows as no snapshot.
        """
        with self._lock:
            self._pending = [({**r, "snapshot_file": None}, s, e) if r["uuid"] == uuid else (r, s, e)
                             for r, s, e in self._pending]

    def pending(self) -> list[dict]:
        """Records not yet stored by a flush (a copy), oldest first."""
        with self._lock:
            return [r for r, _, _ in self._pending]

    def pending_count(self) -> int:
        with self._lock:
            return len(self._pending)

    # -- flushing ------------------------------------------------------
    def seal(self) -> Sealed:
        """The records to store now, and the full segments that hold nothing else."""
        with self._lock:
            records = tuple(r for r, _, _ in self._pending)
            end = self._pending[-1][1:] if self._pending else None
            closed = tuple(self._closed)
        self._top_up()  # the reserve, refilled here on the flush thread
        return Sealed(tuple(self._path(n) for n in closed), records, end)

    def discard(self, sealed: Sealed) -> None:
        """Forget sealed records once committed to the database; mark them stored; delete full segments."""
        if sealed.end is not None:
            self._write_mark(*sealed.end)
        stored = {r["uuid"] for r in sealed.records}
        for path in sealed.segments:
            path.unlink(missing_ok=True)
        gone = set(sealed.segments)
        with self._lock:
            self._pending = [p for p in self._pending if p[0]["uuid"] not in stored]
            self._closed = [n for n in self._closed if self._path(n) not in gone]

    def _write_mark(self, segment: int, offset: int) -> None:
        # Synced before any segment is deleted: the mark is what keeps deleted punches deleted.
        with self._mark_lock:
            seq, *at = self._mark
            if (segment, offset) <= tuple(at):
                return
            try:
                if self._mark_fd is None:
                    path = self.dir / MARK_FILE
                    created = not path.exists()
                    self._mark_fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
                    if os.fstat(self._mark_fd).st_size < 2 * MARK_SLOT:
                        os.pwrite(self._mark_fd, bytes(2 * MARK_SLOT), 0)  # allocated once, rewritten in place
                    if created:
                        _fsync_dir(self.dir)
                seq += 1
                line = _encode_mark(seq, segment, offset)
                if os.pwrite(self._mark_fd, line, (seq % 2) * MARK_SLOT) != len(line):
                    raise OSError(errno.ENOSPC, "short write")
                os.fdatasync(self._mark_fd)
            except OSError as exc:
                # Not a loss: without the mark, stored punches are replayed as no-ops at the next start.
                logger.error("journal: cannot record the flushed position: {}", exc)
                return
            self._mark = (seq, segment, offset)

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
        with self._mark_lock:
            if self._mark_fd is not None:
                os.close(self._mark_fd)
                self._mark_fd = None
        if self._lock_fd is not None:
            release_lock(self._lock_fd)
            self._lock_fd = None

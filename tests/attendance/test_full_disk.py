"""A full disk, for real: the instance on a small tmpfs filled to the last byte.

Punches still count (journaled first, into segments the journal preallocated; the snapshot is
best effort), the flush waits without losing anything, a restart on the full disk comes up,
and the terminal says 存储空间不足 (status, status bar) until there is room again.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.helpers.kiosk_window import MOCK_PINS, Kiosk, configure

pytestmark = pytest.mark.usefixtures("loguru_to_this_test")   # the terminal's threads log

configure()

from app.attendance import Candidate, open_attendance  # noqa: E402
from app.config import load_config  # noqa: E402
from app.instance import SPACE_RESERVE_BYTES, Instance  # noqa: E402
from app.kiosk.texts import text  # noqa: E402
from app.store import Punch, Staff, open_store  # noqa: E402

JPEG = b"\xff\xd8" + os.urandom(30_000) + b"\xff\xd9"


def fill(folder: Path) -> Path:
    """Take every free byte of the file system with one file; its path."""
    filler = folder / f"filler-{len(list(folder.glob('filler-*')))}"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        for chunk in (1 << 16, 4096, 1):
            try:
                while True:
                    os.write(fd, bytes(chunk))
            except OSError:
                pass
    finally:
        os.close(fd)
    assert os.statvfs(folder).f_bavail == 0
    return filler


def empty(folder: Path) -> None:
    for filler in folder.glob("filler-*"):
        filler.unlink()


def _setup(root: Path, staff: int = 3):
    instance = Instance(root).prepare()
    instance.config_path.write_text('[attendance]\ndedupe_seconds = 0\n', encoding="utf-8")
    config = load_config(instance)
    store = open_store(config, instance)
    with store.session() as s:
        people = [Staff(staff_no=f"F{i}", name=f"人{i}") for i in range(staff)]
        s.add_all(people)
    return instance, config, store, people


def _count(store) -> int:
    with store.session() as s:
        return s.scalar(select(func.count()).select_from(Punch))


def test_punches_count_on_a_full_disk_and_are_stored_once_there_is_room(tmpfs):
    instance, config, store, people = _setup(tmpfs / "inst")
    assert instance.reserve_path.stat().st_size == SPACE_RESERVE_BYTES
    a = open_attendance(config, instance, store)
    try:
        a.recover()
        assert a.status()["storage_low"] is False
        assert a.journal.reserve_left() == 8
        fill(tmpfs)
        # The first look at a full disk gives the space reserve back (the database can go on for a
        # while); filled again, the disk is full for good.
        assert a.status()["storage_low"] is True and not instance.reserve_path.exists()
        fill(tmpfs)

        # a camera punch: the snapshot cannot be written, the punch counts without it
        first = a.clockin.confirm(Candidate(people[0].id, "F0", "人0", 0.99, snapshot_jpeg=JPEG))
        assert first.recorded and first.message().startswith("打卡成功") and first.punch.snapshot_file is None
        assert not list(instance.snapshots_dir.rglob("*.jpg"))
        # the flush cannot store it: no error, the punch waits in the journal
        assert a.flusher.flush() == 0 and a.flusher.disk_full
        assert a.journal.pending_count() == 1 and a.status()["storage_low"] is True

        # more than one segment's worth: they go into the preallocated reserve
        results = [a.clockin.confirm(Candidate(people[i % 3].id, f"F{i % 3}", f"人{i % 3}", 0.9))
                   for i in range(400)]
        assert all(r.recorded for r in results)
        assert a.journal.reserve_left() == 7                     # a segment of the reserve used
        assert a.flusher.flush() == 0 and a.journal.reserve_short  # which cannot be made again
        assert a.journal.pending_count() == 401 and _count(store) == 0

        empty(tmpfs)
        assert a.flusher.flush() == 401 and not a.flusher.disk_full
        assert _count(store) == 401 and a.journal.pending_count() == 0
        assert a.journal.reserve_left() == 8                       # refilled by that flush
        assert a.status()["storage_low"] is False and instance.reserve_path.exists()
    finally:
        a.journal.close()
        store.dispose()


def test_a_restart_on_a_full_disk_comes_up_and_keeps_punching(tmpfs):
    instance, config, store, people = _setup(tmpfs / "inst")
    a = open_attendance(config, instance, store)
    a.recover()
    waiting = a.clockin.confirm(Candidate(people[0].id, "F0", "人0", 0.99))
    a.journal.close()   # killed before its flush
    store.dispose()
    fill(tmpfs)
    reserve = {p.name: p.stat().st_ino for p in instance.journal_dir.glob("*.jnl")
               if not p.read_bytes().strip(b"\0")}
    assert len(reserve) == 8

    # systemd restarts the terminal: it must start, not loop on "disk I/O error"
    instance = Instance(tmpfs / "inst").prepare()
    store = open_store(config, instance)
    b = open_attendance(config, instance, store)
    try:
        b.recover()
        assert b.status()["storage_low"] is True
        # the reserve of the run before is reused (the same files), not made anew
        after = {p.name: p.stat().st_ino for p in instance.journal_dir.glob("*.jnl")}
        assert {k: after.get(k) for k in reserve} == reserve
        fill(tmpfs)   # whatever the start used, the disk is full again
        later = b.clockin.confirm(Candidate(people[1].id, "F1", "人1", 0.99))
        assert later.recorded
        empty(tmpfs)
        b.flusher.flush()
        with store.session() as s:
            stored = set(s.scalars(select(Punch.uuid)))
        assert stored == {waiting.punch.uuid, later.punch.uuid}
    finally:
        b.journal.close()
        store.dispose()


def test_the_terminal_starts_on_a_full_disk_and_says_so(tmpfs, models, font):
    """The real terminal and its window on a full disk: started, 存储空间不足 in the status bar."""
    from app.hardware.gpio import make_pin_factory
    from app.services.terminal import Terminal

    instance, _config, store, _people = _setup(tmpfs / "inst")
    store.dispose()
    instance.config_path.write_text(
        '[camera]\nsource = "none"\n[liveness]\nlevel = "off"\n[gpio]\n'
        + "".join(f"{k} = {v!r}\n".replace("'", '"') for k, v in MOCK_PINS.items()),
        encoding="utf-8")
    fill(tmpfs)
    instance = Instance(tmpfs / "inst").prepare()
    config = load_config(instance)
    terminal = Terminal(config, instance, models=models, pin_factory=make_pin_factory("mock"))
    kiosk = None
    try:
        terminal.start()
        fill(tmpfs)
        status = terminal.status()
        assert status["storage_low"] is True
        kiosk = Kiosk(terminal, font)
        kiosk.app._status_changed(status)   # what the housekeeper's status event hands the window
        assert kiosk.app.sync_text == "存储空间不足" == text("storage_low")
        kiosk.app._status_changed(dict(status, journal_pending=2))
        assert kiosk.app.sync_text == "存储空间不足  待上传 2"
        assert text("storage_low", "en") == "Storage full"
    finally:
        if kiosk is not None:
            kiosk.close()
        terminal.stop()


@pytest.fixture
def font():
    from app.fonts import find_cjk_font

    return find_cjk_font()


def test_prepare_on_a_full_disk_without_a_reserve_is_no_error(tmpfs):
    instance = Instance(tmpfs / "inst").prepare()
    instance.reserve_path.unlink()
    fill(tmpfs)
    again = Instance(tmpfs / "inst").prepare()   # writable, only full: the start goes on
    assert again.root == instance.root and not again.reserve_path.exists()
    empty(tmpfs)
    assert Instance(tmpfs / "inst").prepare().reserve_path.stat().st_size == SPACE_RESERVE_BYTES

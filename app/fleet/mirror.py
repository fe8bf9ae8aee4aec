"""LibraryMirror: the central library's changes applied to the terminal's local store.

The centre numbers every change of its library (``fleet_changes``: table, row key, U or D; a
trigger also ``pg_notify('daka_changes', ...)``). ``sync()`` reads the changes after the last
number applied (``fleet_cursors`` row ``changes`` in the local store), reads the *current* central
row of each key in the same snapshot (a missing row is a tombstone: deleted here too) and applies
them to the local SQLite in one transaction: departments, staff, face templates, photo files
(from ``face_photos``, written into the local photos folder), settings and this device's
overrides. Local library ids equal central ids: the mirror owns the local library.

Change numbers come from a sequence, so one can commit after a larger one. The changes seen are
applied at once (applying reads the current row: re-applying is harmless), but the cursor stays
before a gap in the numbers while the change after the gap is younger than ``GAP_WAIT`` (by the
centre's clock): a transaction still in flight holds that number and is read when it commits.
An older gap is a transaction that rolled back. (The ADMS link waits at a recent gap in punch
ids the same way.)

A fresh mirror (cursor 0) first copies the whole central library (rows made before
``daka fleet init`` have no change numbers) and drops local rows the centre lacks.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from loguru import logger
from psycopg.rows import dict_row
from sqlalchemy import delete, or_, select, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from app.store import Department, FaceTemplate, Punch, Staff, Store
from app.store.settings import delete_setting, read_settings, write_setting

from .cursors import StoredCursor

CURSOR = "changes"
GAP_WAIT = dt.timedelta(seconds=30)
BATCH = 1000
PHOTO_CHUNK = 20
ACTOR = "fleet"
LIBRARY_TABLES = ("departments", "staff", "face_templates", "face_photos")
SETTING_TABLES = ("settings", "fleet_device_settings")
_MODELS = {"departments": Department, "staff": Staff, "face_templates": FaceTemplate}


@dataclass
class Batch:
    """What one read of the centre brought: keys per table, and the current rows of those keys."""

    keys: dict[str, set] = field(default_factory=dict)
    rows: dict[str, dict] = field(default_factory=dict)     # table -> {key: row}
    photos: dict[str, bytes] = field(default_factory=dict)  # sha256 -> bytes
    settings: dict[str, str] | None = None                  # key -> JSON text: effective central values
    setting_keys: set[str] = field(default_factory=set)
    snapshot: bool = False

    def touched(self, table: str) -> set:
        return self.keys.setdefault(table, set())


class LibraryMirror:
    def __init__(self, store: Store, photos_dir: Path, *,
                 on_library_changed: Callable[[set[int]], None] | None = None,
                 settings_table: str = "fleet_settings_view"):
        self.store, self.photos_dir = store, Path(photos_dir)
        self.on_library_changed = on_library_changed
        self.settings_table = settings_table
        self.applied_beyond: set[int] = set()   # numbers past the cursor already applied
        self.applied = 0
        self.last_sync: dt.datetime | None = None
        self.waiting_gap: int | None = None       # the change number the cursor waits for
        self.copied = False                       # the whole library was copied (a fresh mirror)
        self._stored = StoredCursor(store, CURSOR)

    @property
    def cursor(self) -> int:
        return self._stored.position

    def _move(self, position: int) -> None:
        self._stored.move(position)
        self.applied_beyond = {n for n in self.applied_beyond if n > position}

    # -- one round --------------------------------------------------------------------------
    def sync(self, conn) -> int:
        """Apply every change visible now; the number of changes applied. ``conn``: an autocommit
        psycopg connection to the centre (errors propagate: the caller reconnects)."""
        done = 0
        if self.cursor == 0 and not self.copied:
            self._snapshot(conn)
            self.copied = True
        after, expected, blocked = self.cursor, self.cursor + 1, False
        position = self.cursor
        while True:
            batch = Batch()
            with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
                cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                cur.execute("SELECT change_no, table_name, row_key, at, now() AS now FROM fleet_changes "
                            "WHERE change_no > %s ORDER BY change_no LIMIT %s", (after, BATCH))
                changes = cur.fetchall()
                fresh = [c for c in changes if c["change_no"] not in self.applied_beyond]
                for c in fresh:
                    key = c["row_key"]
                    if c["table_name"] in _MODELS:
                        key = int(key)
                    batch.touched(c["table_name"]).add(key)
                if fresh:
                    self._read(cur, batch)
            if fresh:
                self._apply(batch)
                done += len(fresh)
            self.waiting_gap = None
            for c in changes:
                n = c["change_no"]
                if not blocked and n != expected and c["at"] > c["now"] - GAP_WAIT:
                    blocked, self.waiting_gap = True, expected
                if not blocked:
                    position, expected = n, n + 1
                else:
                    self.applied_beyond.add(n)
            self._move(position)
            if len(changes) < BATCH:
                break
            after = changes[-1]["change_no"]
        self.applied += done
        self.last_sync = dt.datetime.now(dt.UTC)
        return done

    def _snapshot(self, conn) -> None:
        """Copy the whole central library (the first sync of a terminal)."""
        batch = Batch(snapshot=True)
        with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
            cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            for table in _MODELS:
                cur.execute(f"SELECT id FROM {table}")   # noqa: S608 - a fixed table name
                batch.keys[table] = {r["id"] for r in cur.fetchall()}
            batch.keys["settings"] = {"*"}
            self._read(cur, batch)
        self._apply(batch)
        logger.info("fleet: copied the central library: {} staff, {} templates",
                    len(batch.rows.get("staff", {})), len(batch.rows.get("face_templates", {})))

    # -- reading the centre -------------------------------------------------------------------
    def _read(self, cur, batch: Batch) -> None:
        for table in ("departments", "staff", "face_templates"):
            ids = batch.keys.get(table)
            if ids:
                batch.rows[table] = _rows_by_id(cur, table, ids)
        # a template's person and a person's department must exist here first (foreign keys)
        local = self._local_ids()
        staff_ids = {r["staff_id"] for r in batch.rows.get("face_templates", {}).values()}
        missing = staff_ids - local["staff"] - set(batch.rows.get("staff", {}))
        if missing:
            batch.rows.setdefault("staff", {}).update(_rows_by_id(cur, "staff", missing))
        dept_ids = {r["department_id"] for r in batch.rows.get("staff", {}).values() if r.get("department_id")}
        missing = dept_ids - local["departments"] - set(batch.rows.get("departments", {}))
        if missing:
            batch.rows.setdefault("departments", {}).update(_rows_by_id(cur, "departments", missing))
        wanted = set(batch.keys.get("face_photos", ()))
        wanted |= {r["photo_sha256"] for r in batch.rows.get("face_templates", {}).values()}
        wanted = {sha for sha in wanted if self._photo_needed(sha, batch)}
        wanted_list = sorted(wanted)
        for i in range(0, len(wanted_list), PHOTO_CHUNK):
            cur.execute("SELECT sha256, data FROM face_photos WHERE sha256 = ANY(%s)",
                        (wanted_list[i:i + PHOTO_CHUNK],))
            batch.photos.update((r["sha256"], bytes(r["data"])) for r in cur.fetchall())
        if batch.keys.get("settings") or batch.keys.get("fleet_device_settings"):
            cur.execute(f"SELECT key, value FROM {self.settings_table}")   # noqa: S608 - fixed name
            values = {r["key"]: r["value"] for r in cur.fetchall() if not r["key"].startswith("_")}
            cur.execute("SELECT key, value FROM fleet_device_settings WHERE device_id = fleet_device_id()")
            values.update({r["key"]: r["value"] for r in cur.fetchall()})
            batch.settings = values
            batch.setting_keys = {k for k in batch.keys.get("settings", ()) if k != "*"}
            batch.setting_keys |= set(batch.keys.get("fleet_device_settings", ()))

    def _photo_needed(self, sha: str, batch: Batch) -> bool:
        """Whether a photo's file is missing here for some template (local or arriving)."""
        names = {r["photo_file"] for r in batch.rows.get("face_templates", {}).values() if r["photo_sha256"] == sha}
        with self.store.session() as s:
            names |= set(s.scalars(select(FaceTemplate.photo_file).where(FaceTemplate.photo_sha256 == sha)))
        for name in names:
            path = photo_path(self.photos_dir, name)
            if path is not None and not path.exists():
                return True
        return False

    def _local_ids(self) -> dict[str, set[int]]:
        with self.store.session() as s:
            return {"staff": set(s.scalars(select(Staff.id))), "departments": set(s.scalars(select(Department.id)))}

    # -- applying here ------------------------------------------------------------------------
    def _apply(self, batch: Batch) -> None:
        changed_staff: set[int] = set()
        orphans: set[str] = set()
        library = batch.snapshot or any(batch.keys.get(t) for t in LIBRARY_TABLES)
        if library:
            with self.store.session() as s:
                conn = s.connection()
                self._apply_departments(conn, batch)
                changed_staff |= self._apply_staff(conn, batch, orphans)
                changed_staff |= self._apply_templates(conn, batch, orphans)
                self._write_photos(conn, batch)
            self._remove_files(orphans)
        if batch.settings is not None:
            self._apply_settings(batch)
        if library and self.on_library_changed is not None:
            try:
                self.on_library_changed(changed_staff)
            except Exception:   # the rows are stored: the next change reloads the gallery again
                logger.exception("fleet: reloading the gallery after a library change failed")

    def _apply_departments(self, conn, batch: Batch) -> None:
        table = Department.__table__
        rows = batch.rows.get("departments", {})
        for key, row in rows.items():
            conn.execute(delete(table).where(table.c.name == row["name"], table.c.id != key))
            _upsert(conn, table, row)
        gone = _gone(conn, batch, "departments")
        if gone:
            conn.execute(delete(table).where(table.c.id.in_(gone)))

    def _apply_staff(self, conn, batch: Batch, orphans: set[str]) -> set[int]:
        table = Staff.__table__
        rows = batch.rows.get("staff", {})
        for key, row in rows.items():
            # a local row in the way (an on-device enrolment not yet back from the centre, or a
            # standalone terminal's own staff): the centre's row replaces it
            clash = [table.c.staff_no == row["staff_no"], table.c.zk_uid == row["zk_uid"]]
            if row.get("card_no"):
                clash.append(table.c.card_no == row["card_no"])
            condition = or_(*clash) & (table.c.id != key) | ((table.c.id == key) & (table.c.staff_no != row["staff_no"]))
            doomed = list(conn.execute(select(table.c.id).where(condition)).scalars())
            if doomed:
                orphans |= self._template_files(conn, FaceTemplate.__table__.c.staff_id.in_(doomed))
                conn.execute(delete(table).where(table.c.id.in_(doomed)))
            _upsert(conn, table, row)
            if doomed:   # their punches lost the link (ON DELETE SET NULL): to the central row, by staff number
                punches = Punch.__table__
                conn.execute(update(punches).where(punches.c.staff_id.is_(None),
                                                   punches.c.staff_no == row["staff_no"]).values(staff_id=key))
        gone = _gone(conn, batch, "staff")
        if gone:
            orphans |= self._template_files(conn, FaceTemplate.__table__.c.staff_id.in_(gone))
            conn.execute(delete(table).where(table.c.id.in_(gone)))
        return set(rows) | gone

    def _apply_templates(self, conn, batch: Batch, orphans: set[str]) -> set[int]:
        table = FaceTemplate.__table__
        rows = batch.rows.get("face_templates", {})
        staff = set()
        for key, row in rows.items():
            # the local copy of an on-device enrolment the centre now holds: same photo, same model
            condition = ((table.c.photo_sha256 == row["photo_sha256"]) & (table.c.model_id == row["model_id"])
                         & (table.c.id != key)) | (table.c.id == key)
            orphans |= self._template_files(conn, condition)
            conn.execute(delete(table).where(condition & (table.c.id != key)))
            _upsert(conn, table, row)
            staff.add(row["staff_id"])
        gone = _gone(conn, batch, "face_templates")
        if gone:
            staff |= set(conn.execute(select(table.c.staff_id).where(table.c.id.in_(gone))).scalars())
            orphans |= self._template_files(conn, table.c.id.in_(gone))
            conn.execute(delete(table).where(table.c.id.in_(gone)))
        return staff

    @staticmethod
    def _template_files(conn, condition) -> set[str]:
        table = FaceTemplate.__table__
        return set(conn.execute(select(table.c.photo_file).where(condition)).scalars())

    def _write_photos(self, conn, batch: Batch) -> None:
        if not batch.photos:
            return
        table = FaceTemplate.__table__
        rows = conn.execute(select(table.c.photo_file, table.c.photo_sha256)
                            .where(table.c.photo_sha256.in_(list(batch.photos)))).all()
        for name, sha in set(rows):
            path = photo_path(self.photos_dir, name)
            if path is None:
                logger.warning("fleet: photo name {!r} is not a file in the photos folder; not written", name)
                continue
            if not path.exists():
                _write_atomic(path, batch.photos[sha])

    def _remove_files(self, names: Iterable[str]) -> None:
        names = set(names)
        if not names:
            return
        with self.store.session() as s:
            used = set(s.scalars(select(FaceTemplate.photo_file).where(FaceTemplate.photo_file.in_(names))))
        for name in names - used:
            path = photo_path(self.photos_dir, name)
            if path is not None:
                path.unlink(missing_ok=True)

    def _apply_settings(self, batch: Batch) -> None:
        central = batch.settings or {}
        local = read_settings(self.store)
        for key, raw in central.items():
            value = json.loads(raw) if isinstance(raw, str) else raw
            if key not in local or local[key] != value:
                write_setting(self.store, key, value, ACTOR, old_default=None)
        # a tombstone of a key the centre no longer holds (for this device): it goes here too
        for key in batch.setting_keys - set(central):
            if key in local:
                delete_setting(self.store, key, ACTOR)


def _rows_by_id(cur, table: str, ids: Iterable[int]) -> dict:
    cur.execute(f"SELECT * FROM {table} WHERE id = ANY(%s)", (sorted(ids),))   # noqa: S608 - fixed names
    return {r["id"]: r for r in cur.fetchall()}


def _gone(conn, batch: Batch, table: str) -> set[int]:
    """Keys that changed and have no central row now (tombstones); in a snapshot, local rows the centre lacks."""
    present = set(batch.rows.get(table, {}))
    if batch.snapshot:
        column = _MODELS[table].__table__.c.id
        return set(conn.execute(select(column)).scalars()) - present
    return set(batch.keys.get(table, ())) - present


def _upsert(conn, table, row: dict) -> None:
    values = {c.name: row[c.name] for c in table.columns if c.name in row}
    stmt = sqlite_insert(table).values(values)
    conn.execute(stmt.on_conflict_do_update(index_elements=["id"],
                                            set_={k: v for k, v in values.items() if k != "id"}))


def photo_path(photos_dir: Path, name: str) -> Path | None:
    """Where a photo named by the centre goes, only if that is a plain file in the photos folder.

    (The library's own check lives in app.library, which imports this package: not importable here.)
    """
    if not name or "/" in name or "\\" in name or name.startswith(".") or "\0" in name:
        return None
    folder = Path(photos_dir).resolve()
    path = folder / name
    return path if path.parent == folder else None


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".part")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)

"""``daka fleet join`` / ``leave`` / ``status``: a terminal moves from standalone to fleet and back.

**join** (the terminal stopped): the punches still in the journal are stored first; then, with the
terminal's own role (which may only insert enrolments and punches), every active person's photos
go up as enrolments (the centre's trigger makes the person, the photo and the templates; a photo
the centre already holds for that staff number is skipped), every stored punch goes up (``ON
CONFLICT DO NOTHING`` on its uuid: a second join sends none twice), and the local library becomes
the mirror of the central one (the whole library copied, local rows the centre lacks dropped, the
punches linked to the central staff ids by staff number). The config file gets the URL.

**leave**: the terminal keeps everything it has (library, punches, settings) and runs standalone:
the URL leaves the config file. Punches not yet uploaded stay here (``leave`` says how many).
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import psycopg
from psycopg.types.json import Jsonb
from sqlalchemy import func, select, update

from app.attendance import open_attendance
from app.store import FaceTemplate, FleetCursor, FleetEnrolment, Punch, Staff, Store, open_store

from .connect import CentreUnreachable, connect, safe_url
from .mirror import CURSOR as CHANGES, LibraryMirror, photo_path
from .upload import PunchUploader

# What a failed join says (the centre unreachable or refusing; this role not a terminal): nothing changed here.
JOIN_ERRORS = (CentreUnreachable, psycopg.Error, RuntimeError)
_SECTION = re.compile(r"^\s*\[([^\]]+)\]\s*(#.*)?$")


def set_fleet_url(config_path: Path, url: str | None) -> None:
    """Write ``[fleet] database_url`` into daka.toml (None removes it), keeping the rest of the file."""
    lines = config_path.read_text(encoding="utf-8").splitlines() if config_path.exists() else []
    start = next((i for i, line in enumerate(lines)
                  if (m := _SECTION.match(line)) and m.group(1).strip() == "fleet"), None)
    new = None if url is None else f"database_url = {json.dumps(url)}"
    if start is None:
        if new is not None:
            lines += ["", "[fleet]", new]
    else:
        end = next((i for i in range(start + 1, len(lines)) if _SECTION.match(lines[i])), len(lines))
        key = next((i for i in range(start + 1, end) if re.match(r"\s*database_url\s*=", lines[i])), None)
        if key is not None:
            if new is None:
                del lines[key]
            else:
                lines[key] = new
        elif new is not None:
            lines.insert(start + 1, new)
    config_path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _local_photos(store: Store, photos_dir: Path) -> tuple[list[dict], list[dict]]:
    """Each active person's photos as enrolments (every model's descriptor), and what cannot go up."""
    items, skipped = [], []
    with store.session() as s:
        people = s.scalars(select(Staff).order_by(Staff.id)).all()
        for person in people:
            templates = s.scalars(select(FaceTemplate).where(FaceTemplate.staff_id == person.id)
                                  .order_by(FaceTemplate.id)).all()
            if not person.active:
                skipped.append({"staff_no": person.staff_no, "reason": "inactive"})
                continue
            if not templates:
                skipped.append({"staff_no": person.staff_no, "reason": "no_photo"})
                continue
            photos: dict[str, list] = {}
            for t in templates:
                photos.setdefault(t.photo_file, []).append(t)
            for name, rows in photos.items():
                path = photo_path(photos_dir, name)
                if path is None or not path.exists():
                    skipped.append({"staff_no": person.staff_no, "photo": name, "reason": "missing_photo"})
                    continue
                items.append({"staff_no": person.staff_no, "name": person.name, "photo": path.read_bytes(),
                              "sha256": rows[0].photo_sha256, "quality": float(rows[0].quality or 0.0),
                              "descriptors": {t.model_id: base64.b64encode(t.descriptor).decode("ascii")
                                              for t in rows}})
    return items, skipped


def join(store: Store, url: str, photos_dir: Path, on_library_changed=None) -> dict:
    """Upload this terminal's library and punches to the centre, then mirror the central library."""
    items, skipped = _local_photos(store, photos_dir)
    sent, already, refused = [], [], []
    with connect(url, autocommit=True, application_name="daka-fleet-join") as conn:
        device = conn.execute("SELECT device_id FROM fleet_devices WHERE device_id = fleet_device_id()").fetchone()
        if device is None:
            raise RuntimeError("this role is not an enabled fleet terminal (see `daka fleet add-terminal`)")
        for item in items:
            held = conn.execute("SELECT 1 FROM face_templates t JOIN staff s ON s.id = t.staff_id "
                                "WHERE s.staff_no = %s AND t.photo_sha256 = %s LIMIT 1",
                                (item["staff_no"], item["sha256"])).fetchone()
            if held:
                already.append(item["staff_no"])
                continue
            with conn.transaction():
                error = conn.execute("INSERT INTO fleet_enrolments (staff_no, name, photo, descriptors, quality) "
                                     "VALUES (%s, %s, %s, %s, %s) RETURNING error",
                                     (item["staff_no"], item["name"], item["photo"], Jsonb(item["descriptors"]),
                                      item["quality"])).fetchone()[0]
            (refused if error else sent).append({"staff_no": item["staff_no"], **({"error": error} if error else {})})
        uploader = PunchUploader(store, url)
        try:
            punches = uploader.upload()
            inserted = uploader.inserted
        finally:
            uploader.close()
        # the mirror owns the local library from now on: copy the central one whole
        with store.session() as s:
            row = s.get(FleetCursor, CHANGES)
            if row is not None:
                row.position = 0
        mirror = LibraryMirror(store, photos_dir, on_library_changed=on_library_changed)
        mirror.sync(conn)
    relinked = relink_punches(store)
    return {"device_id": device[0], "centre": safe_url(url), "photos_sent": len(sent), "photos_held": len(already),
            "photos_refused": refused, "skipped": skipped, "punches_sent": punches, "punches_new": inserted,
            "change_no": mirror.cursor, "punches_relinked": relinked}


def relink_punches(store: Store) -> int:
    """Point punches left without a person (their local staff row was replaced) at the staff number's row."""
    with store.session() as s:
        owner = select(Staff.id).where(Staff.staff_no == Punch.staff_no).scalar_subquery()
        done = s.execute(update(Punch).where(Punch.staff_id.is_(None)).values(staff_id=owner)
                         .execution_options(synchronize_session=False))
        return done.rowcount or 0


def status(store: Store, url: str, timeout_s: float = 5.0) -> dict:
    """What the terminal has waiting and, when the centre answers, where it stands there."""
    uploader = PunchUploader(store, url)
    mirror = LibraryMirror(store, Path("."))
    out = {"fleet": bool(url), "centre": safe_url(url) if url else None, "pending_punches": uploader.pending(),
           "change_no": mirror.cursor}
    with store.session() as s:
        out["queued_enrolments"] = s.scalar(select(func.count()).select_from(FleetEnrolment)) or 0
    if not url:
        return out
    try:
        with connect(url, autocommit=True, application_name="daka-fleet-status") as conn:
            row = conn.execute("SELECT device_id, name, enabled FROM fleet_devices "
                               "WHERE device_id = fleet_device_id()").fetchone()
            latest = conn.execute("SELECT max(change_no) FROM fleet_changes").fetchone()[0]
        out.update(reachable=True, device_id=row[0] if row else None, name=row[1] if row else None,
                   central_change_no=latest or 0)
    except Exception as exc:
        out.update(reachable=False, error=" ".join(str(exc).split())[:300])
    return out


# -- the commands' bodies, on an instance (the terminal stopped: the caller holds the instance lock) --

def join_instance(config, instance, url: str) -> dict:
    """``daka fleet join``: the journal stored, then :func:`join`; the URL written to daka.toml after."""
    store = open_store(config, instance)
    try:
        attendance = open_attendance(config, instance, store)
        attendance.recover()   # punches still journaled go up with the rest
        attendance.close()
        result = join(store, url, instance.photos_dir)
    finally:
        store.dispose()
    if url != config.fleet.database_url:
        set_fleet_url(instance.config_path, url)
    return result


def leave_instance(config, instance) -> dict:
    """``daka fleet leave``: standalone again, every row kept; what had not gone up yet."""
    store = open_store(config, instance)
    try:
        state = status(store, "")
    finally:
        store.dispose()
    set_fleet_url(instance.config_path, None)
    return {"fleet": False, "left": bool(config.fleet.database_url), "pending_punches": state["pending_punches"],
            "queued_enrolments": state["queued_enrolments"]}


def instance_status(config, instance) -> dict:
    """``daka fleet status``."""
    store = open_store(config, instance)
    try:
        return status(store, config.fleet.database_url)
    finally:
        store.dispose()

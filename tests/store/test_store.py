"""The store: migrations equal the models, SQLite pragmas, constraints, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from app.store import NAMING_CONVENTION, Punch, Staff, db


def test_migrations_create_exactly_the_models(store):
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), db.metadata)
    assert diff == []


def test_constraints_carry_the_naming_convention(store):
    insp = inspect(store.engine)
    assert insp.get_pk_constraint("punches")["name"] == "pk_punches"
    assert {u["name"] for u in insp.get_unique_constraints("staff")} == {"uq_staff_staff_no", "uq_staff_zk_uid"}
    assert {f["name"] for f in insp.get_foreign_keys("face_templates")} == {
        "fk_face_templates_staff_id_staff"}
    assert set(NAMING_CONVENTION) == {"ix", "uq", "ck", "fk", "pk"}


def test_sqlite_file_in_the_instance_with_wal_and_foreign_keys(store, instance):
    if store.dialect != "sqlite":
        pytest.skip("SQLite only")
    assert instance.database_path.is_file()
    with store.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() >= 5000


def _punch(**kw):
    now = dt.datetime(2026, 11, 24, 1, 0)
    values = dict(uuid=uuid.uuid4(), staff_no="S1", name="张三", punched_at=now,
                  local_date=now.date(), device_id="t", source="face")
    values.update(kw)
    return Punch(**values)


def test_staff_no_unique_punch_uuid_unique_source_checked(store):
    with store.session() as s:
        s.add(Staff(staff_no="S1", name="张三"))
    with pytest.raises(IntegrityError), store.session() as s:
        s.add(Staff(staff_no="S1", name="李四"))
    same = uuid.uuid4()
    with store.session() as s:
        s.add(_punch(uuid=same))
    with pytest.raises(IntegrityError), store.session() as s:
        s.add(_punch(uuid=same))
    with pytest.raises(IntegrityError), store.session() as s:
        s.add(_punch(source="telepathy"))


def test_deleting_staff_keeps_their_punches_with_the_name_snapshot(store):
    with store.session() as s:
        person = Staff(staff_no="S9", name="王五")
        s.add(person)
        s.flush()
        s.add(_punch(staff_id=person.id, staff_no="S9", name="王五"))
    with store.session() as s:
        s.delete(s.get(Staff, person.id))
    with store.session() as s:
        kept = s.query(Punch).one()
        assert (kept.staff_id, kept.staff_no, kept.name) == (None, "S9", "王五")

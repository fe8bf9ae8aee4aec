"""The centre's triggers on punches: a terminal's punch gets the central staff id from its staff
number, and its webhook outbox row while push is on (terminals cannot write the outbox)."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest

from app.attendance.punches import PunchWriter
from app.attendance.records import PunchRecord
from app.store import open_store
from tests.helpers.fleet import add_staff, insert_punch

pytestmark = pytest.mark.postgres


def test_a_terminals_punch_gets_the_central_staff_id_from_its_staff_no(fleet_centre):
    t1 = fleet_centre.terminals[0]
    with fleet_centre.connect() as c:
        add_staff(c, "0999", "占位")        # so that the central id differs from the terminal's guess
        staff_id = add_staff(c, "1001", "张三")
    known, gone = uuid.uuid4(), uuid.uuid4()
    with fleet_centre.connect(t1.url) as c:
        # the terminal's own (local) id is not trusted: the staff number decides
        insert_punch(c, t1.device_id, "1001", punch_uuid=known, staff_id=staff_id + 100)
        # a person deleted meanwhile: the punch is kept, unlinked
        insert_punch(c, t1.device_id, "4040", punch_uuid=gone, staff_id=staff_id)
    with fleet_centre.connect() as c:
        rows = dict(c.execute("SELECT uuid, staff_id FROM punches").fetchall())
        assert rows == {known: staff_id, gone: None}


def test_the_admins_own_punch_keeps_its_staff_id(fleet_centre):
    with fleet_centre.connect() as c:
        staff_id = add_staff(c, "1001", "张三")
        # a make-up written by the admin names the person by id; the trigger leaves it alone
        insert_punch(c, "central", "renamed-number", staff_id=staff_id)
        assert c.execute("SELECT staff_id FROM punches").fetchone() == (staff_id,)


def _push(centre, url: str | None) -> None:
    with centre.connect() as c:
        c.execute("DELETE FROM settings WHERE key = 'push.webhook_url'")
        if url is not None:
            c.execute("INSERT INTO settings (key, value, updated_at) VALUES ('push.webhook_url', %s, now())",
                      (json.dumps(url),))


def _outbox(centre) -> list[tuple]:
    with centre.connect() as c:
        return c.execute("SELECT p.device_id, p.uuid FROM push_outbox o JOIN punches p ON p.id = o.punch_id "
                         "ORDER BY o.id").fetchall()


def test_a_terminals_punch_gets_its_outbox_row_while_push_is_on(fleet_centre):
    t1, t2 = fleet_centre.terminals
    off, empty, on, replay = uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    with fleet_centre.connect(t1.url) as c:
        insert_punch(c, t1.device_id, "1001", punch_uuid=off)          # push off: no setting
    _push(fleet_centre, "")
    with fleet_centre.connect(t1.url) as c:
        insert_punch(c, t1.device_id, "1001", punch_uuid=empty)        # push off: an empty URL
    _push(fleet_centre, "http://hr.example/punches")
    with fleet_centre.connect(t2.url) as c:
        insert_punch(c, t2.device_id, "1001", punch_uuid=on)
        insert_punch(c, t2.device_id, "1001", punch_uuid=replay)
        assert insert_punch(c, t2.device_id, "1001", punch_uuid=replay) == 0   # a replay adds nothing
    assert _outbox(fleet_centre) == [(t2.device_id, on), (t2.device_id, replay)]


def test_the_admins_punch_writer_and_the_trigger_make_one_outbox_row_each(fleet_centre, make_config, instance):
    """The admin's PunchWriter writes its own outbox rows (the trigger skips them): no duplicate."""
    _push(fleet_centre, "http://hr.example/punches")
    store = open_store(make_config(), instance, url=fleet_centre.owner_url, upgrade=False)
    try:
        now = dt.datetime.now(dt.UTC)
        record = PunchRecord(uuid.uuid4(), None, "1001", "张三", now, now.date(), "08:00:00", "central", None, "makeup")
        with store.session() as s:
            assert len(PunchWriter(store, push_enabled=True).write(s, [record])) == 1
    finally:
        store.dispose()
    t1 = fleet_centre.terminals[0]
    with fleet_centre.connect(t1.url) as c:
        mine = uuid.uuid4()
        insert_punch(c, t1.device_id, "1001", punch_uuid=mine)
    assert _outbox(fleet_centre) == [("central", record.uuid), (t1.device_id, mine)]

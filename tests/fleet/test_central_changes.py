"""The centre's change log: every change of the library and the settings is a numbered row of
``fleet_changes`` and a notification on ``daka_changes`` carrying that number (a terminal listens
on its own connection, as its mirror will)."""

from __future__ import annotations

import json

import pytest

from app.fleet.central import CHANGES_CHANNEL
from app.store import Staff, open_store
from tests.helpers.fleet import add_staff, add_template

pytestmark = pytest.mark.postgres


class Listener:
    """A terminal's LISTEN connection: the notifications it got, in order."""

    def __init__(self, centre, terminal):
        self.conn = centre.connect(terminal.url, autocommit=True)
        self.conn.execute(f"LISTEN {CHANGES_CHANNEL}")

    def take(self, count: int) -> list[int]:
        got = [int(n.payload) for n in self.conn.notifies(timeout=30, stop_after=count)
               if n.channel == CHANGES_CHANNEL]
        assert len(got) == count, f"{len(got)} of {count} notifications within 30 s"
        return got

    def changes_after(self, change_no: int) -> list[tuple]:
        return self.conn.execute("SELECT change_no, table_name, row_key, op, device_id FROM fleet_changes "
                                 "WHERE change_no > %s ORDER BY change_no", (change_no,)).fetchall()

    def close(self):
        self.conn.close()


@pytest.fixture
def listener(fleet_centre):
    ears = Listener(fleet_centre, fleet_centre.terminals[0])
    yield ears
    ears.close()


def _last(centre) -> int:
    with centre.connect() as c:
        return c.execute("SELECT coalesce(max(change_no), 0) FROM fleet_changes").fetchone()[0]


def test_staff_and_templates_changes_are_logged_and_notified(fleet_centre, listener):
    start = _last(fleet_centre)
    with fleet_centre.connect() as c:
        staff_id = add_staff(c, "1001", "张三")
        template_id = add_template(c, staff_id)
    numbers = listener.take(2)   # notified at commit, one per row
    rows = listener.changes_after(start)
    assert [r[0] for r in rows] == numbers
    assert [r[1:] for r in rows] == [("staff", str(staff_id), "U", None),
                                     ("face_templates", str(template_id), "U", None)]

    with fleet_centre.connect() as c:
        c.execute("UPDATE staff SET name = '张三丰' WHERE id = %s", (staff_id,))
        c.execute("UPDATE face_templates SET quality = 0.9 WHERE id = %s", (template_id,))
    numbers = listener.take(2)
    assert [r[1:4] for r in listener.changes_after(numbers[0] - 1)] == [
        ("staff", str(staff_id), "U"), ("face_templates", str(template_id), "U")]

    # deleting a person deletes the templates (the foreign key cascades): tombstones for both
    with fleet_centre.connect() as c:
        c.execute("DELETE FROM staff WHERE id = %s", (staff_id,))
    numbers = listener.take(2)
    tombstones = listener.changes_after(numbers[0] - 1)
    assert {r[1:4] for r in tombstones} == {("staff", str(staff_id), "D"), ("face_templates", str(template_id), "D")}
    assert [r[0] for r in tombstones] == sorted(numbers)


def test_a_rolled_back_change_leaves_no_row_and_no_notification(fleet_centre, listener):
    start = _last(fleet_centre)
    with fleet_centre.connect() as c:
        add_staff(c, "1002", "李四")
        c.rollback()
        add_staff(c, "1003", "王五")
    [number] = listener.take(1)
    assert [r[2] for r in listener.changes_after(start)] == [str(_staff_id(fleet_centre, "1003"))]
    assert number == listener.changes_after(start)[0][0]


def _staff_id(centre, staff_no) -> int:
    with centre.connect() as c:
        return c.execute("SELECT id FROM staff WHERE staff_no = %s", (staff_no,)).fetchone()[0]


def test_photos_departments_and_settings_are_logged_the_secrets_and_the_counter_are_not(fleet_centre, listener):
    t1 = fleet_centre.terminals[0]
    start = _last(fleet_centre)
    with fleet_centre.connect() as c:
        c.execute("INSERT INTO face_photos (sha256, data) VALUES ('aa', '\\x01')")
        department = c.execute("INSERT INTO departments (name, created_at) VALUES ('车间', now()) RETURNING id").fetchone()[0]
        for key, value in (("ui.sound", False), ("push.secret", "hush"), ("_version", 7)):
            c.execute("INSERT INTO settings (key, value, updated_at) VALUES (%s, %s, now())", (key, json.dumps(value)))
        c.execute("INSERT INTO fleet_device_settings (device_id, key, value) VALUES (%s, 'ui.sound', 'true')",
                  (t1.device_id,))
        c.execute("UPDATE face_photos SET sha256 = 'bb' WHERE sha256 = 'aa'")   # a key change: old key's tombstone
        c.execute("DELETE FROM settings WHERE key IN ('ui.sound', 'push.secret')")
    listener.take(7)
    assert [r[1:] for r in listener.changes_after(start)] == [
        ("face_photos", "aa", "U", None),
        ("departments", str(department), "U", None),
        ("settings", "ui.sound", "U", None),
        ("fleet_device_settings", "ui.sound", "U", t1.device_id),
        ("face_photos", "aa", "D", None),
        ("face_photos", "bb", "U", None),
        ("settings", "ui.sound", "D", None),
    ]


def test_every_terminal_hears_a_change(fleet_centre):
    ears = [Listener(fleet_centre, t) for t in fleet_centre.terminals]
    try:
        with fleet_centre.connect() as c:
            add_staff(c, "2001", "赵六")
        heard = [e.take(1) for e in ears]
        assert heard[0] == heard[1]
    finally:
        for e in ears:
            e.close()


def test_a_change_made_through_the_store_is_logged(fleet_centre, make_config, instance):
    """The admin writes with SQLAlchemy (the ORM's own defaults): the triggers see those writes too."""
    store = open_store(make_config(), instance, url=fleet_centre.owner_url, upgrade=False)
    try:
        start = _last(fleet_centre)
        with store.session() as s:
            s.add(Staff(staff_no="3001", name="孙七"))
        with fleet_centre.connect() as c:
            rows = c.execute("SELECT table_name, op FROM fleet_changes WHERE change_no > %s", (start,)).fetchall()
        assert rows == [("staff", "U")]
    finally:
        store.dispose()

"""A terminal's enrolment sent up (``fleet_enrolments``) is applied on the centre by a trigger:
the person (when new), the photo and one template per model -- or refused whole, the reason in
``error`` and nothing applied."""

from __future__ import annotations

import base64
import hashlib
import json

import numpy as np
import pytest

from tests.helpers.fleet import add_staff, add_template

pytestmark = pytest.mark.postgres

PHOTO = b"\xff\xd8\xff\xe0" + b"a jpeg's bytes" * 10


def _vector(dim: int, seed: int = 1) -> str:
    return base64.b64encode(np.random.default_rng(seed).standard_normal(dim).astype("<f4").tobytes()).decode()


def _send(centre, terminal, *, staff_no="1001", name="张三", photo=PHOTO, descriptors=None, quality=0.8) -> dict:
    descriptors = descriptors if descriptors is not None else {"dlib": _vector(128), "faceres": _vector(512, 2)}
    with centre.connect(terminal.url) as c:
        row = c.execute("INSERT INTO fleet_enrolments (staff_no, name, photo, descriptors, quality) "
                        "VALUES (%s, %s, %s, %s, %s) RETURNING id, device_id, applied_at IS NOT NULL, error",
                        (staff_no, name, photo, json.dumps(descriptors), quality)).fetchone()
    return dict(zip(("id", "device_id", "applied", "error"), row))


def _library(centre) -> dict:
    with centre.connect() as c:
        return {
            "staff": c.execute("SELECT staff_no, name, zk_uid, active FROM staff ORDER BY id").fetchall(),
            "templates": c.execute("SELECT s.staff_no, t.model_id, length(t.descriptor), t.photo_sha256, t.quality, "
                                   "t.photo_file FROM face_templates t JOIN staff s ON s.id = t.staff_id "
                                   "ORDER BY t.id").fetchall(),
            "photos": c.execute("SELECT sha256, data FROM face_photos ORDER BY sha256").fetchall(),
        }


def test_an_enrolment_of_a_new_person_is_applied(fleet_centre):
    t1, t2 = fleet_centre.terminals
    sent = _send(fleet_centre, t1)
    assert sent["device_id"] == t1.device_id and sent["applied"] and sent["error"] is None
    library = _library(fleet_centre)
    digest = hashlib.sha256(PHOTO).hexdigest()
    assert library["staff"] == [("1001", "张三", 1, True)]
    assert [t[:5] for t in library["templates"]] == [("1001", "dlib", 512, digest, pytest.approx(0.8)),
                                                    ("1001", "faceres", 2048, digest, pytest.approx(0.8))]
    files = {t[5] for t in library["templates"]}
    assert len(files) == 1 and files.pop().endswith(".jpg")   # one photo, both models' rows point at it
    assert library["photos"] == [(digest, PHOTO)]
    with fleet_centre.connect(t2.url) as c:   # every terminal reads it back (and the change log says so)
        assert c.execute("SELECT name FROM staff WHERE staff_no = '1001'").fetchone() == ("张三",)
        assert {r[0] for r in c.execute("SELECT table_name FROM fleet_changes")} == {
            "staff", "face_templates", "face_photos"}


def test_a_new_person_enrolled_after_the_newest_was_deleted_gets_a_new_uid(fleet_centre):
    """The trigger gave "one above the highest in use": the deleted newest person's uid went to the
    next person a terminal enrolled (the store's rule, and now the trigger's: never again)."""
    t1, _ = fleet_centre.terminals
    assert _send(fleet_centre, t1, staff_no="1001", name="张三")["applied"]
    assert _send(fleet_centre, t1, staff_no="1002", name="李四", photo=PHOTO + b"2")["applied"]
    with fleet_centre.connect() as c:
        c.execute("DELETE FROM staff WHERE staff_no = '1002'")   # uid 2, the highest
    assert _send(fleet_centre, t1, staff_no="1003", name="王五", photo=PHOTO + b"3")["applied"]
    assert [(no, uid) for no, _, uid, _ in _library(fleet_centre)["staff"]] == [("1001", 1), ("1003", 3)]
    with fleet_centre.connect() as c:
        assert c.execute("SELECT value FROM store_counters WHERE name = 'zk_uid'").fetchone() == (3,)


def test_an_enrolment_of_a_known_person_adds_a_photo_and_a_second_of_the_same_photo_is_refused(fleet_centre):
    t1 = fleet_centre.terminals[0]
    with fleet_centre.connect() as c:
        add_staff(c, "1001", "张三")
    assert _send(fleet_centre, t1, name="")["applied"]        # a known person needs no name
    before = _library(fleet_centre)
    again = _send(fleet_centre, t1)
    assert (again["applied"], again["error"]) == (False, "duplicate_photo")
    other_name = _send(fleet_centre, t1, name="李四", photo=PHOTO + b"another")   # the library's own rule
    assert (other_name["applied"], other_name["error"]) == (False, "name_conflict")
    assert _library(fleet_centre) == before
    assert len(before["staff"]) == 1 and len(before["templates"]) == 2
    assert _send(fleet_centre, t1, name="张三", photo=PHOTO + b"another")["applied"]   # the same name is fine


@pytest.mark.parametrize("change, reason", [
    ({"staff_no": ""}, "bad_staff_no"),
    ({"staff_no": "x" * 33}, "bad_staff_no"),
    ({"photo": None}, "no_photo"),
    ({"photo": b""}, "no_photo"),
    ({"name": ""}, "bad_name"),
    ({"descriptors": {}}, "bad_descriptors"),
    ({"descriptors": ["not", "an", "object"]}, "bad_descriptors"),
    ({"descriptors": {"dlib": "not base64!"}}, "bad_descriptors"),
    ({"descriptors": {"dlib": base64.b64encode(b"abc").decode()}}, "bad_descriptors"),   # not float32s
    ({"descriptors": {"dlib": _vector(128), "faceres": ""}}, "bad_descriptors"),       # one bad: none applied
    ({"descriptors": {"m1": _vector(8)}}, "bad_descriptors"),     # m1 templates on the centre have 4 values
])
def test_a_bad_enrolment_is_refused_whole_with_its_reason(fleet_centre, change, reason):
    t1 = fleet_centre.terminals[0]
    with fleet_centre.connect() as c:
        add_template(c, add_staff(c, "0001", "已有"), model_id="m1", dim=4)
    before = _library(fleet_centre)
    sent = _send(fleet_centre, t1, **change)
    assert (sent["applied"], sent["error"]) == (False, reason)
    assert _library(fleet_centre) == before
    with fleet_centre.connect() as c:   # the refused row stays, for the devices page to show
        assert c.execute("SELECT error FROM fleet_enrolments").fetchall() == [(reason,)]

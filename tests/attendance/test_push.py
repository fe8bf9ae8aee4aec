"""Push to HR: a real local HTTP server verifies signatures and fails on purpose."""

from __future__ import annotations

import datetime as dt
import json
import time

import pytest
from sqlalchemy import func, select

from app.attendance import Candidate, WebhookPusher, build_scheduler, open_attendance
from app.attendance.push import sign, verify
from app.store import OutboxItem, Staff

from tests.helpers.hr_receiver import SECRET, Receiver


@pytest.fixture
def person(store):
    with store.session() as s:
        p = Staff(staff_no="HR0878", name="张三")
        s.add(p)
    return p


def _config(make_config, url, **push):
    return make_config(attendance={"dedupe_seconds": 0, "flush_seconds": 1, "flush_batch": 100},
                       push={"webhook_url": url, "secret": SECRET, "backoff_base_seconds": 0.05,
                             "backoff_max_seconds": 0.2, "batch": 2, **push})


def _punch(a, person, n):
    return [a.clockin.confirm(Candidate(person.id, person.staff_no, person.name, 0.9)).punch.uuid
            for _ in range(n)]


def _drain(a, timeout=60.0):
    deadline = time.monotonic() + timeout
    while a.pusher.backlog().pending and time.monotonic() < deadline:
        a.pusher.deliver()
        time.sleep(0.01)
    return a.pusher.backlog()


def test_signature_scheme():
    body = b'{"punches": []}'
    ts = str(int(time.time()))
    good = sign(SECRET, ts, body)
    assert verify(SECRET, ts, body, good)
    assert not verify("other", ts, body, good)
    assert not verify(SECRET, ts, body + b" ", good)
    assert not verify(SECRET, str(int(ts) - 3600), body, sign(SECRET, str(int(ts) - 3600), body))


class ManualClock:
    """The pusher's clock (naive UTC), moved by the test: backoff without wall-clock races."""

    def __init__(self):
        self.now = dt.datetime.now(dt.UTC).replace(tzinfo=None)

    def __call__(self) -> dt.datetime:
        return self.now


def test_in_order_delivery_with_failures_and_backoff(store, instance, make_config, person):
    receiver = Receiver(fail=lambda n: n % 3 != 0)  # two of every three requests fail
    try:
        config = _config(make_config, receiver.url)
        a = open_attendance(config, instance, store)
        uuids = [str(u) for u in _punch(a, person, 7)]
        a.flusher.flush()
        clock = ManualClock()   # from now: the queued rows are due
        a.pusher = WebhookPusher(store, config.push, device_id=a.pusher.device_id,
                                 timezone=config.device.timezone, clock=clock)
        assert a.pusher.backlog().pending == 7
        assert a.pusher.deliver() == 0 and receiver.requests == 1  # failed: backing off
        assert a.pusher.deliver() == 0 and receiver.requests == 1  # not due yet: no request
        with store.session() as s:
            head = s.scalars(select(OutboxItem).order_by(OutboxItem.id)).first()
            assert head.attempts == 1 and head.last_error == "HTTP 503"
        for _ in range(100):   # each round past the longest backoff: one request, sent or refused
            if not a.pusher.backlog().pending:
                break
            clock.now += dt.timedelta(seconds=config.push.backoff_max_seconds)
            a.pusher.deliver()
        assert a.pusher.backlog().pending == 0
        assert [p["uuid"] for p in receiver.punches] == uuids
        assert receiver.bad_signatures == 0 and receiver.requests > 7
        assert {p["name"] for p in receiver.punches} == {"张三"}
        a.journal.close()
    finally:
        receiver.close()


def test_the_outbox_survives_a_restart(store, instance, make_config, person, receiver):
    # The HR system is down: nothing listens on this port.
    down = Receiver()
    dead_url = down.url
    down.close()
    a = open_attendance(_config(make_config, dead_url), instance, store)
    uuids = [str(u) for u in _punch(a, person, 3)]
    a.flusher.flush()
    a.pusher.deliver()
    backlog = a.pusher.backlog()
    assert backlog.pending == 3 and backlog.last_error
    status = a.status()
    assert (status["push_pending"], status["journal_pending"]) == (3, 0) and status["push_last_error"]
    a.journal.close()
    # Restart with the receiver up (same database): everything arrives, in order.
    b = open_attendance(_config(make_config, receiver.url), instance, store)
    time.sleep(0.25)  # past the backoff
    assert _drain(b).pending == 0
    assert [p["uuid"] for p in receiver.punches] == uuids
    b.journal.close()


def test_the_flush_wakes_the_delivery_at_once(store, instance, make_config, person, receiver):
    """The scheduled flush hands a punch to the delivery job itself: with the delivery's own poll ten
    minutes away, the punch still arrives within a minute. (How soon, against the target of flush interval + 1 s, is
    measured by `daka bench store`'s push figures, not by a timed test.)"""
    config = _config(make_config, receiver.url, poll_seconds=600.0)
    a = open_attendance(config, instance, store)
    scheduler = build_scheduler(config, a)
    scheduler.start()
    try:
        uuid = str(_punch(a, person, 1)[0])
        deadline = time.monotonic() + 60
        while uuid not in receiver.arrival and time.monotonic() < deadline:
            time.sleep(0.01)
        assert uuid in receiver.arrival
    finally:
        scheduler.shutdown()
        a.journal.close()


def test_no_webhook_means_no_outbox(store, instance, make_config, person):
    a = open_attendance(make_config(), instance, store)
    _punch(a, person, 1)
    a.flusher.flush()
    assert a.pusher.backlog().pending == 0 and a.pusher.deliver() == 0
    a.journal.close()


def test_a_fleet_terminal_leaves_the_webhook_to_the_centre(store, instance, make_config, person, receiver):
    """In a fleet the centre delivers every terminal's punches, signed with the key terminals may not
    read (app/fleet/delivery.py): a terminal that delivered too sent each punch twice, unsigned."""
    config = make_config(attendance={"dedupe_seconds": 0, "flush_seconds": 1, "flush_batch": 100},
                         push={"webhook_url": receiver.url},     # what a fleet terminal reads from the centre
                         fleet={"database_url": "postgresql+psycopg://daka_t_gate1:pw@10.0.0.5/daka"})
    a = open_attendance(config, instance, store)
    scheduler = build_scheduler(config, a)
    try:
        assert {j.id for j in scheduler.get_jobs()} == {"attendance.flush", "attendance.retention"}
        assert not a.writer.push_enabled and not a.pusher.enabled
        _punch(a, person, 2)
        assert a.flusher.flush() == 2
        assert a.pusher.backlog().pending == 0 and a.pusher.deliver() == 0
        assert receiver.requests == 0
        assert a.status()["push_enabled"] is False
    finally:
        a.journal.close()


def test_backoff_doubles_up_to_the_cap(store, instance, make_config):
    a = open_attendance(make_config(push={"backoff_base_seconds": 2, "backoff_max_seconds": 30}),
                        instance, store)
    assert [a.pusher.backoff(n) for n in range(1, 7)] == [2, 4, 8, 16, 30, 30]
    a.journal.close()


def test_push_is_switched_on_redirected_and_off_at_run_time(store, instance, make_config, person, receiver):
    """What a run-time change of push.webhook_url / push.secret does to a built attendance."""
    from app.attendance.scheduler import PUSH_JOB
    from app.config import with_values

    off = _config(make_config, "")
    a = open_attendance(off, instance, store)
    scheduler = build_scheduler(off, a)   # not started: the jobs are only looked at
    try:
        on = with_values(off, {"push.webhook_url": receiver.url})
        assert PUSH_JOB in scheduler.sync(on) and a.flusher.push_enabled
        a.pusher.configure(on.push, on.device.timezone)
        uuids = [str(u) for u in _punch(a, person, 2)]
        a.flusher.flush()
        assert _drain(a).pending == 0 and [p["uuid"] for p in receiver.punches] == uuids
        # a new secret signs the next request: the receiver checking the old one refuses it
        a.pusher.configure(with_values(on, {"push.secret": "rotated"}).push, on.device.timezone)
        _punch(a, person, 1)
        a.flusher.flush()
        assert a.pusher.deliver() == 0 and receiver.bad_signatures == 1
        # switched off: punches waiting stay queued, nothing is sent, new punches are not queued
        requests = receiver.requests
        assert PUSH_JOB in scheduler.sync(off) and scheduler.get_job(PUSH_JOB) is None
        a.pusher.configure(off.push, off.device.timezone)
        _punch(a, person, 1)
        a.flusher.flush()
        assert a.pusher.deliver() == 0 and receiver.requests == requests
        assert a.pusher.backlog().pending == 1
    finally:
        a.journal.close()


def test_face_and_makeup_punches_go_through_one_writer(store, instance, make_config, person, receiver):
    """A make-up approved in the admin of a running terminal is written by the terminal's punch writer:
    queued for HR by the same rule (push on: queued; push off: not), delivered with the same payload,
    and audited with its punch id in the punch's transaction; a replayed record is stored once."""
    import uuid as uuid_mod

    from admin import create_app
    from admin.makeup import service as makeup
    from app.attendance import PunchAudit, PunchRecord
    from app.store import AuditEntry, Punch

    config = _config(make_config, receiver.url)
    a = open_attendance(config, instance, store)
    try:
        svc = create_app(config, instance, store=store, attendance=a).extensions["daka_admin"]
        face = str(_punch(a, person, 1)[0])
        a.flusher.flush()
        request_id = makeup.create(svc, person.staff_no, "2026-01-05 08:30", "忘记打卡", actor="hr")
        punch_id = makeup.decide(svc, request_id, True, actor="hr")
        assert _drain(a).pending == 0
        sent = {p["uuid"]: p for p in receiver.punches}
        assert len(sent) == 2 and face in sent
        made_up = next(p for u, p in sent.items() if u != face)
        assert set(made_up) == set(sent[face])   # one payload for both sources
        assert (made_up["source"], made_up["local_date"], made_up["local_time"], made_up["staff_no"]) == \
            ("makeup", "2026-01-05", "08:30:00", person.staff_no)
        with store.session() as s:
            audit = s.scalars(select(AuditEntry).where(AuditEntry.action == "makeup_approve")).one()
            assert json.loads(audit.detail) == {"request": request_id, "staff_no": person.staff_no,
                                                "punch": punch_id}
        # push switched off (what the scheduler does on a settings change): neither source is queued
        a.writer.push_enabled = False
        _punch(a, person, 1)
        a.flusher.flush()
        makeup.decide(svc, makeup.create(svc, person.staff_no, "2026-01-06 08:30", "", actor="hr"), True, actor="hr")
        assert a.pusher.backlog().pending == 0
        # a record written twice (a replayed flush) is one punch, queued once, audited once
        a.writer.push_enabled = True
        now = dt.datetime.now(dt.UTC)
        record = PunchRecord(uuid_mod.uuid4(), person.id, person.staff_no, person.name, now, now.date(),
                             "08:00:00", "import", None, "face")
        for expected in ([True], []):
            with store.session() as s:
                ids = a.writer.write(s, [record], audit=PunchAudit("hr", "import", {"file": "x.csv"}))
            assert [bool(i) for i in ids] == expected
        with store.session() as s:
            assert s.scalar(select(func.count()).select_from(Punch).where(Punch.uuid == record.uuid)) == 1
            imports = [json.loads(e.detail) for e in s.scalars(select(AuditEntry).where(AuditEntry.action == "import"))]
        assert [e["punch"] is not None for e in imports] == [True, False]
        assert a.pusher.backlog().pending == 1
    finally:
        a.journal.close()

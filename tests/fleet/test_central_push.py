"""The webhook in a fleet: the central admin delivers every terminal's punches (and its own
make-ups) from the central outbox, signed with the key only the centre holds; terminals of a fleet
never deliver (they cannot read the key, and HR would get each punch twice)."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest
from sqlalchemy import select

from app.attendance.punches import PunchWriter
from app.attendance.records import PunchRecord
from app.config import load_config
from app.fleet.delivery import CentreDelivery
from app.instance import Instance
from app.services.settings import SettingsService
from app.store import OutboxItem, open_store
from tests.helpers.children import daka, started
from tests.helpers.fleet import add_staff, insert_punch
from tests.helpers.hr_receiver import SECRET
from tests.helpers.waiting import wait_for

pytestmark = pytest.mark.postgres


@pytest.fixture
def centre_store(fleet_centre, tmp_path):
    instance = Instance(tmp_path / "central-admin").prepare()
    store = open_store(load_config(instance), instance, url=fleet_centre.owner_url)
    yield store, SettingsService(store, load_config(instance))
    store.dispose()


def _record(device_id: str, source: str) -> PunchRecord:
    now = dt.datetime.now(dt.UTC)
    return PunchRecord(uuid.uuid4(), None, "1001", "张三", now, now.date(), "08:00:00", device_id, None, source)


def _pending(store) -> int:
    with store.session() as s:
        return len(s.scalars(select(OutboxItem).where(OutboxItem.delivered_at.is_(None))).all())


def test_the_centre_delivers_every_terminals_punches_and_its_own_signed(fleet_centre, centre_store, receiver):
    store, settings = centre_store
    settings.set("push.webhook_url", receiver.url, "test")
    settings.set("push.secret", SECRET, "test")
    t1, t2 = fleet_centre.terminals
    with fleet_centre.connect() as c:
        add_staff(c, "1001", "张三")
    sent = [uuid.uuid4(), uuid.uuid4()]
    for terminal, punch_uuid in zip((t1, t2), sent):
        with fleet_centre.connect(terminal.url) as c:
            insert_punch(c, terminal.device_id, "1001", punch_uuid=punch_uuid)
    makeup = _record("central", "makeup")
    with store.session() as s:     # the central admin's own punch (a make-up), through its writer
        PunchWriter(store, push_enabled=True).write(s, [makeup])
    assert _pending(store) == 3

    delivery = CentreDelivery(store, lambda: settings.effective()[0])
    assert delivery.run_once() == pytest.approx(1.0)      # push.poll_seconds: the next round
    assert receiver.bad_signatures == 0 and receiver.requests == 1
    assert sorted(p["uuid"] for p in receiver.punches) == sorted(str(u) for u in [*sent, makeup.uuid])
    assert {p["device_id"] for p in receiver.punches} == {t1.device_id, t2.device_id, "central"}
    assert _pending(store) == 0
    delivery.run_once()
    assert receiver.requests == 1          # nothing twice


def test_the_centres_delivery_follows_its_stored_settings(fleet_centre, centre_store, receiver):
    store, settings = centre_store
    t1 = fleet_centre.terminals[0]
    delivery = CentreDelivery(store, lambda: settings.effective()[0])
    settings.set("push.webhook_url", receiver.url, "test")      # the key not set yet: unsigned, refused
    with fleet_centre.connect(t1.url) as c:
        insert_punch(c, t1.device_id, "1001")
    delivery.run_once()
    assert receiver.bad_signatures == 1 and receiver.punches == [] and _pending(store) == 1
    settings.set("push.secret", SECRET, "test")
    wait_for(lambda: delivery.run_once() and receiver.punches, 60)     # once its back-off (2 s) is over
    assert _pending(store) == 0
    settings.set("push.webhook_url", "", "test")                # push off: nothing queued, nothing sent
    with fleet_centre.connect(t1.url) as c:
        insert_punch(c, t1.device_id, "1001")
    delivery.run_once()
    assert len(receiver.punches) == 1 and _pending(store) == 0


def test_a_database_that_is_not_a_centre_is_left_alone(postgres_server, make_config, instance, receiver):
    """A terminal on PostgreSQL (not a centre) delivers itself: an admin beside it must not."""
    config = make_config()
    store = open_store(config, instance, url=postgres_server.create_database("notacentre"))
    try:
        settings = SettingsService(store, config)
        settings.set("push.webhook_url", receiver.url, "test")
        with store.session() as s:
            PunchWriter(store, push_enabled=True).write(s, [_record("t", "face")])
        delivery = CentreDelivery(store, lambda: settings.effective()[0])
        assert delivery.run_once() == pytest.approx(30.0)       # asked again later (a centre may be made)
        assert receiver.requests == 0 and _pending(store) == 1
    finally:
        store.dispose()


def test_daka_admin_serve_on_a_centre_delivers(fleet_centre, centre_store, receiver, tmp_path):
    store, settings = centre_store
    settings.set("push.webhook_url", receiver.url, "test")
    settings.set("push.secret", SECRET, "test")
    t1 = fleet_centre.terminals[0]
    with fleet_centre.connect(t1.url) as c:
        insert_punch(c, t1.device_id, "1001")
    env = {"DATABASE_URL": fleet_centre.owner_url}
    with started(daka("--instance", str(tmp_path / "admin"), "admin", "serve", "--host", "127.0.0.1",
                      "--port", "0"), env=env) as child:
        json.loads(child.wait_line(120, "url line"))
        child.wait_for(lambda: receiver.punches, 120, "the punch at HR")
    assert receiver.bad_signatures == 0 and [p["device_id"] for p in receiver.punches] == [t1.device_id]



def test_a_centre_that_does_not_answer_is_asked_again(make_config, instance):
    """The central admin may run while its database is away: each round logs why and the next
    one tries again; the thread lives on."""
    from loguru import logger

    from tests.helpers.children import free_port

    config = make_config()
    store = open_store(config, instance, url=f"postgresql+psycopg://nobody:pw@127.0.0.1:{free_port()}/daka",
                       upgrade=False)
    lines: list[str] = []
    sink = logger.add(lambda m: lines.append(str(m)), level="WARNING", format="{message}")
    delivery = CentreDelivery(store, lambda: config).start()
    try:
        wait_for(lambda: lines, 60)
        assert "the central database is not reachable" in lines[0] and "trying again in 30 s" in lines[0]
        assert delivery._thread.is_alive() and delivery.pusher is not None and delivery.rounds == 0
    finally:
        delivery.stop()
        logger.remove(sink)
        store.dispose()
    assert not delivery._thread.is_alive()

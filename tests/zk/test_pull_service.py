"""The 4370 server as a service: off by default, switched and reconfigured live from the settings
registry, its status on the admin's system page; the staff's uids (migration c41f0a7d2b93)."""

from __future__ import annotations

import socket
from types import SimpleNamespace

import pytest
from sqlalchemy import select, text
from zk.exception import ZKErrorResponse, ZKNetworkError

from admin.auth.users import create_user
from app.services.settings import SettingsService, apply_changes
from app.store import Staff, open_store
from app.zk.pull import PullService
from tests.helpers.admin_app import ADMIN_PW, build_app, login
from tests.helpers.migrations import store_at
from tests.helpers.zk_pull import close_pyzk_clients, connect_pyzk, seed

PREVIOUS = "a7d5c3e1f018"


@pytest.fixture(autouse=True)
def _pyzk_sockets():
    yield
    close_pyzk_clients()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _reads(port, key=0) -> int:
    zk = connect_pyzk(port, key=key, timeout=10)
    n = len(zk.get_users())
    zk.disconnect()
    return n


def test_the_settings_switch_and_reconfigure_the_server_live(store, make_config):
    port = _free_port()
    config = make_config(zk_pull={"port": port, "host": "127.0.0.1"})
    seed(store, [("E1", "张伟"), ("E2", "李雷")], 2)
    settings = SettingsService(store, config)
    service = PullService(settings.effective()[0], store)
    terminal = SimpleNamespace(services=[service])   # what the registry's applier walks
    unsubscribe = settings.subscribe(lambda cfg, changed: apply_changes(terminal, cfg, changed))
    try:
        service.start()
        assert service.server is None and service.status()["enabled"] is False   # off by default
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=5).close()

        settings.set("zk_pull.enabled", True, actor="admin")
        assert service.status()["running"] and _reads(port) == 2

        settings.set("zk_pull.comm_key", 4321, actor="admin")   # restarts with the key
        with pytest.raises(ZKErrorResponse, match="Unauthenticated"):
            _reads(port)
        assert _reads(port, key=4321) == 2
        assert service.status()["comm_key"] is True

        settings.set("zk_pull.tcp", False, actor="admin")       # UDP only now
        with pytest.raises(ZKNetworkError):
            _reads(port, key=4321)
        zk = connect_pyzk(port, udp=True, key=4321)
        assert len(zk.get_users()) == 2 and zk.disconnect()

        settings.set("zk_pull.enabled", False, actor="admin")
        assert service.server is None
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=5).close()
    finally:
        unsubscribe()
        service.stop()


def test_a_taken_port_is_a_status_not_a_crash(store, make_config):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        service = PullService(make_config(zk_pull={"enabled": True, "port": port, "host": "127.0.0.1",
                                                   "udp": False}), store).start()
        try:
            status = service.status()
            assert status["running"] is False and str(port) in status["error"]
        finally:
            service.stop()


def test_the_system_page_shows_the_status_line(store, make_config, instance):
    port = _free_port()
    config = make_config(zk_pull={"enabled": True, "port": port, "host": "127.0.0.1"})
    service = PullService(config, store).start()
    try:
        app = build_app(config, instance, store, status_provider=lambda: {"zk_pull": service.status()})
        create_user(store, "admin", ADMIN_PW, "admin", actor="test")
        client = app.test_client()
        assert login(client, "admin", ADMIN_PW).status_code == 302
        page = client.get("/system/").get_data(as_text=True)
        assert 'id="zk-pull-status"' in page and "运行中" in page and str(port) in page and "TCP+UDP" in page
    finally:
        service.stop()
    standalone = build_app(config, instance, store)   # `daka admin serve`: no terminal, no server
    client = standalone.test_client()
    assert login(client, "admin", ADMIN_PW).status_code == 302
    assert "仅在终端进程（daka run）中提供" in client.get("/system/").get_data(as_text=True)


def test_staff_get_consecutive_uids_at_creation(store):
    with store.session() as s:
        s.add_all([Staff(staff_no=f"N{i}", name=f"员工{i}") for i in range(5)])   # one flush, one statement
    with store.session() as s:
        s.add(Staff(staff_no="N9", name="后来"))
    with store.engine.connect() as conn:
        uids = conn.execute(text("SELECT staff_no, zk_uid FROM staff ORDER BY id")).all()
    assert uids == [("N0", 1), ("N1", 2), ("N2", 3), ("N3", 4), ("N4", 5), ("N9", 6)]


def test_a_deleted_persons_uid_is_never_given_to_the_next_one(store):
    """The uid was "one above the highest in use": deleting the newest person and enrolling another
    gave the newcomer the deleted one's uid, and an HR system that had pulled it filed the
    newcomer's punches under the one who left."""
    with store.session() as s:
        s.add_all([Staff(staff_no=f"D{i}", name=f"员工{i}") for i in range(3)])
    with store.session() as s:
        s.delete(s.scalar(select(Staff).where(Staff.staff_no == "D2")))   # uid 3, the highest
    with store.session() as s:
        s.add(Staff(staff_no="D3", name="新人"))
    with store.session() as s:
        s.delete(s.scalar(select(Staff).where(Staff.staff_no == "D3")))
        s.add(Staff(staff_no="D4", name="又一个"))   # deleted and added in one transaction too
    with store.engine.connect() as conn:
        uids = conn.execute(text("SELECT staff_no, zk_uid FROM staff ORDER BY zk_uid")).all()
    assert uids == [("D0", 1), ("D1", 2), ("D4", 5)]
    with store.session() as s:   # a uid a ZKTeco client chose (set_user) is remembered the same way
        s.add(Staff(staff_no="Z50", name="客户端", zk_uid=50))
    with store.session() as s:
        s.delete(s.scalar(select(Staff).where(Staff.staff_no == "Z50")))
    with store.session() as s:
        s.add(Staff(staff_no="D5", name="再一个"))
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT zk_uid FROM staff WHERE staff_no = 'D5'")).scalar() == 51


def test_the_migration_numbers_existing_staff_in_creation_order(make_config, instance, database_url):
    old = store_at(make_config(), instance, PREVIOUS, url=database_url)
    with old.engine.begin() as conn:
        for staff_id, no in ((3, "A3"), (7, "A7"), (12, "A12")):
            conn.execute(text("INSERT INTO staff (id, staff_no, name, department, active, created_at, updated_at) "
                              "VALUES (:i, :n, :n, '', :a, '2026-11-30 08:00:00', '2026-11-30 08:00:00')"),
                         {"i": staff_id, "n": no, "a": True})
    old.dispose()
    store = open_store(make_config(), instance, url=database_url)   # upgrades to the newest revision
    try:
        with store.session() as s:
            s.add(Staff(staff_no="A99", name="新人"))
        with store.engine.connect() as conn:
            rows = conn.execute(text("SELECT staff_no, zk_uid FROM staff ORDER BY zk_uid")).all()
        assert rows == [("A3", 1), ("A7", 2), ("A12", 3), ("A99", 4)]
        with pytest.raises(Exception, match="(?i)unique"):
            with store.engine.begin() as conn:
                conn.execute(text("UPDATE staff SET zk_uid = 1 WHERE staff_no = 'A7'"))
    finally:
        store.dispose()


def test_uids_fill_the_gaps_once_the_protocols_largest_is_taken(store):
    with store.session() as s:
        s.add_all([Staff(staff_no="G1", name="一"), Staff(staff_no="G2", name="二")])
    with store.session() as s:
        s.add(Staff(staff_no="GMAX", name="末", zk_uid=65535))
    with store.engine.begin() as conn:
        conn.execute(text("DELETE FROM staff WHERE staff_no = 'G1'"))   # uid 1 is free again
    with store.session() as s:
        s.add_all([Staff(staff_no="G3", name="三"), Staff(staff_no="G4", name="四")])
    with store.engine.connect() as conn:
        uids = dict(conn.execute(text("SELECT staff_no, zk_uid FROM staff")).all())
    assert uids == {"G2": 2, "GMAX": 65535, "G3": 1, "G4": 3}

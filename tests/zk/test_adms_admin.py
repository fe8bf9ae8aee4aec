"""The ADMS link in the admin (system page block, settings page) and in `daka run` (REBOOT = restart)."""

from __future__ import annotations

import sys

import pytest

from app.zk.adms import AdmsLink

from tests.helpers.admin_app import ADMIN_PW, build_app, login, post
from tests.helpers.adms_server import Scripted
from tests.helpers.children import Child

HANDSHAKE = "ATTLOGStamp=None\nOPERLOGStamp=None\nDelay=1\nErrorDelay=1\nTimeZone=8\n"


@pytest.fixture
def server():
    def answer(method, path, params, body):
        if method == "GET" and path.endswith("/cdata"):
            return 200, HANDSHAKE, 0
        if path.endswith("/getrequest"):
            return 200, "C:7:SET OPTION DateTime=1", 0
        return 200, "OK", 0
    s = Scripted(answer)
    yield s
    s.close()


@pytest.fixture
def admin(make_config, instance):
    from admin.auth.users import create_user
    from app.store import open_store

    store = open_store(make_config(), instance)
    create_user(store, "admin", ADMIN_PW, "admin", actor="test")
    yield store
    store.dispose()


def test_system_page_shows_the_link_and_the_serial(admin, make_config, instance, server):
    config = make_config(push={"adms_url": server.url, "adms_retry_seconds": 0.2})
    link = AdmsLink(admin, config, serial_source=lambda: "DAKA0123456789AB")
    assert link.handshake() and link.poll()
    app = build_app(config, instance, admin, status_provider=lambda: {"adms": link.status()})
    client = app.test_client()
    login(client, "admin", ADMIN_PW)
    html = client.get("/system/").get_data(as_text=True)
    assert 'id="adms"' in html and "DAKA0123456789AB" in html and server.url in html
    assert "已连接 ADMS 服务器" in html and "上次握手" in html
    assert "SET OPTION DateTime=1" in html and "-1004" in html   # the command and its refusal
    assert "UTC+8" in html
    # without a running terminal (a standalone admin) there is no block, and no error
    plain = build_app(config, instance, admin).test_client()
    login(plain, "admin", ADMIN_PW)
    assert 'id="adms"' not in plain.get("/system/").get_data(as_text=True)


def test_settings_page_offers_the_adms_keys_and_stores_them(admin, make_config, instance):
    from app.store.settings import read_setting

    config = make_config()
    app = build_app(config, instance, admin)
    client = app.test_client()
    login(client, "admin", ADMIN_PW)
    html = client.get("/settings/").get_data(as_text=True)
    for key in ("push.adms_url", "push.adms_serial", "push.adms_tables", "push.adms_commands"):
        assert key in html
    answer = post(client, "/settings/", {"push.adms_url": "ftp://nope"}, page="/settings/")
    assert answer.status_code == 400 and read_setting(admin, "push.adms_url") == (False, None)
    answer = post(client, "/settings/", {"push.adms_url": "https://biotime.example:8443",
                                         "push.adms_commands": "USERINFO,CHECK"}, page="/settings/")
    assert answer.status_code == 302
    assert read_setting(admin, "push.adms_url") == (True, "https://biotime.example:8443")
    assert read_setting(admin, "push.adms_commands") == (True, "USERINFO,CHECK")
    answer = post(client, "/settings/", {"push.adms_commands": "USERINFO,FORMAT DISK"}, page="/settings/")
    assert answer.status_code == 400 and read_setting(admin, "push.adms_commands") == (True, "USERINFO,CHECK")


def test_restart_service_stops_the_process_as_sigterm_does(tmp_path):
    """REBOOT's restart: the terminal's SIGTERM handler runs (a clean stop); systemd starts it again."""
    code = ("import signal, sys, time\n"
            "from app.kiosk.runner import restart_service\n"
            "signal.signal(signal.SIGTERM, lambda *a: (print('clean stop', flush=True), sys.exit(0)))\n"
            "restart_service()\n"
            "time.sleep(60)\n")
    child = Child([sys.executable, "-c", code])
    try:
        assert child.proc.wait(60) == 0
    finally:
        child.kill()
    assert child.out == ["clean stop\n"]

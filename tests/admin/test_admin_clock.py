"""System → time: setting the clock turns network time off; 恢复网络校时 turns it on again,
through the same sudo-allowed helper (here a recording stand-in; the real helper and the real
sudo rule: tests/installer/test_setup_dry_run.py and test_setup_chroot.py)."""

from __future__ import annotations

import html
import json
import re
import stat
import sys

from tests.helpers.admin_app import post
from sqlalchemy import select

from app.store import AuditEntry


def _flashes(client) -> list[str]:
    page = client.get("/system/").get_data(as_text=True)
    return [html.unescape(m) for m in re.findall(r'<p class="flash">([^<]*)</p>', page)]


def _errors(client) -> tuple[list[str], list[str]]:
    """The error boxes' sentences and the technical details folded under them."""
    page = client.get("/system/").get_data(as_text=True)
    return ([html.unescape(m) for m in re.findall(r'<p class="flash-error" role="alert">([^<]*)</p>', page)],
            [html.unescape(m) for m in re.findall(r'<details class="flash-detail">.*?<code>([^<]*)</code>', page, re.S)])


def test_restore_network_time_runs_the_helpers_ntp_form(admin_client, fake_clock, sqlite_store):
    page = admin_client.get("/system/").get_data(as_text=True)
    assert 'action="/system/time/ntp"' in page and "恢复网络校时" in page
    r = post(admin_client, "/system/time", {"date": "2026-01-02", "time": "03:04:05"}, page="/system/")
    assert r.status_code == 302
    assert any("网络校时已关闭" in f for f in _flashes(admin_client))
    r = post(admin_client, "/system/time/ntp", page="/system/")
    assert r.status_code == 302 and _flashes(admin_client) == ["网络校时已恢复"]
    calls = (fake_clock.parent / "set-time.log").read_text().splitlines()
    assert calls == ["2026-01-02 03:04:05", "ntp"]
    with sqlite_store.session() as s:
        entry = s.scalar(select(AuditEntry).where(AuditEntry.action == "restore_ntp"))
    assert entry.actor == "admin" and json.loads(entry.detail)["output"] == "clock set"


def test_a_failing_helper_is_reported_and_not_audited(admin_config, instance, sqlite_store, users, tmp_path):
    from tests.helpers.admin_app import build_app, login

    failing = tmp_path / "no-ntp"
    failing.write_text(f"#!{sys.executable}\nimport sys\n"
                       "sys.exit('daka-set-time: timedatectl not found: no NTP client to turn on')\n")
    failing.chmod(failing.stat().st_mode | stat.S_IEXEC)
    app = build_app(admin_config(admin={"set_time_command": str(failing)}), instance, sqlite_store)
    client = app.test_client()
    login(client, "admin", "correct horse 1")
    r = post(client, "/system/time/ntp", page="/system/")
    assert r.status_code == 303
    errors, details = _errors(client)
    assert len(errors) == 1 and errors[0].startswith("恢复网络校时失败：") and "daka-set-time" not in errors[0]
    assert details == ["daka-set-time: timedatectl not found: no NTP client to turn on"]
    with sqlite_store.session() as s:
        assert s.scalar(select(AuditEntry.id).where(AuditEntry.action == "restore_ntp")) is None
        failed = s.scalar(select(AuditEntry).where(AuditEntry.action == "restore_ntp_failed"))
    assert failed.actor == "admin" and "timedatectl not found" in json.loads(failed.detail)["error"]


def test_viewers_cannot_restore_network_time(app, users, fake_clock):
    from tests.helpers.admin_app import VIEWER_PW, login

    client = app.test_client()
    login(client, "hr", VIEWER_PW)
    r = post(client, "/system/time/ntp", page="/")
    assert r.status_code == 403
    assert not (fake_clock.parent / "set-time.log").exists()

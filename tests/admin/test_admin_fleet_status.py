"""The terminal's own admin (概览) says whether its fleet link reaches the centre (issue 20):
离线，N 条待上传 from the link's status block; a standalone terminal shows no such line."""

from __future__ import annotations

from tests.helpers.admin_app import build_app, login
from tests.helpers.children import free_port
from tests.helpers.waiting import wait_for


def test_dashboard_says_the_terminal_is_offline_from_its_centre(admin_config, instance, sqlite_store, users):  # noqa: F811
    from app.fleet.link import FleetLink

    status = {"camera": {"state": "running", "fps": 14.5}, "journal_pending": 0, "push_pending": 0,
              "disk_free_bytes": 10**9, "storage_low": False, "retention_hold": None}
    app = build_app(admin_config(), instance, sqlite_store, status_provider=lambda: dict(status))
    c = app.test_client()
    login(c, "admin", "correct horse 1")
    assert 'id="fleet-state"' not in c.get("/").get_data(as_text=True)   # standalone

    config = admin_config(fleet={"database_url": f"postgresql://daka_t_gate1:pw@127.0.0.1:{free_port()}/daka",
                                 "retry_max_s": 1.0})
    link = FleetLink(sqlite_store, config, instance.photos_dir).start()
    try:
        wait_for(lambda: link.status()["state"] == "offline", 60)
        status["fleet"] = link.status()
        html = c.get("/").get_data(as_text=True)
        assert '<dd id="fleet-state" class="warn">离线，0 条待上传</dd>' in html
        assert c.get("/dashboard/status.json").get_json()["status"]["fleet"]["pending"] == 0
    finally:
        link.stop()

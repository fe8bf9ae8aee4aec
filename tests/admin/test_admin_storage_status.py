"""The admin dashboard shows a full disk and a retention refused across a clock jump."""

from __future__ import annotations

from tests.helpers.admin_app import build_app, login


def test_dashboard_says_storage_full_and_retention_paused(admin_config, instance, sqlite_store, users):  # noqa: F811
    status = {"camera": {"state": "running", "fps": 14.5}, "journal_pending": 3, "push_pending": 0,
              "disk_free_bytes": 0, "storage_low": False, "retention_hold": None}
    app = build_app(admin_config(), instance, sqlite_store, status_provider=lambda: dict(status))
    c = app.test_client()
    login(c, "admin", "correct horse 1")
    html = c.get("/").get_data(as_text=True)
    assert "存储空间不足" not in html and "系统时间可疑" not in html
    status.update(storage_low=True, retention_hold={
        "reason": "clock_jump", "detail": "the clock was set 3652 days ahead while the terminal ran"})
    html = c.get("/").get_data(as_text=True)
    assert '<dd class="warn">存储空间不足</dd>' in html
    # the reason in words; the technical detail folded under it
    assert "已暂停：系统时间可疑（系统时间刚被大幅调整）" in html
    assert "<summary>技术细节</summary>the clock was set 3652 days ahead while the terminal ran" in html
    data = c.get("/dashboard/status.json").get_json()["status"]
    assert data["storage_low"] is True and data["retention_hold"]["reason"] == "clock_jump"

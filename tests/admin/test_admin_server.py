"""AdminServer: waitress in a daemon thread, on a real socket; the set-time helper script."""

from __future__ import annotations

import json
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

from tests.helpers.admin_app import build_app

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "daka-set-time"


def test_server_serves_and_stops(admin_config, instance, sqlite_store):
    from admin.server import AdminServer

    app = build_app(admin_config(), instance, sqlite_store)
    server = AdminServer(app, "127.0.0.1", 0, threads=2).start()
    try:
        with urllib.request.urlopen(server.url + "/health", timeout=10) as r:
            assert json.load(r) == {"ok": True}
        try:
            urllib.request.urlopen(server.url + "/api/get_face_libraries", timeout=10)
            raise AssertionError("the API answered without a token")
        except urllib.error.HTTPError as exc:
            assert exc.code == 401
            exc.close()
    finally:
        server.stop()
    try:
        urllib.request.urlopen(server.url + "/health", timeout=2)
        raise AssertionError("still serving after stop()")
    except urllib.error.URLError:
        pass


def test_set_time_script_refuses_bad_arguments_before_touching_the_clock():
    for args in (["2026-01-02"], ["2026-01-02", "03:04"], ["2026-01-02;id", "03:04:05"],
                 ["2026-01-02", "03:04:05", "extra"], ["1999-01-02", "03:04:05"], ["2026-02-30", "03:04:05"]):
        r = subprocess.run(["sh", str(SCRIPT), *args], capture_output=True, text=True, timeout=10)
        assert r.returncode != 0, args


def test_bench_admin_runs_end_to_end_on_a_small_database():
    """The benchmark's plumbing (seed, server, client process, JSON); the figures are not judged."""
    from admin import bench

    out = bench.run(punches=1500, clients=3, requests=30)
    assert out["punches"] == 1500 and out["days"] == 3
    for figures in (out, out["asyncio_client"]):  # the thread client's at the top level
        for key in ("attendance_api_one_day", "attendance_api_one_hour", "dashboard"):
            concurrent = figures[key]["concurrent"]
            assert concurrent["requests"] == 30 and concurrent["errors"] == 0 and concurrent["p99_ms"] > 0
        assert figures["attendance_api_one_day"]["rows_per_response"] == 500


def test_waitress_queue_warnings_are_thinned_out_to_one_a_minute(admin_config, instance, sqlite_store, caplog):
    """Under load waitress warns "Task queue depth is N" for each waiting request; one a minute is kept."""
    import logging

    from admin.server import QUEUE_LOG_EVERY_S, AdminServer, OncePerInterval

    app = build_app(admin_config(), instance, sqlite_store)
    for _ in range(2):  # a second server adds no second filter
        AdminServer(app, "127.0.0.1", 0, threads=1).stop()
    queue_log = logging.getLogger("waitress.queue")
    filters = [f for f in queue_log.filters if isinstance(f, OncePerInterval)]
    assert len(filters) == 1 and filters[0].seconds == QUEUE_LOG_EVERY_S == 60.0
    filters[0]._last = float("-inf")  # whatever earlier tests logged
    with caplog.at_level(logging.WARNING, logger="waitress.queue"):
        for depth in range(1, 101):
            queue_log.warning("Task queue depth is %d", depth)
        logging.getLogger("waitress").warning("other waitress warnings pass")
    assert [r.getMessage() for r in caplog.records] == ["Task queue depth is 1", "other waitress warnings pass"]
    filters[0]._last -= QUEUE_LOG_EVERY_S  # a minute later
    with caplog.at_level(logging.WARNING, logger="waitress.queue"):
        queue_log.warning("Task queue depth is %d", 7)
    assert caplog.records[-1].getMessage() == "Task queue depth is 7"

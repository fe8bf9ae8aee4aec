"""`daka run` serves the pull protocol when [zk_pull] is enabled (the runner's block), and stops it
with the terminal."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import tomli_w

from app.config import load_config
from app.store import open_store
from tests.helpers.children import free_port, kiosk_child
from tests.helpers.kiosk_window import MOCK_PINS
from tests.helpers.zk_pull import close_pyzk_clients, connect_pyzk, node_available, seed


def test_daka_run_serves_4370_when_enabled(instance):
    port = free_port()
    instance.config_path.write_text(tomli_w.dumps({
        "camera": {"source": "test://?width=320&height=240&fps=5"}, "gpio": MOCK_PINS,
        "liveness": {"level": "off"}, "admin": {"host": "127.0.0.1", "port": free_port()},
        "zk_pull": {"enabled": True, "host": "127.0.0.1", "port": port, "comm_key": 2468}}), encoding="utf-8")
    store = open_store(load_config(instance), instance)
    seed(store, [("E001", "张伟"), ("E002", "李雷")], 4)
    store.dispose()
    child = kiosk_child(["-m", "app.cli.main", "--instance", str(instance.root), "run", "--headless"])
    try:
        child.wait_for(lambda: "zk pull: serving on" in child.log, 180, "the 4370 server")
        try:
            zk = connect_pyzk(port, key=2468, timeout=60)
            users, punches = zk.get_users(), zk.get_attendance()
            zk.disconnect()
        finally:
            close_pyzk_clients()
        assert [(u.user_id, u.name) for u in users] == [("E001", "张伟"), ("E002", "李雷")]
        assert len(punches) == 4
        assert child.signal_and_wait(signal.SIGTERM) == 0, child.log[-3000:]
    finally:
        child.kill()
    assert "zk pull: stopped" in child.log and "terminal stopped" in child.log


def test_bench_zkpull_prints_the_figures(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "app.cli.main", "--instance", str(tmp_path / "inst"), "bench",
                           "zkpull", "--json", "--staff", "20", "--punches", "300", "--repeat", "1", "--no-kiosk"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    read = json.loads(proc.stdout)["read"]
    assert read["all_read"] is True and read["pyzk_tcp_read"] == [20, 300] and read["pyzk_udp_read"] == [20, 300]
    assert read["store_rows_s"] > 0 and read["pyzk_tcp_users_and_punches_s"] > 0
    if node_available() is None:
        assert read["node-zklib_read"] == [20, 300] and read["zkteco-js_read"] == [20, 300]

"""Every long-running command stops cleanly on SIGTERM and on SIGINT, whatever it inherited.

Started as a background job of a non-interactive shell (CI runners, supervisors), a process
inherits SIGINT and SIGQUIT as ignored; ``inherit_ignored`` reproduces that. Before the fix,
``daka hw tof-sim`` waited on an Event forever after SIGINT and died without cleanup on SIGTERM.
"""

from __future__ import annotations

import json
import signal
import socket
import urllib.request
from pathlib import Path

import pytest

from tests.helpers.children import daka, started

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


STOPS = [pytest.param(sig, ignored, id=f"{signal.Signals(sig).name}-{'inherited-ignored' if ignored else 'default'}")
         for sig in (signal.SIGINT, signal.SIGTERM) for ignored in (True, False)]


@pytest.mark.parametrize("sig,ignored", STOPS)
def test_tof_sim_stops_on_a_signal_and_removes_its_link(tmp_path, sig, ignored):
    link = tmp_path / "ttyTOF"
    with started(daka("--instance", str(tmp_path / "inst"), "hw", "tof-sim", "--link", str(link)),
                 inherit_ignored=ignored) as child:
        info = json.loads(child.wait_line(120, "port line"))
        assert Path(info["port"]).is_symlink()
        assert child.signal_and_wait(sig) == 0, child.log[-3000:]
    assert not link.exists() and not link.is_symlink()   # the simulator's exit ran


@pytest.mark.parametrize("sig,ignored", STOPS)
def test_admin_serve_stops_on_a_signal(tmp_path, sig, ignored):
    with started(daka("--instance", str(tmp_path / "inst"), "admin", "serve", "--host", "127.0.0.1", "--port", "0"),
                 inherit_ignored=ignored) as child:
        url = json.loads(child.wait_line(120, "url line"))["url"]
        with urllib.request.urlopen(url + "/health", timeout=60) as r:
            assert r.status == 200
        assert child.signal_and_wait(sig) == 0, child.log[-3000:]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_bench_stops_on_a_signal_and_cleans_up(tmp_path, sig):
    """A bench interrupted half way exits 128+signal and removes its scratch instance."""
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    with started(daka("--instance", str(tmp_path / "inst"), "bench", "store", "--postgres", "off",
                      "--confirms", "100000000"), inherit_ignored=True, env={"TMPDIR": str(scratch)}) as child:
        # the scratch instance's database exists: the bench is confirming punches
        child.wait_for(lambda: any(scratch.glob("daka-bench-*/instance/*")), 120, "scratch instance")
        assert child.signal_and_wait(sig) == 128 + sig, child.log[-3000:]
    assert f"stopped by {signal.Signals(sig).name}" in child.log
    assert list(scratch.iterdir()) == []


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_headless_terminal_stops_on_a_signal_with_sigint_inherited_ignored(tmp_path, sig):
    import tomli_w

    inst = tmp_path / "inst"
    inst.mkdir()
    (inst / "daka.toml").write_text(tomli_w.dumps({
        "camera": {"source": "test://?width=320&height=240&fps=5"},
        "admin": {"host": "127.0.0.1", "port": free_port()}}), encoding="utf-8")
    with started(daka("--instance", str(inst), "run", "--headless"), inherit_ignored=True) as child:
        child.wait_for(lambda: "headless: no window" in child.log, 180, "headless start")
        assert child.signal_and_wait(sig) == 0, child.log[-3000:]
    assert f"signal {signal.Signals(sig).name}: stopping" in child.log

"""A fresh `daka run`'s log, as a newcomer reads it (issue 25): the admin's address on the LAN and
the first step at start, then quiet while nothing happens: the scheduler's job runs, alembic's
plugin lines and the admin's disconnects do not fill the rotated log files."""

from __future__ import annotations

import re
import signal
import urllib.request

import tomli_w

from app.services.status import local_ip
from tests.helpers.children import daka, free_port, started

LINE = re.compile(r"^\S+ \S+ \| (\w+)\s*\| (\S+) \| (.*)$")


def test_a_fresh_start_logs_where_the_admin_is_and_then_stays_quiet(instance):
    port = free_port()
    instance.config_path.write_text(tomli_w.dumps({
        "camera": {"source": "none"},
        "attendance": {"flush_seconds": 1},        # the job that ran every 5 s, every second here
        "admin": {"host": "0.0.0.0", "port": port},
        "log": {"level": "DEBUG"},                 # demoted lines stay visible at DEBUG: they count the runs
    }), encoding="utf-8")
    with started(daka("run", "--headless"), env={"DAKA_INSTANCE": str(instance.root)}) as child:
        child.wait_for(lambda: "admin: listening on" in child.log, 120, "the admin's address")
        # a browser that leaves pages (and the live feed) behind
        for _ in range(3):
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=30) as answer:
                assert answer.status == 200

        def runs() -> int:
            return child.log.count('Running job "flush journaled punches')
        child.wait_for(lambda: runs() >= 12, 180, "twelve runs of the flush job")
        assert child.signal_and_wait(signal.SIGTERM) == 0, child.log[-3000:]
    records = [m.groups() for line in child.log.splitlines() if (m := LINE.match(line))]
    shown = [(level, name, text) for level, name, text in records if level != "DEBUG"]   # what INFO shows

    # the libraries' routine lines are DEBUG, not INFO: nothing per job run, per command, per request
    assert not [r for r in shown if r[1].startswith(("apscheduler", "alembic.runtime.plugins"))], shown
    assert not [r for r in shown if "Context impl" in r[2] or "Will assume" in r[2]]
    assert len(shown) <= 30, "\n".join(" | ".join(r) for r in shown)   # a start is a screenful, not a stream

    # where the admin is, for a browser on the LAN (bound to every address: the default route's one)
    host = local_ip() or "127.0.0.1"
    assert ("INFO", "admin.server", f"admin: listening on http://{host}:{port}") in shown
    first_run = [r for r in shown if r[2].startswith("首次运行：")]
    assert len(first_run) == 1 and f"http://{host}:{port}/setup" in first_run[0][2]

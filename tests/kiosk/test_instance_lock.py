"""One terminal per instance: a second `daka run` (or journal writer) stops at once, naming the PID."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from app.attendance.journal import PunchJournal, decode_segment
from app.instance import InstanceLocked
from tests.helpers.children import free_port, kiosk_child
from tests.helpers.kiosk_window import MOCK_PINS

REPO = Path(__file__).resolve().parents[2]

# A journal writer in another process: appends one punch, says so, then waits to be killed.
WRITER = textwrap.dedent("""
    import sys
    from app.attendance.journal import PunchJournal
    j = PunchJournal(sys.argv[1])
    j.append({"uuid": "00000000-0000-0000-0000-000000000001", "staff_no": "J0"})
    print("appended", flush=True)
    sys.stdin.read()
""")


def _records(folder: Path) -> list[dict]:
    return [r for p in sorted(folder.glob("*.jnl")) for r in decode_segment(p.read_bytes()).records]


def test_a_second_journal_writer_in_another_process_is_refused(tmp_path):
    """The review's journal_two: B's flush deleted A's segment; now B cannot open the journal."""
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONPATH=str(REPO)))
    try:
        assert proc.stdout.readline() == "appended\n"
        with pytest.raises(InstanceLocked) as caught:
            PunchJournal(tmp_path)
        assert caught.value.pid == proc.pid and f"PID {proc.pid}" in str(caught.value)
        assert [r["staff_no"] for r in _records(tmp_path)] == ["J0"]   # untouched
    finally:
        proc.kill()
        proc.wait()
        proc.stdin.close()
        proc.stdout.close()
    # the kernel dropped the lock with the process (kill -9): the next start replays the punch
    j = PunchJournal(tmp_path)
    try:
        assert [r["staff_no"] for r in j.pending()] == ["J0"]
    finally:
        j.close()


def test_a_second_daka_run_exits_at_once_naming_the_running_pid(instance, tmp_path):
    import tomli_w

    settings = {"camera": {"source": "none"}, "gpio": MOCK_PINS, "liveness": {"level": "off"},
                "admin": {"host": "127.0.0.1", "port": free_port()}}
    instance.config_path.write_text(tomli_w.dumps(settings), encoding="utf-8")
    command = ["-m", "app.cli.main", "--instance", str(instance.root), "run", "--headless"]
    first = kiosk_child(command)
    try:
        first.wait_for(lambda: "terminal started" in first.log, 120, "start")
        before = {p.name: p.stat().st_ino for p in instance.journal_dir.iterdir()}
        env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
        second = subprocess.run([sys.executable, *command], capture_output=True, text=True, timeout=120,
                                cwd=Path(__file__).parent, env=env)
        assert second.returncode == 2, second.stderr[-3000:]
        assert f"in use by another process (PID {first.proc.pid})" in second.stderr
        assert "terminal started" not in second.stderr
        # nothing of the running terminal's journal was touched
        assert {p.name: p.stat().st_ino for p in instance.journal_dir.iterdir()} == before
        assert first.proc.poll() is None
        assert first.signal_and_wait(signal.SIGTERM) == 0, first.log[-3000:]
    finally:
        first.kill()
    instance.lock().release()  # free again once the terminal stopped

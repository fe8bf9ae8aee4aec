"""sd_notify over a real unix datagram socket, as systemd listens for it."""

from __future__ import annotations

import os
import socket
import uuid

import pytest

from app.systemd_notify import NotifyError, notify, watchdog_interval


@pytest.fixture
def listener(tmp_path):
    path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(5)
    yield str(path), sock
    sock.close()


def received(sock, count: int = 1) -> list[str]:
    return [sock.recv(4096).decode() for _ in range(count)]


def test_notify_sends_each_state_to_the_socket(listener):
    path, sock = listener
    env = {"NOTIFY_SOCKET": path}
    assert notify("READY=1", env=env) is True
    assert notify("STATUS=识别中 / recognising", env=env) is True
    assert notify("STOPPING=1", env=env) is True
    assert received(sock, 3) == ["READY=1", "STATUS=识别中 / recognising", "STOPPING=1"]


def test_notify_reaches_an_abstract_socket():
    name = f"daka-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(b"\0" + name.encode())
        sock.settimeout(5)
        assert notify("READY=1", env={"NOTIFY_SOCKET": "@" + name})
        assert sock.recv(64) == b"READY=1"


def test_without_systemd_notify_is_a_no_op():
    assert notify("READY=1", env={}) is False
    assert notify("READY=1", env={"NOTIFY_SOCKET": ""}) is False


def test_a_named_but_missing_socket_is_a_clear_error(tmp_path):
    with pytest.raises(NotifyError, match="cannot notify systemd"):
        notify("READY=1", env={"NOTIFY_SOCKET": str(tmp_path / "absent.sock")})
    with pytest.raises(NotifyError, match="neither a path"):
        notify("READY=1", env={"NOTIFY_SOCKET": "relative.sock"})


def test_bad_states_are_refused(listener):
    path, _ = listener
    for state in ("", "READY=1\0"):
        with pytest.raises(ValueError):
            notify(state, env={"NOTIFY_SOCKET": path})


def test_watchdog_interval_is_half_the_timeout_and_only_for_this_process():
    assert watchdog_interval({}) is None
    assert watchdog_interval({"WATCHDOG_USEC": "30000000"}) == 15.0
    assert watchdog_interval({"WATCHDOG_USEC": "3000000", "WATCHDOG_PID": str(os.getpid())}) == 1.5
    assert watchdog_interval({"WATCHDOG_USEC": "3000000", "WATCHDOG_PID": "1"}, pid=4242) is None
    with pytest.raises(NotifyError):
        watchdog_interval({"WATCHDOG_USEC": "0"})


def test_terminal_notifier_orders_and_paces_its_messages(listener):
    from app.systemd_notify import SystemdNotifier

    path, sock = listener
    now = [100.0]
    n = SystemdNotifier(env={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "4000000"}, clock=lambda: now[0])
    n.watchdog()                      # before READY: systemd has not armed the watchdog yet
    n.ready()
    for step in (0.0, 0.4, 0.4, 0.4, 0.4, 0.4):   # the UI calls every 0.4 s; pings every 2 s (half of 4)
        now[0] += step
        n.watchdog()
    n.stopping()
    assert n.sent == ["READY=1", "WATCHDOG=1", "WATCHDOG=1", "STOPPING=1"]
    assert received(sock, 4) == n.sent


def test_terminal_notifier_reports_a_broken_socket_once_and_never_raises(tmp_path):
    from app.systemd_notify import SystemdNotifier

    errors = []
    n = SystemdNotifier(env={"NOTIFY_SOCKET": str(tmp_path / "gone.sock"), "WATCHDOG_USEC": "1000000"},
                        log=errors.append)
    n.ready()
    n.watchdog()
    n.stopping()
    assert len(errors) == 1 and "gone.sock" in errors[0] and n.sent == []


def test_terminal_notifier_outside_systemd_sends_nothing():
    from app.systemd_notify import SystemdNotifier

    n = SystemdNotifier(env={})
    n.ready()
    n.watchdog()
    n.stopping()
    assert n.sent == []

"""Daka as a ZKTeco PUSH (ADMS) terminal against a real ADMS server nobody here wrote.

The server is django-fingerprint-attendance 0.1.0 (tests/helpers/adms_server.py), checked through
its own models; every body Daka sent is parsed again by iclockhelper 0.0.4 and must agree.
"""

from __future__ import annotations

import base64
import datetime as dt
import sys
import urllib.request
from pathlib import Path
from zoneinfo import ZoneInfo

import cv2
import numpy as np
import pytest
from sqlalchemy import select

from tests.helpers.adms_server import AdmsServer
from tests.helpers.children import Child
from tests.helpers.kiosk_window import MOCK_PINS, enrol
from tests.helpers.waiting import wait_for

iclockhelper = pytest.importorskip("iclockhelper")

SERIAL = "DAKATEST0001"
TZ = "Asia/Shanghai"
CHILD = Path(__file__).with_name("adms_child.py")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    s = AdmsServer(tmp_path_factory.mktemp("adms-server"), timezone=TZ)
    s.start()
    yield s
    s.stop()


class Recording:
    """The real HTTP transport, with every request Daka made kept for iclockhelper."""

    def __init__(self):
        from app.zk.adms.transport import HttpTransport

        self.inner = HttpTransport()
        self.sent: list[tuple[str, str, bytes | None]] = []

    def request(self, method, url, body, **kwargs):
        self.sent.append((method, url, body))
        return self.inner.request(method, url, body, **kwargs)


@pytest.fixture
def terminal(make_config, instance, models, photos, server):
    from app.hardware.gpio import make_pin_factory
    from app.kiosk.runner import adms_services
    from app.services.terminal import Terminal

    config = make_config(camera={"source": "test://?width=640&height=480&fps=15"}, gpio=MOCK_PINS,
                         device={"timezone": TZ}, attendance={"flush_seconds": 600},
                         push={"adms_url": server.url, "adms_serial": SERIAL, "adms_retry_seconds": 0.5})
    t = Terminal(config, instance, models=models, pin_factory=make_pin_factory("mock"))
    enrol(t, photos["obama.jpg"], "E001_奥巴马.jpg")
    link = adms_services(t, t.config)[0]
    link.transport = recording = Recording()
    t.add_service(link)
    t.recording = recording
    t.link = link
    yield t
    t.stop()


def handshake_stamp(server) -> str:
    with urllib.request.urlopen(f"{server.url}/iclock/cdata?SN={SERIAL}&options=all&pushver=2.4.1",
                                timeout=30) as answer:
        lines = answer.read().decode().splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line)["ATTLOGStamp"]


def check_with_iclockhelper(sent, server_punches=None) -> int:
    """Parse every body Daka sent with iclockhelper; its reading must match Daka's lines (and the server's rows)."""
    from iclockhelper import CdataRequest, GetRequest, TableEnum

    parsed_punches = []
    checked = 0
    for method, url, body in sent:
        request = urllib.request.Request(url, data=body, method=method)
        if "/getrequest" in url:
            info = GetRequest.from_req(request).info
            assert info.fw_version.startswith("Daka ")
            assert GetRequest.from_req(request).sn == SERIAL
            checked += 1
            continue
        if "/cdata" not in url or method != "POST" or "table=options" in url:
            continue
        parsed = CdataRequest.from_req(request)
        assert parsed.sn == SERIAL
        lines = [line for line in body.decode("gb18030").split("\n") if line]   # [push] adms_encoding
        if parsed.table == TableEnum.attlog:
            got = [t for t in parsed.attendance_log.transactions if t.pin]
            assert [t.raw for t in got] == lines
            for t, line in zip(got, lines):
                fields = line.split("\t")
                assert (t.pin, t.server_datetime.strftime("%Y-%m-%d %H:%M:%S"), t.check_type, t.verify_code) \
                    == (fields[0], fields[1], fields[2], fields[3])
            parsed_punches += [(t.pin, t.server_datetime.strftime("%Y-%m-%d %H:%M:%S"), t.verify_code) for t in got]
        elif parsed.table == TableEnum.operlog:
            log = parsed.operation_log
            users = [line for line in lines if line.startswith("USER ")]
            ops = [line for line in lines if line.startswith("OPLOG ")]
            assert [u.raw for u in log.users] == [u[len("USER "):] for u in users]
            assert [o.raw for o in log.operations] == [o[len("OPLOG "):] for o in ops]
            for user, line in zip(log.users, users):
                assert f"PIN={user.pin}\tName={user.name}\t" in line
            assert all(o.server_datetime is not None for o in log.operations)
        else:
            pytest.fail(f"a body iclockhelper does not know: {url}")
        checked += 1
    if server_punches is not None:
        assert parsed_punches == [(p["pin"], p["local"], str(p["verify"])) for p in server_punches]
    return checked


def test_face_punches_reach_the_server_with_pin_local_time_and_verify_15(terminal, server):
    from app.store import Punch

    terminal.start()
    wait_for(lambda: terminal.link.last_handshake is not None, 60, 0.05)
    card = terminal.cards.card(1)
    results = [terminal.confirm(card, 0.97).result(timeout=60)]
    wait_for(lambda: len(server.punches(SERIAL)) == 1, 60, 0.2)

    with terminal.store.session() as s:
        stored = s.scalars(select(Punch).order_by(Punch.id)).all()
    assert [p.uuid for p in stored] == [r.punch.uuid for r in results]
    rows = server.punches(SERIAL)
    local = stored[0].punched_at.replace(tzinfo=dt.UTC).astimezone(ZoneInfo(TZ))
    assert rows == [{"pin": "E001", "local": local.strftime("%Y-%m-%d %H:%M:%S"), "verify": 15,
                     "utc": stored[0].punched_at.strftime("%Y-%m-%d %H:%M:%S"), "state": "0"}]
    # the server's stamp moved to the punch Daka sent; its next handshake says so
    assert handshake_stamp(server) == str(stored[0].id)
    assert server.device(SERIAL)["attlog_stamp"] == str(stored[0].id)

    # the admin's status block
    status = terminal.status()["adms"]
    assert status["serial"] == SERIAL and status["queue"] == 0 and status["last_upload_utc"]
    assert status["options"]["realtime"] is True

    # table=options told the server who Daka is
    wait_for(lambda: (server.device(SERIAL) or {}).get("firmware", "").startswith("Daka"), 30, 0.2)
    assert check_with_iclockhelper(terminal.recording.sent, rows) >= 2


def _jpeg(image) -> str:
    ok, data = cv2.imencode(".jpg", image)
    assert ok
    return base64.b64encode(data.tobytes()).decode()


def test_server_commands_enrol_a_photo_and_delete_the_person(terminal, server, photos):
    from app.store import FaceTemplate, Staff

    terminal.start()
    wait_for(lambda: terminal.link.last_handshake is not None, 60, 0.05)
    photo = base64.b64encode(Path(photos["biden.jpg"]).read_bytes()).decode()
    add = server.queue(SERIAL, "add_user", {"pin": "E100", "name": "拜登"})
    enrol_cmd = server.queue(SERIAL, "raw", {"command": f"DATA UPDATE BIOPHOTO PIN=E100\tType=9\t"
                                                        f"Size={len(photo)}\tIndex=0\tContent={photo}"})
    gray = np.full((240, 320, 3), 128, np.uint8)
    bad = server.queue(SERIAL, "raw", {"command": f"DATA UPDATE BIOPHOTO PIN=E100\tType=9\tContent={_jpeg(gray)}"})
    junk = server.queue(SERIAL, "raw", {"command": "DATA UPDATE BIOPHOTO PIN=E100\tType=9\tContent=@@not*base64@@"})
    unsupported = server.queue(SERIAL, "raw", {"command": "DATA UPDATE BIODATA Pin=E100\tNo=0\tType=1\tTmp=AAAA"})

    def finished(ids):
        rows = server.commands(SERIAL)
        return all(rows[i]["status"] in ("succeeded", "failed") for i in ids)
    wait_for(lambda: finished([add, enrol_cmd, bad, junk, unsupported]), 120, 0.3)
    rows = server.commands(SERIAL)
    assert rows[add]["status"] == rows[enrol_cmd]["status"] == "succeeded", rows
    assert rows[bad]["status"] == "failed" and rows[bad]["return_code"] < 0
    assert "no_face" in rows[bad]["response"], rows[bad]
    assert rows[junk]["return_code"] == -1002 and "base64" in rows[junk]["response"]
    assert rows[unsupported]["return_code"] == -1004

    with terminal.store.session() as s:
        staff = s.scalar(select(Staff).where(Staff.staff_no == "E100"))
        assert staff is not None and staff.name == "拜登"
        staff_id = staff.id
        assert s.scalar(select(FaceTemplate.id).where(FaceTemplate.staff_id == staff_id))
    assert staff_id in terminal.gallery.staff_ids()
    # the live gallery knows the face: biden's photo matches E100
    frame = cv2.imread(str(photos["biden.jpg"]))
    assert terminal.library.gallery.match(terminal.library.analyse(frame).vector).staff_id == staff_id

    delete = server.queue(SERIAL, "delete_user", {"pin": "E100"})
    wait_for(lambda: server.commands(SERIAL)[delete]["status"] in ("succeeded", "failed"), 120, 0.3)
    assert server.commands(SERIAL)[delete]["status"] == "succeeded"
    with terminal.store.session() as s:
        assert s.scalar(select(Staff).where(Staff.staff_no == "E100")) is None
        assert s.scalar(select(FaceTemplate.id).where(FaceTemplate.staff_id == staff_id)) is None
    assert staff_id not in terminal.gallery.staff_ids()
    # the commands and their results reach the admin's status block
    results = {r["id"]: r for r in terminal.status()["adms"]["results"]}
    assert results[delete]["code"] == 0 and results[bad]["code"] < 0
    check_with_iclockhelper(terminal.recording.sent)


def test_offline_kill9_restart_every_punch_once_in_order(tmp_path, instance, make_config):
    """Server down, 20 punches confirmed by a Daka child killed -9 after 10, server back: all 20, once, in order."""
    from app.store import Punch, open_store

    down = AdmsServer(tmp_path / "offline-server", timezone=TZ)   # its own data, not started yet
    serial = "DAKACRASH001"
    config = make_config(device={"timezone": TZ}, attendance={"flush_seconds": 1},
                         push={"adms_url": down.url, "adms_serial": serial, "adms_retry_seconds": 0.3})
    open_store(config, instance).dispose()   # migrated before the children start
    confirmed: list[str] = []
    try:
        for first, kill in ((1, True), (11, False)):
            child = Child([sys.executable, str(CHILD), str(instance.root), str(first), "10"])
            try:
                child.wait_for(lambda: any(line.strip() == "done" for line in child.out), 120, "done")
                confirmed += [line.strip() for line in child.out if line.strip() not in ("ready", "done")]
                if kill:
                    child.kill()   # SIGKILL to the group: no clean stop, the journal as it was
                    continue
                down.start()       # the server comes back while the second Daka runs
                wait_for(lambda: len(down.punches(serial)) >= 20, 120, 0.3)
            finally:
                child.kill()
        rows = down.punches(serial)
    finally:
        down.stop()
    assert len(confirmed) == 20
    store = open_store(config, instance, upgrade=False)
    try:
        with store.session() as s:
            stored = s.scalars(select(Punch).order_by(Punch.id)).all()
    finally:
        store.dispose()
    assert sorted(str(p.uuid) for p in stored) == sorted(confirmed)
    assert [r["pin"] for r in rows] == [p.staff_no for p in stored] == [f"S{i:04d}" for i in range(1, 21)]
    assert [r["utc"] for r in rows] == [p.punched_at.strftime("%Y-%m-%d %H:%M:%S") for p in stored]

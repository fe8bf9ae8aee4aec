"""The ADMS link's own rules: handshake parsing, failures (500, not OK, slow, malformed, huge,
bad base64) as clear log lines with nothing lost, command gating, REBOOT after its result.

The server here is a real HTTP server on loopback whose answers each test scripts.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid

import pytest

from app.attendance import Candidate, open_attendance
from app.store import Staff
from app.zk.adms import protocol
from app.zk.adms.data import AdmsData
from app.zk.adms.link import AdmsLink, _crossed, default_serial

from tests.helpers.adms_server import Scripted
from tests.helpers.hr_receiver import SECRET, Receiver
from tests.helpers.waiting import wait_for

HANDSHAKE = "GET OPTION FROM: X\nATTLOGStamp=None\nOPERLOGStamp=0\nDelay=1\nErrorDelay=1\nRealtime=1\n"


@pytest.fixture
def scripted():
    servers = []

    def make(answer):
        servers.append(Scripted(answer))
        return servers[-1]
    yield make
    for s in servers:
        s.close()


@pytest.fixture
def link_for(store, make_config):
    links = []

    def make(url, **push):
        config = make_config(device={"timezone": "Asia/Shanghai"},
                             push={"adms_url": url, "adms_serial": "UNIT1", "adms_retry_seconds": 0.2,
                                   "adms_timeout_seconds": 1.0, **push})
        link = AdmsLink(store, config, serial_source=lambda: "DAKADEFAULT")
        links.append(link)
        return link
    yield make
    for link in links:
        link.stop()


def add_punches(store, n, start=dt.datetime(2026, 12, 1, 0, 30, tzinfo=dt.UTC)):
    from app.store import Punch

    with store.session() as s:
        for i in range(n):
            at = start + dt.timedelta(minutes=i)
            s.add(Punch(uuid=uuid.uuid4(), staff_no=f"P{i:03d}", name="x", punched_at=at.replace(tzinfo=None),
                        local_date=at.date(), device_id="d", source="face"))


# -- the handshake ---------------------------------------------------------------------------


def test_handshake_both_stamp_spellings_none_zero_and_bounds():
    new = protocol.parse_handshake("GET OPTION FROM: SN1\nATTLOGStamp=None\nOPERLOGStamp=0\n"
                                   "ATTPHOTOStamp=77\nDelay=15\nErrorDelay=40\nRealtime=0\nTransInterval=2\n"
                                   "TransTimes=00:00;14:05\nTransFlag=TransData AttLog\tOpLog\tEnrollUser\n"
                                   "TimeZone=8\nEncrypt=None\nServerVer=2.4.1\nFancyOption=1\n")
    assert new.stamps == {"ATTLOG": 0, "OPERLOG": 0, "ATTPHOTO": 77}
    assert (new.delay, new.error_delay, new.realtime, new.trans_interval) == (15, 40, False, 2)
    assert new.trans_times == ("00:00", "14:05") and new.tables == {"ATTLOG", "OPERLOG"}
    assert new.timezone == 8 and new.server_ver == "2.4.1" and new.unknown == {"FancyOption": "1"}
    assert new.problems == []
    old = protocol.parse_handshake("Stamp=9\r\nOpStamp=None\r\nPhotoStamp=3\r\nTransFlag=1000000000\r\n"
                                   "TimeZone=480\r\n")
    assert old.stamps == {"ATTLOG": 9, "OPERLOG": 0, "ATTPHOTO": 3}
    assert old.tables == {"ATTLOG"} and old.timezone == 8
    assert protocol.parse_trans_flag("0101000000") == {"OPERLOG"}


def test_malformed_handshake_values_are_problems_with_defaults_kept():
    opts = protocol.parse_handshake("ATTLOGStamp=abc\nDelay=-5\nErrorDelay=x\nRealtime=yes\n"
                                    "TransTimes=25:99\nTimeZone=east\njunk line\n")
    assert opts.stamps == {} and (opts.delay, opts.error_delay, opts.realtime) == (30.0, 60.0, True)
    assert len(opts.problems) == 7
    assert any("ATTLOGStamp" in p for p in opts.problems) and any("junk line" in p for p in opts.problems)
    assert protocol.parse_handshake("<html>Bad gateway</html>").problems
    assert protocol.parse_handshake("").problems == ["no options in the answer"]


def test_ok_answers_and_lines():
    assert protocol.parse_ok("OK: 12\n") == 12 and protocol.parse_ok("OK") == -1
    assert protocol.parse_ok("ERROR") is None and protocol.parse_ok("") is None
    line = protocol.attlog_line("E\t1", dt.datetime(2026, 12, 5, 8, 1, 2))
    assert line == "E 1\t2026-12-05 08:01:02\t0\t15\t0\t0\t0"
    commands = protocol.parse_commands("C:1:CHECK\nC:2:" + "x" * 100 + "\ngarbage\nOK\n", max_line=50)
    assert [(c.id, c.error is None) for c in commands] == [(1, True), (2, False), (None, False)]


def test_default_serial_from_the_machine_id(tmp_path):
    machine = tmp_path / "machine-id"
    machine.write_text("0123456789abcdef0123456789abcdef\n")
    serial = default_serial((machine,))
    assert serial.startswith("DAKA") and len(serial) == 16 and serial == default_serial((machine,))
    assert "0123456789" not in serial
    machine.write_text("fedcba98765432100123456789abcdef\n")
    assert default_serial((machine,)) != serial


# -- uploads: 500, not OK, slow, then OK --------------------------------------------------------


def test_500_and_not_ok_keep_the_cursor_then_ok_advances_it(store, scripted, link_for, caplog):
    from loguru import logger

    state = {"mode": "500"}

    def answer(method, path, params, body):
        if method == "GET" and path.endswith("/cdata"):
            return 200, HANDSHAKE, 0
        if path.endswith("/getrequest"):
            return 200, "OK", 0
        if params.get("table") == "ATTLOG":
            return {"500": (500, "boom", 0), "junk": (200, "ERROR: try later", 0),
                    "ok": (200, "OK: 3", 0)}[state["mode"]]
        return 200, "OK", 0
    server = scripted(answer)
    add_punches(store, 3)
    link = link_for(server.url)
    messages = []
    sink = logger.add(lambda m: messages.append(str(m)), level="WARNING")
    try:
        link.start()
        wait_for(lambda: len(server.posted("ATTLOG")) >= 2, 30, 0.05)
        assert link.data.cursor("ATTLOG") == 0
        assert "HTTP 500" in link.last_error
        state["mode"] = "junk"
        wait_for(lambda: "did not answer OK" in (link.last_error or ""), 30, 0.05)
        assert link.data.cursor("ATTLOG") == 0
        state["mode"] = "ok"
        wait_for(lambda: link.data.cursor("ATTLOG") == 3, 30, 0.05)
    finally:
        logger.remove(sink)
    bodies = server.posted("ATTLOG")
    assert all(b == bodies[0] for b in bodies)   # the same batch each time, nothing skipped
    assert [line.split("\t")[0] for line in bodies[-1].splitlines()] == ["P000", "P001", "P002"]
    assert bodies[-1].splitlines()[0].split("\t")[1] == "2026-12-01 08:30:00"   # local time, Asia/Shanghai
    assert any("HTTP 500" in m for m in messages) and any("did not answer OK" in m for m in messages)
    assert link.status()["queue"] == 0


def test_a_slow_server_times_out_and_the_link_carries_on(store, scripted, link_for):
    state = {"slow": True}

    def answer(method, path, params, body):
        if method == "GET" and path.endswith("/cdata"):
            return 200, HANDSHAKE, 3.0 if state["slow"] else 0
        return 200, "OK", 0
    server = scripted(answer)
    add_punches(store, 2)
    link = link_for(server.url)
    link.start()
    wait_for(lambda: "timed out" in (link.last_error or ""), 30, 0.05)
    assert link.last_handshake is None and link.data.cursor("ATTLOG") == 0
    state["slow"] = False
    wait_for(lambda: link.data.cursor("ATTLOG") == 2, 30, 0.05)
    assert link.clock_offset_s is not None   # the Date header, kept as a hint only


def test_server_stamp_rewinds_and_a_foreign_stamp_is_ignored(store, scripted, link_for):
    stamp = {"value": "1"}

    def answer(method, path, params, body):
        if method == "GET" and path.endswith("/cdata"):
            return 200, f"ATTLOGStamp={stamp['value']}\nOPERLOGStamp=None\nDelay=1\n", 0
        return 200, "OK", 0
    server = scripted(answer)
    add_punches(store, 3)
    link = link_for(server.url, adms_tables="ATTLOG")
    link.data.set_cursor("ATTLOG", 3)
    assert link.handshake()
    assert link.data.cursor("ATTLOG") == 1   # the server asked again from 1
    assert link.upload() and link.data.cursor("ATTLOG") == 3
    assert [line.split("\t")[0] for line in server.posted("ATTLOG")[-1].splitlines()] == ["P001", "P002"]
    stamp["value"] = "999"
    assert link.handshake() and link.data.cursor("ATTLOG") == 3   # not ours: keep our cursor


# -- commands -------------------------------------------------------------------------------------


def command_server(scripted, commands: list[str]):
    queue = list(commands)

    def answer(method, path, params, body):
        if method == "GET" and path.endswith("/cdata"):
            return 200, HANDSHAKE, 0
        if path.endswith("/getrequest"):
            out = "\n".join(queue) if queue else "OK"
            queue.clear()
            return 200, out, 0
        return 200, "OK", 0
    return scripted(answer)


def results(server) -> dict[int, tuple[int, str]]:
    out = {}
    for m, p, q, body in server.requests:
        if p.endswith("/devicecmd"):
            lines = body.decode("gb18030").splitlines()
            for i, line in enumerate(lines):
                if line.startswith("ID="):
                    fields = dict(part.split("=", 1) for part in line.split("&"))
                    reason = lines[i + 1] if i + 1 < len(lines) and lines[i + 1].startswith("Reason=") else ""
                    out[int(fields["ID"])] = (int(fields["Return"]), reason)
    return out


def test_huge_lines_bad_base64_unknown_and_disabled_commands_get_clear_results(store, scripted, link_for):
    from app.store import Staff

    huge = "C:4:DATA UPDATE USERINFO PIN=9\tName=" + "x" * (6 * 1024 * 1024)
    server = command_server(scripted, [
        "C:1:DATA UPDATE USERINFO PIN=E7\tName=张三\tPri=0", "C:2:DATA UPDATE BIOPHOTO PIN=E7\tType=9\tContent=%%%",
        "C:3:FROBNICATE", huge, "C:5:CLEAR LOG", "C:6:SET OPTION DateTime=123", "C:7:SET OPTION Delay=abc",
        "C:8:SET OPTION Delay=2", "not a command", "C:9:DATA UPDATE USERINFO Name=nobody"])
    link = link_for(server.url)
    assert link.handshake() and link.poll()
    got = results(server)
    assert got[1][0] == 0 and got[2][0] == -1002 and "base64" in got[2][1]
    assert got[3][0] == -1004 and got[4][0] == -1006
    assert got[5][0] < 0 and "not enabled" in got[5][1]
    assert got[6][0] == -1004 and got[7][0] == -1002 and got[8][0] == 0 and got[9][0] == -1002
    assert link._delay() == 2.0
    with store.session() as s:
        assert s.query(Staff).filter_by(staff_no="E7").one().name == "张三"
    assert link.commands_received == 9 and link.status()["results"][0]["id"] == 9


def test_reboot_restarts_only_after_its_result_reached_the_server(store, scripted, link_for):
    restarted = []
    server = command_server(scripted, ["C:11:REBOOT"])
    link = link_for(server.url)

    def restart():
        restarted.append(results(server).get(11))
    link.restart = restart
    assert link.handshake() and link.poll()
    assert restarted == [(0, "")]


def test_results_that_could_not_be_posted_are_posted_before_the_next_poll(store, scripted, link_for):
    state = {"down": True}
    queue = ["C:21:DATA UPDATE USERINFO PIN=E9\tName=李四"]

    def answer(method, path, params, body):
        if method == "GET" and path.endswith("/cdata"):
            return 200, HANDSHAKE, 0
        if path.endswith("/getrequest"):
            out = "\n".join(queue) or "OK"
            queue.clear()
            return 200, out, 0
        if path.endswith("/devicecmd") and state["down"]:
            return 503, "busy", 0
        return 200, "OK", 0
    server = scripted(answer)
    link = link_for(server.url)
    assert link.handshake() and not link.poll()
    assert results(server) == {21: (0, "")}   # tried, refused with 503: kept
    state["down"] = False
    assert link.poll()
    posts = [r for r in server.requests if r[1].endswith("/devicecmd")]
    assert len(posts) == 2 and posts[0][3] == posts[1][3]   # the same result again, run once


def test_settings_apply_live_a_new_url_means_a_new_handshake(store, scripted, link_for, make_config):
    first = command_server(scripted, [])
    second = command_server(scripted, [])
    link = link_for(first.url)
    link.start()
    wait_for(lambda: link.last_handshake is not None, 30, 0.05)
    config = make_config(device={"timezone": "Asia/Shanghai"},
                         push={"adms_url": second.url, "adms_serial": "", "adms_retry_seconds": 0.2})
    link.follow_adms_settings(config)
    wait_for(lambda: any(r[1].endswith("/cdata") and r[0] == "GET" for r in second.requests), 30, 0.05)
    assert second.requests[0][2]["SN"] == "DAKADEFAULT" and link.status()["serial"] == "DAKADEFAULT"


def test_an_answer_longer_than_allowed_is_cut_and_its_last_command_refused(store, scripted, link_for):
    server = command_server(scripted, ["C:31:DATA UPDATE USERINFO PIN=E31\tName=王五",
                                       "C:32:DATA UPDATE USERINFO PIN=E32\tName=" + "x" * 300_000])
    link = link_for(server.url)
    link.MAX_ANSWER = 100_000
    assert link.handshake() and link.poll()
    got = results(server)
    assert got[31][0] == 0 and got[32][0] == -1006 and "cut at" in got[32][1]


def test_operlog_user_lines_for_staff_changes_oplog_for_admin_actions(store, scripted, link_for):
    with store.session() as s:
        s.add(Staff(staff_no="E50", name="赵六"))
        store.audit(s, "admin", "create_staff", staff_no="E50", name="赵六")
        store.audit(s, "admin", "login")
        store.audit(s, "adms", "edit_staff", staff_no="E50")        # the server's own change: not echoed
        store.audit(s, "scheduler", "retention", deleted=0)          # not an admin action Daka reports
    data = AdmsData(store, lambda: "Asia/Shanghai")
    batch = data.operlog_after(0, 100)
    assert batch.rows == 4 and batch.last_id == data.max_audit_id()
    kinds = [line.split("\t")[0] for line in batch.lines]
    assert kinds == ["OPLOG 30", "USER PIN=E50", "OPLOG 4"]
    assert batch.lines[1].startswith("USER PIN=E50\tName=赵六\tPri=0")
    assert len(batch.lines[0].split("\t")) == 7   # op, admin, time, object, three params

    server = command_server(scripted, [])
    link = link_for(server.url)
    assert link.handshake() and link.upload()
    assert server.posted("OPERLOG")[-1].splitlines() == batch.lines
    assert data.cursor("OPERLOG") == batch.last_id


def test_without_realtime_uploads_wait_for_the_interval_or_a_log_command(store, scripted, link_for):
    def answer(method, path, params, body):
        if method == "GET" and path.endswith("/cdata"):
            return 200, "ATTLOGStamp=None\nOPERLOGStamp=None\nRealtime=0\nTransInterval=30\nDelay=1\n", 0
        if path.endswith("/getrequest"):
            return 200, "C:41:LOG", 0
        return 200, "OK", 0
    server = scripted(answer)
    add_punches(store, 2)
    link = link_for(server.url, adms_tables="ATTLOG")
    assert link.handshake() and not link._realtime()
    assert not link._upload_due()            # 30 minutes not over
    assert link.poll() and results(server)[41][0] == 0
    assert link._upload_due() and link.upload() and link.data.cursor("ATTLOG") == 2
    now = time.monotonic()
    assert not _crossed((), now - 60, now)


@pytest.mark.postgres
def test_a_punch_committed_late_with_a_smaller_id_is_not_skipped(postgres_server, make_config, instance):
    """PostgreSQL: a transaction holding id 1 commits after id 2; the cursor waits for it."""
    from app.store import Punch, open_store

    store = open_store(make_config(), instance, url=postgres_server.create_database("adms_gap"))
    try:
        data = AdmsData(store, lambda: "Asia/Shanghai")
        at = dt.datetime(2026, 12, 1, 1, 0)

        def punch(no):
            return Punch(uuid=uuid.uuid4(), staff_no=no, name="x", punched_at=at, local_date=at.date(),
                         device_id="d", source="face")
        with store.session() as slow:
            first = punch("LATE")
            slow.add(first)
            slow.flush()                      # id 1 taken, not committed
            with store.session() as fast:
                fast.add(punch("EARLY"))      # id 2, committed now
            batch = data.punches_after(0, 10)
            assert batch.rows == 0 and batch.last_id == 0   # id 2 is young and 1 is missing: wait
        batch = data.punches_after(0, 10)
        assert [line.split("\t")[0] for line in batch.lines] == ["LATE", "EARLY"] and batch.last_id == 2
        # an old hole (a punch deleted, an id a replay used up) does not hold the link forever
        with store.session() as s:
            s.add(punch("AFTER-HOLE"))
            s.flush()
            s.delete(s.get(Punch, 2))
        later = dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(minutes=1)
        assert data.punches_after(1, 10).rows == 0
        assert [line.split("\t")[0] for line in data.punches_after(1, 10, now=later).lines] == ["AFTER-HOLE"]
    finally:
        store.dispose()


def test_beside_the_webhook_from_the_same_punches_neither_holds_the_other_back(store, scripted, make_config,
                                                                                 instance):
    """Webhook down: ADMS gets the punches; ADMS down: the webhook does; both get all of them, once each."""
    adms_up = {"on": False}

    def answer(method, path, params, body):
        if not adms_up["on"]:
            return 503, "maintenance", 0
        if method == "GET" and path.endswith("/cdata"):
            return 200, HANDSHAKE, 0
        return 200, "OK", 0
    server = scripted(answer)
    webhook = Receiver(fail=lambda n: n <= 2)    # the HR webhook fails its first two requests
    try:
        config = make_config(device={"timezone": "Asia/Shanghai"}, attendance={"dedupe_seconds": 0},
                             push={"webhook_url": webhook.url, "secret": SECRET, "backoff_base_seconds": 0.01,
                                   "backoff_max_seconds": 0.02, "adms_url": server.url, "adms_serial": "BOTH1",
                                   "adms_retry_seconds": 0.2, "adms_tables": "ATTLOG"})
        attendance = open_attendance(config, instance, store)
        link = AdmsLink(store, config, journal=attendance.journal)
        uuids = [str(attendance.clockin.confirm(Candidate(i, f"W{i}", "x", 0.9)).punch.uuid) for i in range(1, 6)]
        attendance.flusher.flush()
        attendance.pusher.deliver()               # refused: waits in the outbox
        assert webhook.punches == [] and attendance.pusher.backlog().pending == 5
        adms_up["on"] = True
        assert link.handshake() and link.upload()   # ADMS does not wait for the webhook
        assert server.posted("ATTLOG")[-1].split("\n")[0].split("\t")[0] == "W1"
        adms_up["on"] = False
        wait_for(lambda: attendance.pusher.deliver() >= 0 and attendance.pusher.backlog().pending == 0, 30, 0.05)
        assert [p["uuid"] for p in webhook.punches] == uuids
        assert [line.split("\t")[0] for line in server.posted("ATTLOG")[-1].splitlines()] == [f"W{i}" for i in range(1, 6)]
        assert link.data.cursor("ATTLOG") == link.data.max_punch_id()
        attendance.journal.close()
    finally:
        webhook.close()

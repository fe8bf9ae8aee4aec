"""Every setting the admin's page offers reaches the running terminal.

A real Terminal (store on a tmp_path instance, scheduler, ClockInService, push worker, mock
GPIO, a test camera) runs with the real admin on waitress on a loopback port, wired as
`daka run` wires it; the test saves settings through the settings page with a real HTTP client
and looks at the running services: the scheduler's jobs, punches confirmed and flushed, HR
deliveries, the door relay, and for time zone and language what the kiosk window shows.
"""

from __future__ import annotations

import datetime as dt
import http.cookiejar
import re
import urllib.error
import urllib.parse
import urllib.request
import uuid
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from tests.helpers.hr_receiver import SECRET
from tests.helpers.kiosk_window import MOCK_PINS, Kiosk, configure
from tests.helpers.waiting import wait_for

configure()   # before anything imports Kivy (the kiosk tests below open the window)

PASSWORD = "correct horse 1"
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
DEADLINE = 20.0   # generous: two busy cores must not fail a test that waits for a condition


class AdminBrowser:
    """An admin signed in to the terminal's admin over real HTTP (cookies, CSRF tokens)."""

    def __init__(self, base: str):
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        token = self._token("/login")
        self.post("/login", {"username": "admin", "password": PASSWORD, "csrf_token": token})

    def get(self, path: str) -> str:
        with self.opener.open(self.base + path, timeout=30) as reply:
            return reply.read().decode()

    def _token(self, path: str) -> str:
        match = CSRF_RE.search(self.get(path))
        assert match, f"no CSRF token on {path}"
        return match.group(1)

    def post(self, path: str, form: dict, page: str | None = None) -> str:
        form = dict(form)
        form.setdefault("csrf_token", self._token(page or path))
        data = urllib.parse.urlencode(form).encode()
        with self.opener.open(self.base + path, data=data, timeout=30) as reply:   # follows the 302
            return reply.read().decode()

    def save(self, key: str, value) -> str:
        """Save one setting on the settings page, as an admin typing it in would."""
        page = self.post("/settings/", {key: str(value)})
        assert "已保存" in page or "Saved" in page, page[:2000]   # the page follows device.language
        return page


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def live(make_config, instance, models):
    """build(**sections): a started terminal with the admin served as `daka run` serves it, and
    a signed-in AdminBrowser. Config defaults here: flush every 600 s, no retention, no push."""
    made = []

    def build(**sections):
        from admin.auth.users import create_user
        from admin.server import AdminServer
        from app.kiosk.runner import extra_services
        from app.hardware.gpio import make_pin_factory
        from app.services.terminal import Terminal

        attendance = {"flush_seconds": 600, **sections.pop("attendance", {})}
        storage = {"retention_days": 0, **sections.pop("storage", {})}
        # the retention job also runs for stranger/spoof records (issue 25): none kept here either
        records = {"face_event_days": 0, **sections.pop("records", {})}
        gpio = {**MOCK_PINS, **sections.pop("gpio", {})}
        admin = {"host": "127.0.0.1", "port": free_port(), **sections.pop("admin", {})}
        config = make_config(camera={"source": "test://?width=320&height=240&fps=5"}, gpio=gpio,
                             attendance=attendance, storage=storage, admin=admin, records=records, **sections)
        terminal = Terminal(config, instance, models=models, pin_factory=make_pin_factory("mock"))
        made.append(terminal)
        # the runner's own wiring of the admin into the terminal, on a free loopback port
        (server,) = extra_services(terminal, config, instance)
        assert isinstance(server, AdminServer)
        terminal.add_service(server)
        create_user(terminal.store, "admin", PASSWORD, "admin", actor="test")
        terminal.start()
        return terminal, AdminBrowser(server.url)
    yield build
    for t in made:
        t.stop()


def add_staff(terminal, staff_no="E001", name="张三"):
    from app.services.events import StaffCard
    from app.store import Staff

    with terminal.store.session() as s:
        st = Staff(staff_no=staff_no, name=name)
        s.add(st)
        s.flush()
        return StaffCard(st.id, st.staff_no, st.name, None)


def stored_punches(terminal, source=None):
    from app.store import Punch

    with terminal.store.session() as s:
        q = select(Punch.uuid, Punch.local_date, Punch.source)
        return s.execute(q.where(Punch.source == source) if source else q).all()


def outbox_count(terminal):
    from app.store import OutboxItem

    with terminal.store.session() as s:
        return s.scalar(select(func.count()).select_from(OutboxItem))


def jobs(terminal) -> dict:
    return {job.id: job for job in terminal.scheduler.get_jobs()}


# -- one test per key offered on the settings page ----------------------------------------------

def test_device_name(live):
    terminal, admin = live(device={"name": "Daka-01"})
    admin.save("device.name", "大门东侧")
    # the status the admin and the kiosk's status bar read (test_kiosk_follows_... shows it)
    assert terminal.device_name == "大门东侧" and terminal.status()["device_name"] == "大门东侧"


def test_recognition_threshold(live):
    from app.services.settings import threshold_key

    terminal, admin = live()
    key = threshold_key(terminal.config.vision.embedder)   # the page offers this one
    assert f'name="{key}"' in admin.get("/settings/")
    admin.save(key, 0.91)
    assert terminal.pipeline.rule.threshold == 0.91


def test_confirm_seconds(live):
    terminal, admin = live(attendance={"confirm_seconds": 8})
    admin.save("attendance.confirm_seconds", 17)
    assert terminal.confirm_seconds == 17   # the kiosk's flow takes it (test_kiosk_follows_...)


def test_dedupe_seconds(live):
    terminal, admin = live(attendance={"dedupe_seconds": 3600})
    card = add_staff(terminal)
    assert terminal.confirm(card, 0.95).result(timeout=10).recorded
    assert not terminal.confirm(card, 0.95).result(timeout=10).recorded   # within the hour: a repeat
    admin.save("attendance.dedupe_seconds", 0)
    assert terminal.confirm(card, 0.95).result(timeout=10).recorded       # no window any more


def test_flush_seconds(live):
    from app.attendance.scheduler import FLUSH_JOB

    terminal, admin = live()   # flush every 600 s
    card = add_staff(terminal)
    punch = terminal.confirm(card, 0.95).result(timeout=10).punch
    assert terminal.attendance.journal.pending_count() == 1 and not stored_punches(terminal)
    admin.save("attendance.flush_seconds", 1)
    assert jobs(terminal)[FLUSH_JOB].trigger.interval == dt.timedelta(seconds=1)
    # the scheduler's own flush job stores the punch, long before the old 600 s
    wait_for(lambda: [p.uuid for p in stored_punches(terminal)] == [punch.uuid], timeout=DEADLINE)


def test_retention_days(live):
    from app.attendance.scheduler import RETENTION_JOB
    from app.store import Punch

    terminal, admin = live(storage={"retention_days": 0, "retention_time": "04:10"})
    assert RETENTION_JOB not in jobs(terminal)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    with terminal.store.session() as s:
        for age in (400, 2):
            s.add(Punch(uuid=uuid.uuid4(), staff_id=None, staff_no=f"A{age}", name="旧", device_id="t",
                        punched_at=now - dt.timedelta(days=age), local_date=(now - dt.timedelta(days=age)).date(),
                        score=None, source="face"))
    admin.save("storage.retention_days", 30)
    job = jobs(terminal).get(RETENTION_JOB)
    assert job is not None, "retention_days > 0 in the admin must schedule the retention job"
    local_next = job.next_run_time.astimezone(ZoneInfo(terminal.config.device.timezone))
    assert (local_next.hour, local_next.minute) == (4, 10)
    terminal.scheduler.run_now(RETENTION_JOB)   # the job as scheduled, run now rather than at 04:10

    def left():
        with terminal.store.session() as s:
            return s.scalars(select(Punch.staff_no)).all()
    wait_for(lambda: left() == ["A2"], timeout=DEADLINE)
    admin.save("storage.retention_days", 0)
    assert RETENTION_JOB not in jobs(terminal)


def test_push_webhook_url_switches_push_on_and_off(live, receiver):
    from app.attendance.scheduler import PUSH_JOB

    terminal, admin = live(push={"webhook_url": "", "secret": SECRET, "poll_seconds": 0.2},
                           attendance={"dedupe_seconds": 0})
    card = add_staff(terminal)
    assert PUSH_JOB not in jobs(terminal)

    admin.save("push.webhook_url", receiver.url)
    assert PUSH_JOB in jobs(terminal) and terminal.status()["push_enabled"]
    face = terminal.confirm(card, 0.95).result(timeout=10).punch
    terminal.attendance.flusher.flush()   # what the flush job does
    # a make-up approved in the admin follows the same rule as the face punch
    admin.post("/makeup/", {"staff_no": "E001", "time": "2026-01-05 08:30", "reason": "忘记打卡"})
    admin.post("/makeup/1/approve", {}, page="/makeup/")
    made_up = stored_punches(terminal, "makeup")
    assert len(made_up) == 1
    wait_for(lambda: {p["uuid"] for p in receiver.punches} == {str(face.uuid), str(made_up[0].uuid)},
             timeout=DEADLINE)

    admin.save("push.webhook_url", "")
    assert PUSH_JOB not in jobs(terminal) and not terminal.status()["push_enabled"]
    queued = outbox_count(terminal)
    terminal.confirm(card, 0.95).result(timeout=10)
    terminal.attendance.flusher.flush()
    admin.post("/makeup/", {"staff_no": "E001", "time": "2026-01-06 08:30", "reason": "忘记打卡"})
    admin.post("/makeup/2/approve", {}, page="/makeup/")
    assert len(stored_punches(terminal)) == 4
    assert outbox_count(terminal) == queued, "punches stored while push is off must not be queued for HR"


def test_push_secret(live, receiver):
    terminal, admin = live(push={"webhook_url": receiver.url, "secret": "wrong", "poll_seconds": 0.2,
                                 "backoff_base_seconds": 0.05, "backoff_max_seconds": 0.2})
    card = add_staff(terminal)
    punch = terminal.confirm(card, 0.95).result(timeout=10).punch
    terminal.attendance.flusher.flush()
    wait_for(lambda: receiver.bad_signatures >= 1, timeout=DEADLINE)   # refused: the wrong secret
    admin.post("/settings/", {"push.secret": SECRET})
    wait_for(lambda: [p["uuid"] for p in receiver.punches] == [str(punch.uuid)], timeout=DEADLINE)


def test_relay_mode(live):
    terminal, admin = live(gpio={"relay_mode": "off"})
    relay = terminal.gpio.factory.pin(MOCK_PINS["relay_pin"])
    before = len(relay.states)
    admin.save("gpio.relay_mode", "pulse")
    terminal.feedback("success")
    wait_for(lambda: any(s.state for s in relay.states[before:]), timeout=DEADLINE)


def test_timezone_reaches_punches_hr_and_the_schedule(live, receiver):
    from app.attendance.scheduler import RETENTION_JOB

    terminal, admin = live(device={"timezone": "Asia/Shanghai"},
                           storage={"retention_days": 30, "retention_time": "03:30"},
                           push={"webhook_url": receiver.url, "secret": SECRET, "poll_seconds": 0.2})
    card = add_staff(terminal)
    admin.save("device.timezone", "America/New_York")   # 12 or 13 hours from Shanghai
    zone = ZoneInfo("America/New_York")
    result = terminal.confirm(card, 0.95).result(timeout=10)
    assert result.recorded
    local = result.punch.punched_at.astimezone(zone)
    assert (result.punch.local_date, result.punch.local_time) == (local.date(), local.strftime("%H:%M:%S"))
    # HR receives the punch's local time in the new zone
    terminal.attendance.flusher.flush()
    wait_for(lambda: len(receiver.punches) == 1, timeout=DEADLINE)
    sent = receiver.punches[0]
    assert (sent["local_date"], sent["local_time"]) == (local.date().isoformat(), local.strftime("%H:%M:%S"))
    # the retention job runs at 03:30 New York time now
    job = jobs(terminal)[RETENTION_JOB]
    assert str(job.trigger.timezone) == "America/New_York"
    local_next = job.next_run_time.astimezone(zone)
    assert (local_next.hour, local_next.minute) == (3, 30)


def test_stored_settings_override_the_file_after_a_restart(live, make_config, instance, models):
    """A terminal started over an instance whose admin changed settings runs with them."""
    from app.attendance.scheduler import FLUSH_JOB, PUSH_JOB, RETENTION_JOB
    from app.hardware.gpio import make_pin_factory
    from app.services.terminal import Terminal

    terminal, admin = live()
    for key, value in (("attendance.flush_seconds", 7), ("storage.retention_days", 30),
                       ("push.webhook_url", "http://127.0.0.1:9/hr"), ("device.timezone", "Europe/Berlin"),
                       ("device.language", "en"), ("device.name", "后门"), ("attendance.dedupe_seconds", 11)):
        admin.save(key, value)
    terminal.stop()
    # the same daka.toml (flush 600 s, no retention, no push) on the next start
    config = make_config(camera={"source": "none"}, gpio={"enabled": False},
                         attendance={"flush_seconds": 600}, storage={"retention_days": 0})
    again = Terminal(config, instance, models=models, pin_factory=make_pin_factory("mock"))
    try:
        found = jobs(again)
        assert found[FLUSH_JOB].trigger.interval == dt.timedelta(seconds=7)
        assert RETENTION_JOB in found and PUSH_JOB in found and again.attendance.flusher.push_enabled
        assert str(again.attendance.clockin.tz) == "Europe/Berlin" == str(found[RETENTION_JOB].trigger.timezone)
        assert again.language == "en" and again.device_name == "后门"
        assert again.attendance.clockin.dedupe == dt.timedelta(seconds=11)
        assert again.config.device.timezone == "Europe/Berlin"   # what the kiosk reads at start
    finally:
        again.stop()


def test_use_the_file_value_again(live):
    from app.attendance.scheduler import FLUSH_JOB

    terminal, admin = live()
    admin.save("attendance.flush_seconds", 3)
    page = admin.get("/settings/")
    assert "配置文件: 600" in page and 'value="attendance.flush_seconds"' in page
    page = admin.post("/settings/", {"reset": "attendance.flush_seconds"})
    assert "已恢复配置文件的值" in page and "配置文件: 600" not in page
    assert jobs(terminal)[FLUSH_JOB].trigger.interval == dt.timedelta(seconds=600)
    with pytest.raises(urllib.error.HTTPError) as refused:   # not a key of the page: refused
        admin.post("/settings/", {"reset": "storage.database_url"}, page="/settings/")
    refused.value.close()
    assert refused.value.code == 400


def test_a_change_from_another_process_is_applied_by_the_watcher(live, make_config, instance):
    """A separate `daka admin serve` writes through its own store: the terminal's settings
    watcher notices it and its subscription applies it."""
    from app.attendance.scheduler import FLUSH_JOB
    from app.services.settings import SettingsService
    from app.store import open_store

    terminal, _admin = live()
    other = open_store(make_config(), instance)
    try:
        SettingsService(other, make_config()).set("attendance.flush_seconds", 2, actor="admin:other")
        wait_for(lambda: jobs(terminal)[FLUSH_JOB].trigger.interval == dt.timedelta(seconds=2),
                 timeout=DEADLINE)
    finally:
        other.dispose()


def test_every_offered_key_has_an_applier(live):
    """A key the admin can change without an applier would be stored and silently do nothing:
    the page offers exactly the registry's keys (of the decision rules, the embedder in use's),
    and each has a live applier or says it applies at the next start."""
    from app.services.settings import REGISTRY, RESTART, RUNTIME_KEYS

    terminal, admin = live()
    offered = set(re.findall(r'name="([a-z_]+\.[a-z_]+)"', admin.get("/settings/")))
    embedder = terminal.config.vision.embedder
    assert offered == {k for k, s in REGISTRY.items() if s.embedder is None or s.embedder[0] == embedder}
    assert set(REGISTRY) == set(RUNTIME_KEYS)
    for setting in REGISTRY.values():
        assert callable(setting.apply) or setting.apply == RESTART, setting.key


# -- what the kiosk shows ----------------------------------------------------------------------

@pytest.fixture
def font():
    from app.fonts import find_cjk_font

    return find_cjk_font()


def status_bar_texts(kiosk) -> list[str]:
    from kivy.uix.label import Label

    return [w.text for w in kiosk.app.manager.current_screen.walk() if isinstance(w, Label)]


def test_kiosk_follows_language_and_time_zone(live, font):
    from app.kiosk.flow import FlowTimes

    terminal, admin = live(device={"language": "zh_CN", "timezone": "Asia/Shanghai"},
                           attendance={"confirm_seconds": 8})
    kiosk = Kiosk(terminal, font, FlowTimes(confirm_s=8, idle_s=600))
    try:
        kiosk.pump_until(lambda: any("已同步" in t for t in status_bar_texts(kiosk)), what="the status bar")

        admin.save("device.language", "en")
        kiosk.pump_until(lambda: any("Synced" in t for t in status_bar_texts(kiosk))
                         and not any("已同步" in t for t in status_bar_texts(kiosk)),
                         timeout=DEADLINE, what="English on the kiosk")

        def clock_shows(zone):
            texts = status_bar_texts(kiosk)
            now = dt.datetime.now(ZoneInfo(zone))
            shown = {(now + dt.timedelta(minutes=d)).strftime("%H:%M ") for d in (-1, 0)}
            return any(t.startswith(s) for t in texts for s in shown)

        assert clock_shows("Asia/Shanghai")
        admin.save("device.timezone", "America/New_York")
        kiosk.pump_until(lambda: clock_shows("America/New_York"), timeout=DEADLINE,
                         what="New York time on the kiosk's clock")

        admin.save("device.name", "大门东侧")
        kiosk.pump_until(lambda: "大门东侧" in status_bar_texts(kiosk), timeout=DEADLINE,
                         what="the device name in the status bar")

        admin.save("attendance.confirm_seconds", 21)
        kiosk.pump_until(lambda: kiosk.app.flow.times.confirm_s == 21, timeout=DEADLINE,
                         what="the confirm card's timeout")
    finally:
        kiosk.close()


def test_the_admin_runs_the_configured_web_server_threads(live):
    """[admin] threads reaches the admin that `daka run` serves (it always ran 8), and the live
    feed's stream cap follows it (half of them)."""
    terminal, browser = live(admin={"threads": 4})
    (server,) = [s for s in terminal.services if type(s).__name__ == "AdminServer"]
    assert server._server.adj.threads == 4
    assert server.app.extensions["daka_sse_slots"].limit == 2
    assert "Daka" in browser.get("/") or "打卡" in browser.get("/")


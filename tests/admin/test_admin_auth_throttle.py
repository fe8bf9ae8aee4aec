"""Sign-in throttling: counted when an attempt starts (races cannot check more passwords), per
name and address with backoff (no account lock an attacker can hold), one answer for every failure."""

from __future__ import annotations

import datetime as dt

import pytest
from tests.helpers.admin_app import ADMIN_PW, VIEWER_PW, build_app, csrf_token
import requests
from tests.helpers.auth_http import CSRF_RE, all_at_once, client, served
from requests.adapters import HTTPAdapter
from sqlalchemy import select

ATTACKER, OFFICE = "10.0.0.66", "10.0.0.5"


class FromAddress(HTTPAdapter):
    """Connect from another loopback address (127.0.0.2 ...), as a second machine would."""

    def __init__(self, source: str):
        self.source = source
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):
        kwargs["source_address"] = (self.source, 0)
        super().init_poolmanager(*args, **kwargs)


@pytest.fixture
def long_first_wait(monkeypatch):
    """The first wait past the free attempts made 10 minutes (it is 2 s): a loaded machine cannot
    let it pass between the attempts of a test."""
    from admin.auth import throttle

    monkeypatch.setattr(throttle, "FIRST_WAIT_S", 600.0)


def _login_from(app, address: str, username: str, password: str):
    c = app.test_client()
    c.environ_base["REMOTE_ADDR"] = address
    token = csrf_token(c)
    return c.post("/login", data={"username": username, "password": password, "csrf_token": token})


def _row(store, username: str, address: str):
    from app.store import LoginThrottle

    with store.session() as s:
        return s.execute(select(LoginThrottle.failures, LoginThrottle.not_before)
                         .where(LoginThrottle.username == username, LoginThrottle.address == address)).first()


def test_concurrent_wrong_passwords_check_no_more_than_allowed(admin_config, instance, store, long_first_wait):
    """The review's lock_race.py on a served admin: 16 wrong passwords at once from one address."""
    from admin.auth.users import create_user

    create_user(store, "racer", ADMIN_PW, "admin", actor="test")
    app = build_app(admin_config(admin={"login_attempts": 10}), instance, store)  # the address allows 20
    with served(app, threads=8) as base:
        clients = [client(base) for _ in range(16)]

        def attempt(i):
            s, token = clients[i]
            r = s.post(base + "/login", data={"csrf_token": token, "username": "racer", "password": f"wrong{i}"},
                       allow_redirects=False, timeout=60)
            return r.status_code

        statuses = all_at_once([lambda i=i: attempt(i) for i in range(16)])
        assert sorted(statuses) == [401] * 10 + [429] * 6, statuses
        failures, not_before = _row(store, "racer", "127.0.0.1")
        assert failures == 10 and not_before is not None
        # the real password from this address waits its turn too ...
        s, token = client(base)
        r = s.post(base + "/login", data={"csrf_token": token, "username": "racer", "password": ADMIN_PW},
                   allow_redirects=False, timeout=60)
        assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
        # ... but the same account from another machine signs in at once
        office = requests.Session()
        office.mount("http://", FromAddress("127.0.0.2"))
        token = CSRF_RE.search(office.get(base + "/login", timeout=30).text).group(1)
        r = office.post(base + "/login", data={"csrf_token": token, "username": "racer", "password": ADMIN_PW},
                        allow_redirects=False, timeout=60)
        assert r.status_code == 302, r.status_code
        office.close()


def test_concurrent_attempts_on_many_names_are_capped_per_address(admin_config, instance, sqlite_store):
    app = build_app(admin_config(admin={"login_attempts": 3}), instance, sqlite_store)
    from admin.auth.users import create_user

    create_user(sqlite_store, "admin", ADMIN_PW, "admin", actor="test")
    with served(app) as base:
        clients = [client(base) for _ in range(12)]

        def attempt(i):
            s, token = clients[i]
            return s.post(base + "/login", data={"csrf_token": token, "username": f"name{i}", "password": "x"},
                          allow_redirects=False, timeout=60).status_code

        statuses = all_at_once([lambda i=i: attempt(i) for i in range(12)])
    assert sorted(statuses) == [401] * 6 + [429] * 6, statuses  # twice the free attempts of one name


@pytest.fixture
def policy():
    from admin.auth.throttle import Policy

    return Policy(free_attempts=3, max_wait=dt.timedelta(minutes=15))


def test_backoff_doubles_up_to_the_cap_and_a_success_clears_it(store, policy):
    from admin.auth import throttle

    t = dt.datetime(2026, 12, 1, 8, 0, 0)
    for n in (1, 2, 3):
        a = throttle.begin(store, "admin", ATTACKER, policy, now=t)
        assert a.allowed and a.counted == n
    waits = []
    for _ in range(12):
        refused = throttle.begin(store, "admin", ATTACKER, policy, now=t)
        assert not refused.allowed
        waits.append(refused.retry_after_s)
        early = t + dt.timedelta(seconds=refused.retry_after_s - 0.5)
        assert not throttle.begin(store, "admin", ATTACKER, policy, now=early).allowed
        t += dt.timedelta(seconds=refused.retry_after_s)
        assert throttle.begin(store, "admin", ATTACKER, policy, now=t).allowed
    assert waits[:6] == [2.0, 4.0, 8.0, 16.0, 32.0, 64.0]
    assert waits[-1] == 15 * 60.0
    # another address, and another name, are not slowed down
    assert throttle.begin(store, "admin", OFFICE, policy, now=t).counted == 1
    assert throttle.begin(store, "hr", ATTACKER, policy, now=t).counted == 1
    throttle.succeeded(store, "admin", ATTACKER)
    assert throttle.begin(store, "admin", ATTACKER, policy, now=t).counted == 1


def test_failures_are_forgotten_after_a_quiet_day(store, policy):
    from admin.auth import throttle

    t = dt.datetime(2026, 12, 1, 8, 0, 0)
    for _ in range(3):
        throttle.begin(store, "admin", ATTACKER, policy, now=t)
    assert not throttle.begin(store, "admin", ATTACKER, policy, now=t).allowed
    later = t + throttle.QUIET_RESET + dt.timedelta(seconds=1)
    assert throttle.begin(store, "admin", ATTACKER, policy, now=later).counted == 1
    # counting a new pair sweeps away the rows of pairs quiet for that long
    throttle.begin(store, "ghost", ATTACKER, policy, now=t)
    throttle.begin(store, "other", OFFICE, policy, now=later + throttle.QUIET_RESET)
    assert _row(store, "ghost", ATTACKER) is None


def test_one_answer_for_every_failure_and_the_same_throttle_for_unknown_names(admin_config, instance, sqlite_store,
                                                                              long_first_wait):
    """No answer tells whether a name exists: wrong password, unknown name, deactivated account;
    and a real account is throttled exactly as an unknown name is (no "account locked")."""
    from admin.auth.users import create_user, set_active

    create_user(sqlite_store, "admin", ADMIN_PW, "admin", actor="test")
    create_user(sqlite_store, "boss", ADMIN_PW, "admin", actor="test")
    gone = create_user(sqlite_store, "gone", VIEWER_PW, "viewer", actor="test")
    set_active(sqlite_store, gone, False, "test")
    app = build_app(admin_config(admin={"login_attempts": 3}), instance, sqlite_store)
    answers = {}
    for name, password, address in (("admin", "wrong", "10.0.0.1"), ("nobody", "wrong", "10.0.0.2"),
                                    ("gone", VIEWER_PW, "10.0.0.3")):
        seen = []
        for _ in range(4):
            r = _login_from(app, address, name, password)
            page = CSRF_RE.sub("", r.get_data(as_text=True))  # each client its own token
            seen.append((r.status_code, page.replace(f'value="{name}"', 'value=""')))  # and the name it typed
        answers[name] = seen
    assert answers["admin"] == answers["nobody"] == answers["gone"]
    assert [status for status, _ in answers["admin"]] == [401, 401, 401, 429]
    assert "用户名或密码错误" in answers["admin"][0][1] and "尝试次数过多" in answers["admin"][3][1]


def test_an_attackers_failures_do_not_keep_the_admin_out(admin_config, instance, sqlite_store, long_first_wait):
    """The old lock: 5 wrong passwords every 15 minutes kept the account closed for everyone."""
    from admin.auth.users import create_user
    from app.store import AuditEntry

    create_user(sqlite_store, "admin", ADMIN_PW, "admin", actor="test")
    app = build_app(admin_config(), instance, sqlite_store)
    statuses = [_login_from(app, ATTACKER, "admin", f"guess{i}").status_code for i in range(8)]
    assert statuses == [401] * 5 + [429] * 3
    assert _login_from(app, ATTACKER, "admin", ADMIN_PW).status_code == 429  # that address waits
    assert _login_from(app, OFFICE, "admin", ADMIN_PW).status_code == 302     # the admin does not
    with sqlite_store.session() as s:
        throttled = list(s.scalars(select(AuditEntry.detail).where(AuditEntry.action == "login_throttled")))
    assert len(throttled) == 1 and ATTACKER in throttled[0]


def test_the_address_window_slides_and_forgets_quiet_addresses():
    from admin.security import AddressThrottle

    now = [0.0]
    limiter = AddressThrottle(2, window_seconds=300.0, clock=lambda: now[0])
    assert limiter.admit("a") and limiter.admit("a") and not limiter.admit("a")
    limiter.release("a")                      # a success gives its slot back
    assert limiter.admit("a") and not limiter.admit("a")
    now[0] = 301.0
    assert limiter.admit("a")
    for i in range(AddressThrottle.SWEEP_ABOVE + 10):
        limiter.admit(f"10.1.{i // 256}.{i % 256}")
    now[0] = 700.0
    limiter.admit("b")
    assert set(limiter._attempts) == {"b"}

"""A real admin on waitress (loopback, any free port) and real HTTP clients, for the auth tests."""

from __future__ import annotations

import re
import threading
from contextlib import contextmanager

import requests

CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


@contextmanager
def served(app, threads: int = 8):
    """The app served on 127.0.0.1 until the block ends."""
    from admin.server import AdminServer

    server = AdminServer(app, "127.0.0.1", 0, threads=threads).start()
    try:
        yield server.url
    finally:
        server.stop()


def client(base: str, page: str = "/login") -> tuple[requests.Session, str]:
    """A fresh browser-like session and the CSRF token of ``page``."""
    s = requests.Session()
    r = s.get(base + page, timeout=30)
    m = CSRF_RE.search(r.text)
    assert m, (page, r.status_code)
    return s, m.group(1)


def sign_in(base: str, username: str, password: str) -> requests.Session:
    s, token = client(base)
    r = s.post(base + "/login", data={"csrf_token": token, "username": username, "password": password},
               allow_redirects=False, timeout=30)
    assert r.status_code == 302, (r.status_code, r.text[:300])
    return s


def page_csrf(s: requests.Session, base: str, page: str = "/") -> str:
    r = s.get(base + page, timeout=30)
    m = CSRF_RE.search(r.text)
    assert m, (page, r.status_code)
    return m.group(1)


def all_at_once(jobs) -> list:
    """Run the callables in threads released together by a barrier; their results in order."""
    results: list = [None] * len(jobs)
    errors: list = []
    barrier = threading.Barrier(len(jobs))

    def run(i, job):
        try:
            barrier.wait(timeout=60)
            results[i] = job()
        except BaseException as exc:  # reported to the test below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i, job)) for i, job in enumerate(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads), "a request thread did not finish"
    if errors:
        raise errors[0]
    return results

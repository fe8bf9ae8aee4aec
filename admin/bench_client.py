"""Load generator of `daka bench admin`: N concurrent keep-alive clients, run as its own process.

Two clients, both N concurrent keep-alive connections in this one process, both timing whole
requests (from the first byte sent to the last byte of the body read):

- ``threads``: one thread per client with ``http.client`` (the standard library's full header
  parsing costs much CPU on the cores the server shares);
- ``asyncio``: one coroutine per client on one event loop, a minimal HTTP/1.1 reader (status
  line, Content-Length, the body).

Prints JSON: for each endpoint, requests/s, p50/p95/p99 latency (ms) and errors.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import random
import re
import sys
import threading
import time
from urllib.parse import urlencode, urlsplit

CLIENTS = ("threads", "asyncio")


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))] if ordered else 0.0


def login_cookie(host: str, port: int, user: str, password: str) -> str:
    c = http.client.HTTPConnection(host, port, timeout=30)
    c.request("GET", "/login")
    r = c.getresponse()
    cookie = r.getheader("Set-Cookie", "").split(";")[0]
    token = re.search(r'name="csrf_token" value="([^"]+)"', r.read().decode()).group(1)
    body = urlencode({"username": user, "password": password, "csrf_token": token})
    c.request("POST", "/login", body=body, headers={"Cookie": cookie,
                                                    "Content-Type": "application/x-www-form-urlencoded"})
    r = c.getresponse()
    r.read()
    if r.status != 302:
        raise SystemExit(f"login failed: {r.status}")
    return r.getheader("Set-Cookie").split(";")[0]


def make_request(kind: str, args, cookie: str, rng: random.Random):
    if kind == "attendance_api":
        day = rng.randrange(args.days)
        start = time.strftime("%Y-%m-%d", time.gmtime(args.first_day_epoch + day * 86400))
        if args.range == "hour":
            hour = rng.randrange(7, 20)
            body = {"start_time": f"{start} {hour:02d}:00:00", "end_time": f"{start} {hour:02d}:59:59"}
        else:
            body = {"start_time": f"{start} 00:00:00", "end_time": f"{start} 23:59:59"}
        return "POST", "/api/get_attend_infos", json.dumps(body), {
            "Authorization": f"Bearer {args.token}", "Content-Type": "application/json"}
    return "GET", "/", None, {"Cookie": cookie}


def _summary(latencies: list[float], errors: int, wall: float, clients: int) -> dict:
    return {"clients": clients, "requests": len(latencies), "errors": errors,
            "requests_per_s": round(len(latencies) / wall, 1),
            "p50_ms": round(_percentile(latencies, 0.50), 1), "p95_ms": round(_percentile(latencies, 0.95), 1),
            "p99_ms": round(_percentile(latencies, 0.99), 1)}


def run_threads(kind: str, args, cookie: str, clients: int, total: int) -> dict:
    host, port = urlsplit(args.url).hostname, urlsplit(args.url).port
    latencies: list[float] = []
    errors = [0]
    counter = iter(range(total))
    lock = threading.Lock()

    def client(seed: int):
        rng = random.Random(seed)
        conn = http.client.HTTPConnection(host, port, timeout=60)
        while True:
            with lock:
                if next(counter, None) is None:
                    break
            method, path, body, headers = make_request(kind, args, cookie, rng)
            t0 = time.perf_counter()
            try:
                conn.request(method, path, body=body, headers=headers)
                r = conn.getresponse()
                r.read()
                ok = r.status == 200
            except (OSError, http.client.HTTPException):
                ok = False
                conn.close()
                conn = http.client.HTTPConnection(host, port, timeout=60)
            elapsed = (time.perf_counter() - t0) * 1000.0
            with lock:
                latencies.append(elapsed)
                errors[0] += not ok
        conn.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return _summary(latencies, errors[0], time.perf_counter() - t0, clients)


class BadResponse(Exception):
    pass


def encode_request(method: str, path: str, host: str, body: str | None, headers: dict) -> bytes:
    data = body.encode() if body is not None else b""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(data)}",
             *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + data


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """(status, body) of one HTTP/1.1 response that has a Content-Length (the server's always do)."""
    head = await reader.readuntil(b"\r\n\r\n")
    status_line, _, fields = head.partition(b"\r\n")
    parts = status_line.split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
        raise BadResponse(status_line[:80])
    length = None
    for line in fields.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    if length is None:
        raise BadResponse("no Content-Length")
    return int(parts[1]), await reader.readexactly(length)


async def _run_asyncio(kind: str, args, cookie: str, clients: int, total: int) -> dict:
    parts = urlsplit(args.url)
    host, port = parts.hostname, parts.port
    latencies: list[float] = []
    errors = 0
    left = total

    async def client(seed: int):
        nonlocal errors, left
        rng = random.Random(seed)
        reader, writer = await asyncio.open_connection(host, port)
        while left > 0:
            left -= 1  # one event loop: no lock needed
            method, path, body, headers = make_request(kind, args, cookie, rng)
            request = encode_request(method, path, parts.netloc, body, headers)
            t0 = time.perf_counter()
            try:
                writer.write(request)
                status, _ = await asyncio.wait_for(read_response(reader), 60)
                ok = status == 200
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, asyncio.TimeoutError,
                    BadResponse, ValueError):
                ok = False
                writer.close()
                reader, writer = await asyncio.open_connection(host, port)
            latencies.append((time.perf_counter() - t0) * 1000.0)
            errors += not ok
        writer.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(client(i) for i in range(clients)))
    return _summary(latencies, errors, time.perf_counter() - t0, clients)


def run_asyncio(kind: str, args, cookie: str, clients: int, total: int) -> dict:
    return asyncio.run(_run_asyncio(kind, args, cookie, clients, total))


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--url", required=True)
    p.add_argument("--token", required=True)
    p.add_argument("--user", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--clients", type=int, default=50)
    p.add_argument("--requests", type=int, default=2000)
    p.add_argument("--days", type=int, required=True)
    p.add_argument("--first-day-epoch", type=int, required=True)
    p.add_argument("--range", choices=["day", "hour"], default="day")
    p.add_argument("--client", choices=CLIENTS, default="threads")
    p.add_argument("--kinds", default="attendance_api,dashboard")
    args = p.parse_args(argv)
    run = run_asyncio if args.client == "asyncio" else run_threads
    parts = urlsplit(args.url)
    cookie = login_cookie(parts.hostname, parts.port, args.user, args.password)
    out = {}
    for kind in args.kinds.split(","):
        run(kind, args, cookie, min(args.clients, 10), 50)  # warm-up
        out[kind] = {"concurrent": run(kind, args, cookie, args.clients, args.requests),
                     "baseline_one_client": run(kind, args, cookie, 1, max(50, args.requests // 10))}
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

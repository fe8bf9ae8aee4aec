"""Load generator of `daka bench admin`: N concurrent keep-alive clients, run as its own process.

Prints JSON: for each endpoint, requests/s, p50/p95/p99 latency (ms) and errors.
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import re
import sys
import threading
import time
from urllib.parse import urlencode, urlsplit


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


def run(kind: str, args, cookie: str, clients: int, total: int) -> dict:
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
    wall = time.perf_counter() - t0
    return {"clients": clients, "requests": len(latencies), "errors": errors[0],
            "requests_per_s": round(len(latencies) / wall, 1),
            "p50_ms": round(_percentile(latencies, 0.50), 1), "p95_ms": round(_percentile(latencies, 0.95), 1),
            "p99_ms": round(_percentile(latencies, 0.99), 1)}


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
    args = p.parse_args(argv)
    parts = urlsplit(args.url)
    cookie = login_cookie(parts.hostname, parts.port, args.user, args.password)
    out = {}
    for kind in ("attendance_api", "dashboard"):
        run(kind, args, cookie, min(args.clients, 10), 50)  # warm-up
        out[kind] = {"concurrent": run(kind, args, cookie, args.clients, args.requests),
                     "baseline_one_client": run(kind, args, cookie, 1, max(50, args.requests // 10))}
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

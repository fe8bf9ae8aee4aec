"""schemathesis against the served OpenAPI document: no 5xx, no answer the document does not describe.

A real AdminServer on loopback over a throw-away instance; the set-time command is the tests'
fake (tests/admin/conftest.py fake_clock), so update_sys_time never reaches this machine's clock, and
clear_data / delete_face only touch the temporary database. Each token (admin, viewer) gets its
own run; the figures go to BENCHMARKS.md ("Reliability").
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tests.helpers.admin_app import ADMIN_PW, add_punch, add_staff, api_token, build_app

EXAMPLES = 50   # per operation and phase
SEED = 20261204
# Left out, and why:
# - positive_data_acceptance: "schema-valid" is not "valid": 2026-02-30 matches the date pattern,
#   an end before the start, an unknown staff no. The API refuses those with a 400 that says why.
# - use_after_free, ensure_resource_availability, object_level_authorization: need links between
#   operations (stateful), which the seed API's document does not declare.
EXCLUDED = "positive_data_acceptance,use_after_free,ensure_resource_availability,object_level_authorization"


def served_document(url: str, folder: Path) -> Path:
    """The OpenAPI document as the admin serves it (the docs are behind the sign-in)."""
    import re

    import requests

    with requests.Session() as s:
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', s.get(url + "/login", timeout=60).text).group(1)
        r = s.post(url + "/login", data={"username": "admin", "password": ADMIN_PW, "csrf_token": csrf},
                   allow_redirects=False, timeout=60)
        assert r.status_code == 302
        doc = s.get(url + "/docs/openapi.json", timeout=60)
        assert doc.status_code == 200
    path = folder / "openapi.json"
    path.write_bytes(doc.content)
    return path


def run_schemathesis(url: str, document: Path, token: str, report: Path) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "schemathesis.cli", "run", str(document), "--url", url,
           "--header", f"Authorization: Bearer {token}",
           "--phases", "examples,coverage,fuzzing", "--max-examples", str(EXAMPLES), "--seed", str(SEED),
           "--checks", "all", "--exclude-checks", EXCLUDED, "--workers", "1", "--request-timeout", "60",
           "--suppress-health-check", "too_slow", "--report", "ndjson", "--report-ndjson-path", str(report)]
    # subprocess.run kills the child if it outlives the timeout. In the report's folder: schemathesis
    # keeps a cache of past failures in its working directory and replays them (not here: each run
    # starts from nothing, the same seed gives the same cases).
    return subprocess.run(cmd, capture_output=True, text=True, timeout=900, cwd=report.parent,
                          env={**os.environ, "NO_COLOR": "1", "SCHEMATHESIS_TELEMETRY": "false"})


def summary(report: Path) -> dict:
    """Operations, test cases, checks and failed checks of one run, from its ndjson event log."""
    cases: dict[str, int] = {}
    checks = failures = 0
    for line in report.read_text().splitlines():
        event = json.loads(line)
        finished = event.get("ScenarioFinished")
        if finished is None:
            continue
        recorder = finished["recorder"]
        cases[recorder["label"]] = cases.get(recorder["label"], 0) + len(recorder.get("cases", {}))
        for results in recorder.get("checks", {}).values():
            checks += len(results)
            failures += sum(r["status"] != "success" for r in results)
    return {"operations": len(cases), "cases": sum(cases.values()), "checks": checks, "failures": failures}


@pytest.mark.parametrize("role", ["admin", "viewer"])
def test_schemathesis_finds_no_server_error_and_no_schema_violation(admin_config, instance, sqlite_store,
                                                                     fake_clock, tmp_path, role):
    from admin.auth.users import create_user
    from admin.server import AdminServer

    app = build_app(admin_config(admin={"max_upload_mb": 4}), instance, sqlite_store)
    sid = add_staff(sqlite_store, "HR0878", "张三")
    for day in range(1, 4):
        add_punch(sqlite_store, sid, "HR0878", "张三", dt.datetime(2022, 4, day, 9, 0))
    token = api_token(sqlite_store, role=role, name=f"fuzz-{role}")
    create_user(sqlite_store, "admin", ADMIN_PW, "admin", actor="test")
    server = AdminServer(app, "127.0.0.1", 0, threads=4).start()
    try:
        report = tmp_path / "events.ndjson"
        done = run_schemathesis(server.url, served_document(server.url, tmp_path), token, report)
    finally:
        server.stop()
    figures = summary(report)
    print(f"schemathesis ({role} token): {figures}")
    assert done.returncode == 0, done.stdout[-8000:] + done.stderr[-2000:]
    # the seven seed operations and the seed backend's two spellings of them (deprecated aliases)
    assert figures["operations"] == 9 and figures["cases"] > 9 * EXAMPLES and figures["failures"] == 0
    # Accepted set-time calls went to the fake helper (never to this machine's clock); a viewer's none.
    log = fake_clock.parent / "set-time.log"
    assert (log.exists() and len(log.read_text().splitlines()) > 0) if role == "admin" else not log.exists()

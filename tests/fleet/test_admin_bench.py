"""`daka bench fleet` (issue 20, check 6) in miniature on the tests' cluster: simulated terminals
(the real clock-in, journal, flush and uploader) confirm punches for a few seconds; every one is
at the centre exactly once, the central admin answers its API meanwhile, and the figures are
measured, not made up."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.postgres


def test_a_short_fleet_benchmark_loses_nothing(postgres_server):
    from app.bench import fleet

    url = postgres_server.create_database("bench_fleet_small")
    result = fleet.run(terminals=2, seconds=3.0, baseline_seconds=1.0, rate=4.0, postgres=url, api_clients=1,
                       changes=3, links=2)
    f = result["fleet"]
    assert f["confirmed"] >= 2 * 4 * 3 - 2          # open loop: 4 a second each, whatever the load
    assert f["all_at_centre"] and f["lost"] == 0 and f["doubled"] == 0
    assert f["stored"] == f["confirmed"] == f["linked_to_staff"]   # the centre linked each by staff number
    assert f["flush_to_central_s"]["n"] == f["confirmed"] and f["flush_to_central_s"]["p99"] > 0
    assert result["standalone"]["confirmed"] >= 2 and result["standalone"]["confirm_ms"]["p99"] > 0
    assert result["central_cpu"] is None             # not the bench's own cluster: its CPU is not read
    assert result["errors"] == 0, result["first_errors"]
    # the central admin (`daka admin serve` on the centre) answered the attendance API meanwhile
    assert result["api"]["requests"] >= 2 and result["api"]["errors"] == 0, result["api"]["first_errors"]
    # each rename at the centre reached both terminals' fleet links (by notification), and was timed
    p = result["propagation"]
    assert p["links"] == 2 and p["missed"] == 0 and p["commit_to_applied_s"]["n"] == 3 * 2
    assert 0 < p["commit_to_applied_s"]["p50"] <= p["commit_to_applied_s"]["max"]

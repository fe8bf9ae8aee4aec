"""`daka bench rules` (issue 24) on a small store: it seeds, computes and reports real figures."""

from __future__ import annotations


def test_the_rules_bench_measures_a_seeded_month(make_config, monkeypatch):
    from app.bench import rules as bench_rules

    monkeypatch.setattr(bench_rules, "STAFF", 40)
    result = bench_rules.run(make_config(), repeat=1, postgres="off")["sqlite"]
    assert result["staff"] == 40 and result["person_days"] == 40 * 31
    assert sum(result["statuses"].values()) == 40 * 31
    assert result["statuses"]["rest"] == 40 * 9 and result["statuses"]["leave"] == 2 * 2  # every 20th: 2 days
    assert result["punches"] > 40 * 22 * 2 * 0.9
    assert result["month_days_all_staff_ms"] > 0 and result["month_report_all_staff_ms"] > 0

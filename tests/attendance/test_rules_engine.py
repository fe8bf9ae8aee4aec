"""The attendance-rules engine (issue 24) on real SQLite and PostgreSQL stores: night shifts across
midnight, 调休 Saturdays, leave, hire and leave dates, grace edges, overtime, flexible, rotating
and four-punch shifts."""

from __future__ import annotations

import datetime as dt

import pytest

from app.attendance import rules
from tests.helpers.attendance_rules import TZ, d, days_of, person, punch, shift, weekly


def test_a_night_shift_owns_its_punches_after_midnight(store):
    sid = person(store, "00123")
    night = shift(store, "夜班", "20:00", "08:00", early_grace_min=0, overtime_after_min=30)
    weekly(store, night, weekend=True, follow_calendar=False)
    punch(store, sid, "00123", "2026-03-02 19:55")
    punch(store, sid, "00123", "2026-03-03 08:02")      # the 2nd's shift ends on the 3rd
    punch(store, sid, "00123", "2026-03-03 19:58")
    punch(store, sid, "00123", "2026-03-04 07:30")      # 30 min early
    punch(store, sid, "00123", "2026-03-05 20:20")      # 20 min late, and out past 30 min overtime
    punch(store, sid, "00123", "2026-03-06 09:00")
    days = days_of(store, sid, "2026-03-02", "2026-03-06")
    assert days["2026-03-02"].status == "normal"
    assert days["2026-03-02"].punches == 2
    assert days["2026-03-02"].last_out == dt.datetime(2026, 3, 3, 8, 2)
    assert days["2026-03-03"].status == "early" and days["2026-03-03"].early_min == 30
    assert days["2026-03-04"].status == "absent"        # nothing between the 4th 20:00 and the 5th's shift
    assert days["2026-03-05"].status == "late" and days["2026-03-05"].late_min == 20
    assert days["2026-03-05"].overtime_min == 60
    assert days["2026-03-06"].status == "absent"        # the 6th's 09:00 punch was the 5th's out
    assert "20:00" in days["2026-03-04"].reason("zh_CN")


def test_a_makeup_saturday_is_a_working_day_and_the_holiday_a_rest_day(store):
    sid = person(store, "00007")
    day = shift(store)
    weekly(store, day)
    punch(store, sid, "00007", "2026-02-13 08:58")
    punch(store, sid, "00007", "2026-02-13 18:01")
    days = days_of(store, sid, "2026-02-13", "2026-02-17")
    assert days["2026-02-13"].status == "normal"
    # 2026-02-14 is a Saturday worked in lieu of the Spring Festival (chinesecalendar says so)
    assert days["2026-02-14"].due and days["2026-02-14"].status == "absent"
    assert "调休" in days["2026-02-14"].reason("zh_CN")
    assert days["2026-02-15"].status == "rest"
    assert days["2026-02-16"].status == "rest" and not days["2026-02-16"].due    # a Monday, but 春节
    assert "春节" in days["2026-02-16"].reason("zh_CN")
    assert "Public holiday" in days["2026-02-16"].reason("en")


def test_a_leave_day_counts_as_leave_not_absence(store):
    sid = person(store, "00008")
    weekly(store, shift(store))
    rules.add_leave(store, sid, d("2026-03-03"), d("2026-03-04"), "annual", "回老家", "hr")
    lines = rules.range_report(store, d("2026-03-02"), d("2026-03-06"), TZ, now=dt.datetime(2030, 1, 1))
    line = lines[0]
    by_date = line.by_date()
    assert by_date[d("2026-03-03")].status == "leave" and by_date[d("2026-03-03")].leave_kind == "annual"
    assert "年假" in by_date[d("2026-03-03")].reason("zh_CN") and "回老家" in by_date[d("2026-03-03")].reason()
    assert by_date[d("2026-03-03")].mark("zh_CN") == "年"
    assert line.leave_days == {"annual": 2}
    assert line.days_due == 5 and line.absent_days == 3 and line.days_present == 0
    with pytest.raises(rules.RuleError) as err:   # overlapping leave is refused
        rules.add_leave(store, sid, d("2026-03-04"), d("2026-03-05"), "sick", "", "hr")
    assert err.value.key == "attendance.error.overlap"


def test_no_row_before_the_hire_date_nor_after_the_leave_date(store):
    sid = person(store, "00009", hire=d("2026-03-10"), leave=d("2026-03-20"))
    weekly(store, shift(store))
    days = days_of(store, sid, "2026-03-01", "2026-03-31")
    assert min(days) == "2026-03-10" and max(days) == "2026-03-20"
    assert len(days) == 11
    gone = person(store, "00010", hire=d("2026-04-01"))
    assert rules.compute_days(store, d("2026-03-01"), d("2026-03-31"), TZ, staff_ids=[gone]) == []


@pytest.mark.parametrize("first_in, last_out, status, late, early, overtime", [
    ("09:05", "17:55", "normal", 0, 0, 0),      # both at the grace's edge
    ("09:06", "17:55", "late", 6, 0, 0),        # one minute past: the whole lateness counts
    ("09:05", "17:54", "early", 0, 6, 0),
    ("09:05:59", "18:29", "normal", 0, 0, 0),   # seconds do not count; 29 min after is no overtime
    ("09:00", "18:30", "normal", 0, 0, 30),     # overtime from 30 min after the end
    ("09:40", "17:00", "late", 40, 60, 0),      # late and early on the same day
])
def test_grace_edges_late_early_and_overtime_minutes(store, first_in, last_out, status, late, early, overtime):
    sid = person(store, "00011")
    weekly(store, shift(store, late_grace_min=5, early_grace_min=5, overtime_after_min=30))
    punch(store, sid, "00011", f"2026-03-02 {first_in}")
    punch(store, sid, "00011", f"2026-03-02 {last_out}")
    r = days_of(store, sid, "2026-03-02", "2026-03-02")["2026-03-02"]
    assert (r.status, r.late_min, r.early_min, r.overtime_min) == (status, late, early, overtime)


def test_one_punch_is_a_missing_punch_and_none_is_absent(store):
    sid = person(store, "00012")
    weekly(store, shift(store))
    punch(store, sid, "00012", "2026-03-02 08:50")
    punch(store, sid, "00012", "2026-03-03 18:10")
    days = days_of(store, sid, "2026-03-02", "2026-03-04")
    assert days["2026-03-02"].status == "missing" and days["2026-03-02"].missing == 1
    assert "缺下班卡" in days["2026-03-02"].reason()
    assert "缺上班卡" in days["2026-03-03"].reason()
    assert days["2026-03-04"].status == "absent"


def test_a_makeup_punch_counts_like_any_other(store):
    sid = person(store, "00013")
    weekly(store, shift(store))
    punch(store, sid, "00013", "2026-03-02 08:50")
    assert days_of(store, sid, "2026-03-02", "2026-03-02")["2026-03-02"].status == "missing"
    punch(store, sid, "00013", "2026-03-02 18:00", source="makeup")  # an approved 补卡
    assert days_of(store, sid, "2026-03-02", "2026-03-02")["2026-03-02"].status == "normal"


def test_absent_after_turns_a_long_lateness_into_absence(store):
    sid = person(store, "00014")
    weekly(store, shift(store, absent_after_min=120))
    punch(store, sid, "00014", "2026-03-02 11:30")
    punch(store, sid, "00014", "2026-03-02 18:00")
    r = days_of(store, sid, "2026-03-02", "2026-03-02")["2026-03-02"]
    assert r.status == "absent" and r.late_min == 150


def test_flexible_shift_counts_hours_in_its_window(store):
    sid = person(store, "00015")
    flex = shift(store, "弹性", "07:00", "20:00", kind="flexible", required_minutes=480, break_min=60,
                 early_grace_min=10, overtime_after_min=60)
    weekly(store, flex)
    for day, a, b in (("02", "10:00", "19:00"), ("03", "10:00", "18:00"), ("04", "07:30", "18:30"),
                      ("05", "10:00", "18:51")):
        punch(store, sid, "00015", f"2026-03-{day} {a}")
        punch(store, sid, "00015", f"2026-03-{day} {b}")
    days = days_of(store, sid, "2026-03-02", "2026-03-05")
    assert days["2026-03-02"].status == "normal" and days["2026-03-02"].worked_min == 480
    assert days["2026-03-03"].status == "early" and days["2026-03-03"].early_min == 60
    assert days["2026-03-04"].overtime_min == 120
    assert days["2026-03-05"].status == "normal"   # 9 minutes short is inside the 10-minute grace


def test_rotating_two_days_two_nights_two_off(store):
    sid = person(store, "00016")
    day = shift(store, "白", "08:00", "20:00")
    night = shift(store, "夜", "20:00", "08:00")
    schedule = rules.save_schedule(store, "两班倒", "rotating", [day, day, night, night, None, None], "test",
                                   anchor=d("2026-03-01"), follow_calendar=False)
    rules.assign_schedule(store, schedule, d("2026-03-01"), "test", staff_id=sid)
    punch(store, sid, "00016", "2026-03-03 19:50")
    punch(store, sid, "00016", "2026-03-04 08:00")
    days = days_of(store, sid, "2026-03-01", "2026-03-08")
    assert [days[f"2026-03-0{i}"].shift for i in range(1, 9)] == ["白", "白", "夜", "夜", "", "", "白", "白"]
    assert days["2026-03-03"].status == "normal"
    assert [days[f"2026-03-0{i}"].status for i in (5, 6)] == ["rest", "rest"]
    assert days["2026-03-01"].status == "absent"   # a Sunday, but the rotation ignores the calendar


def test_four_punches_with_a_lunch_break(store):
    sid = person(store, "00017")
    weekly(store, shift(store, "两头班", "08:00", "17:00", punches="four", lunch_start=dt.time(12),
                        lunch_end=dt.time(13), late_grace_min=0))
    for when in ("08:00", "12:01", "12:55", "17:05"):
        punch(store, sid, "00017", f"2026-03-02 {when}")
    for when in ("08:00", "12:00", "13:10", "17:00"):
        punch(store, sid, "00017", f"2026-03-03 {when}")
    for when in ("08:00", "17:00"):
        punch(store, sid, "00017", f"2026-03-04 {when}")
    days = days_of(store, sid, "2026-03-02", "2026-03-04")
    assert days["2026-03-02"].status == "normal" and days["2026-03-02"].worked_min == 545 - 54
    assert days["2026-03-03"].status == "late" and days["2026-03-03"].late_min == 10
    assert days["2026-03-04"].status == "missing" and days["2026-03-04"].missing == 2


def test_person_override_wins_over_department_and_company(store):
    a, b = person(store, "00018", department="生产部"), person(store, "00019", department="行政部")
    c = person(store, "00020", department="行政部")
    early, late, night = shift(store, "早", "07:00", "16:00"), shift(store, "晚", "10:00", "19:00"), \
        shift(store, "夜", "22:00", "06:00")
    weekly(store, early, name="全公司")
    weekly(store, late, name="行政", department="行政部")
    weekly(store, night, name="个人", staff_id=c, first="2026-03-03")
    got = {p.staff_no: [r.shift for r in p.days]
           for p in rules.compute_days(store, d("2026-03-02"), d("2026-03-03"), TZ)}
    assert got == {"00018": ["早", "早"], "00019": ["晚", "晚"], "00020": ["晚", "夜"]}
    assert a and b


def test_unscheduled_people_are_neither_due_nor_absent(store):
    sid = person(store, "00021")
    r = days_of(store, sid, "2026-03-02", "2026-03-02")["2026-03-02"]
    assert r.status == "unscheduled" and not r.due


def test_today_before_the_shift_ends_is_not_yet_absent(store):
    sid = person(store, "00022")
    weekly(store, shift(store))
    punch(store, sid, "00022", "2026-03-02 08:55")
    now = dt.datetime(2026, 3, 2, 12, 0)
    days = days_of(store, sid, "2026-03-02", "2026-03-03", now=now)
    assert days["2026-03-02"].status == "upcoming" and days["2026-03-02"].missing == 0
    assert days["2026-03-03"].status == "upcoming"


def test_company_day_off_and_unknown_year(store):
    sid = person(store, "00023")
    weekly(store, shift(store))
    rules.set_company_day(store, d("2026-03-04"), "off", "厂庆", "hr")
    days = days_of(store, sid, "2026-03-04", "2026-03-04")
    assert days["2026-03-04"].status == "rest" and "厂庆" in days["2026-03-04"].reason()
    first, last = rules.covered_years()
    assert first <= 2026 <= last
    unknown = last + 1
    cal = rules.WorkCalendar()
    assert not cal.known(unknown)
    jan = [cal.day(dt.date(unknown, 1, i)) for i in range(1, 8)]
    # a year chinesecalendar does not know: the plain week (and no exception)
    assert [x.working for x in jan] == [dt.date(unknown, 1, i).weekday() < 5 for i in range(1, 8)]


def test_bad_rules_are_clear_errors(store):
    with pytest.raises(rules.RuleError) as err:
        shift(store, "坏", "09:00", "09:00")
    assert err.value.key == "attendance.error.same_times"
    with pytest.raises(rules.RuleError):
        shift(store, "四次", punches="four")
    one = shift(store)
    with pytest.raises(rules.RuleError) as err:
        shift(store)
    assert err.value.key == "attendance.error.duplicate"
    weekly(store, one)
    with pytest.raises(rules.RuleError) as err:
        rules.delete_shift(store, one, "test")
    assert err.value.key == "attendance.error.shift_in_use"


def test_a_zone_with_daylight_saving_reads_local_times(store):
    """Punches are stored in UTC: each is read back in the zone in force at its instant, so 09:00
    stays 09:00 on both sides of New York's change to summer time (8 March 2026)."""
    import zoneinfo

    from tests.helpers.admin_app import add_punch

    ny = zoneinfo.ZoneInfo("America/New_York")
    sid = person(store, "00024")
    weekly(store, shift(store))
    for day in ("2026-03-06", "2026-03-09"):
        for at in ("09:00", "18:00"):
            add_punch(store, sid, "00024", "张三", dt.datetime.fromisoformat(f"{day} {at}"), tz="America/New_York")
    people = rules.compute_days(store, d("2026-03-06"), d("2026-03-09"), ny, staff_ids=[sid],
                                now=dt.datetime(2030, 1, 1))
    got = {r.date.isoformat(): (r.status, r.first_in) for r in people[0].days}
    assert got["2026-03-06"] == ("normal", dt.datetime(2026, 3, 6, 9, 0))
    assert got["2026-03-09"] == ("normal", dt.datetime(2026, 3, 9, 9, 0))


def test_punches_all_at_one_end_of_the_shift_miss_the_other(store):
    """Two punches at the start (a double tap) are an in without an out, not 9 hours early."""
    sid = person(store, "00025")
    weekly(store, shift(store))
    punch(store, sid, "00025", "2026-03-02 08:55")
    punch(store, sid, "00025", "2026-03-02 09:02")
    punch(store, sid, "00025", "2026-03-03 17:58")
    punch(store, sid, "00025", "2026-03-03 18:03")
    days = days_of(store, sid, "2026-03-02", "2026-03-03")
    assert (days["2026-03-02"].status, days["2026-03-02"].missing, days["2026-03-02"].early_min) == ("missing", 1, 0)
    assert "缺下班卡" in days["2026-03-02"].reason()
    assert (days["2026-03-03"].status, days["2026-03-03"].missing, days["2026-03-03"].late_min) == ("missing", 1, 0)
    assert "缺上班卡" in days["2026-03-03"].reason()


def test_the_summary_export_in_chunks_equals_the_whole(store):
    from app.attendance.queries import PunchFilter
    from app.attendance.summary import daily_summary, iter_daily_summary

    sid = person(store, "00026", hire=d("2026-03-03"))
    person(store, "00027")
    weekly(store, shift(store))
    punch(store, sid, "00026", "2026-03-04 09:30")
    f = PunchFilter.days(d("2026-03-01"), d("2026-03-20"))
    whole = daily_summary(store, f, TZ)
    assert list(iter_daily_summary(store, f, TZ, chunk_days=3)) == whole
    assert len(whole) == 20 + 18 and [r.state for r in whole if r.staff_no == "00026"][:2] == ["absent", "missing"]


def test_punch_minutes_agree_with_the_punch_columns(store):
    """The rules' lean read (staff id, UTC minute) names the same punches as punch_columns, known
    staff only, on both backends."""
    import numpy as np

    from app.attendance.queries import punch_columns, punch_minutes

    a, b = person(store, "00028"), person(store, "00029")
    for sid, no, when in ((a, "00028", "2026-03-02 08:59:59"), (a, "00028", "2026-03-03 00:30"),
                          (b, "00029", "2026-03-02 18:01"), (None, "gone", "2026-03-02 12:00")):
        punch(store, sid, no, when)
    staff, minutes = punch_minutes(store, d("2026-03-02"), d("2026-03-03"))
    cols = punch_columns(store, d("2026-03-02"), d("2026-03-03"))
    known = cols.staff_id >= 0
    expected = sorted(zip(cols.staff_id[known].tolist(), (cols.punched_at_us[known] // 60_000_000).tolist()))
    assert sorted(zip(staff.tolist(), minutes.tolist())) == expected and len(expected) == 3
    one_staff, _ = punch_minutes(store, d("2026-03-02"), d("2026-03-03"), staff_id=b)
    assert one_staff.tolist() == [b] and staff.dtype == np.int64


def test_deleting_rules_removes_and_audits_them_and_a_missing_one_is_refused(store):
    import json

    from sqlalchemy import select

    from app.store import AuditEntry, Leave, Schedule, ScheduleAssignment

    one = shift(store)
    sid = rules.save_schedule(store, "标准", "weekly", [one] * 5 + [None, None], "test")
    assignment = rules.assign_schedule(store, sid, d("2026-01-05"), "test")
    staff_id = person(store, "E1")
    leave = rules.add_leave(store, staff_id, d("2026-01-05"), d("2026-01-06"), "annual", "", "test")
    rules.delete_leave(store, leave, "hr")
    rules.delete_assignment(store, assignment, "hr")
    rules.delete_schedule(store, sid, "hr")
    with store.session() as s:
        assert s.scalar(select(Leave).where(Leave.id == leave)) is None
        assert s.get(ScheduleAssignment, assignment) is None and s.get(Schedule, sid) is None
        audited = {e.action: json.loads(e.detail) for e in s.scalars(select(AuditEntry).where(AuditEntry.actor == "hr"))}
    assert audited["leave.delete"] == {"id": leave, "staff_id": staff_id}
    assert audited["schedule.unassign"] == {"id": assignment}
    assert audited["schedule.delete"] == {"id": sid, "name": "标准"}
    for delete, row_id in ((rules.delete_leave, leave), (rules.delete_assignment, assignment),
                           (rules.delete_schedule, sid), (rules.delete_shift, 9999)):
        with pytest.raises(rules.RuleError) as err:
            delete(store, row_id, "hr")
        assert err.value.key == "attendance.error.not_found"
    with pytest.raises(rules.RuleError) as err:
        rules.delete_company_day(store, d("2026-01-01"), "hr")
    assert err.value.key == "attendance.error.not_found"

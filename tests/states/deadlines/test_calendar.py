"""Working days in 2026 and the deadline policy file.

Vietnam's 2026 days off: Tết 16–20/2, Giỗ Tổ Hùng Vương 26/4 (a Sunday, so Monday 27/4 off),
30/4–1/5, Quốc khánh 1–2/9 with Monday 31/8 off in exchange for Saturday 22/8 worked, and
24/11 (Ngày Văn hoá Việt Nam, a commune setting). A working-day limit ends at 17:00 local on
the n-th working day after the day the report arrived."""

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest

from states.deadlines.calendar import WorkingCalendar
from states.deadlines.policy import DEFAULT_FILE, load_policy
from states.kernel.clock import LOCAL_TZ
from states.lifecycle.machine import TRIGGERS

# What can happen to a case: its triggers, and the events the workflow derives from them.
KNOWN_EVENTS = set(TRIGGERS) | {"case.opened", "emergency_decided", "separated_from_carer", "emergency_found"}


def local(y: int, m: int, d: int, hh: int = 9, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=LOCAL_TZ)


@pytest.fixture(scope="module")
def cal() -> WorkingCalendar:
    return load_policy().calendar


def days_off(cal: WorkingCalendar, first: date, last: date) -> list[date]:
    out, day = [], first
    while day <= last:
        if not cal.is_working_day(day):
            out.append(day)
        day += timedelta(days=1)
    return out


def test_weekends_are_off_and_weekdays_on(cal: WorkingCalendar) -> None:
    week = [date(2026, 3, 2) + timedelta(days=i) for i in range(7)]  # Mon 2/3 .. Sun 8/3
    assert [cal.is_working_day(d) for d in week] == [True] * 5 + [False] * 2


@pytest.mark.parametrize(("first", "last", "off"), [
    # Tết Bính Ngọ: Sat 14/2 to Sun 22/2, nine days in a row.
    (date(2026, 2, 12), date(2026, 2, 24), [date(2026, 2, d) for d in range(14, 23)]),
    # Giỗ Tổ falls on Sunday 26/4: Monday 27/4 is off instead; then 30/4 and 1/5 (+ weekend).
    (date(2026, 4, 24), date(2026, 5, 4), [date(2026, 4, 25), date(2026, 4, 26), date(2026, 4, 27),
                                           date(2026, 4, 30), date(2026, 5, 1), date(2026, 5, 2),
                                           date(2026, 5, 3)]),
    # Quốc khánh: Mon 31/8 off (swapped for Sat 22/8, which is worked), Tue 1/9, Wed 2/9.
    (date(2026, 8, 21), date(2026, 9, 4), [date(2026, 8, 23), date(2026, 8, 29), date(2026, 8, 30),
                                           date(2026, 8, 31), date(2026, 9, 1), date(2026, 9, 2)]),
    (date(2026, 11, 20), date(2026, 11, 27), [date(2026, 11, 21), date(2026, 11, 22), date(2026, 11, 24)]),
    (date(2025, 12, 31), date(2026, 1, 2), [date(2026, 1, 1)]),
])
def test_the_days_off_of_2026(cal: WorkingCalendar, first: date, last: date, off: list[date]) -> None:
    assert days_off(cal, first, last) == off


@pytest.mark.parametrize(("start", "n", "due"), [
    # The Friday before Tết: five working days are 23–27/2.
    (local(2026, 2, 13, 10), 5, local(2026, 2, 27, 17)),
    # Received the last afternoon before Tết, one working day is the first day back.
    (local(2026, 2, 13, 16, 59), 1, local(2026, 2, 23, 17)),
    # The day of receipt does not count, however early; a weekend start counts from Monday.
    (local(2026, 3, 2, 0, 5), 1, local(2026, 3, 3, 17)),
    (local(2026, 3, 7, 11), 1, local(2026, 3, 9, 17)),
    (local(2026, 3, 2, 9), 5, local(2026, 3, 9, 17)),
    (local(2026, 4, 24, 9), 1, local(2026, 4, 28, 17)),  # over the weekend and Giỗ Tổ
    (local(2026, 4, 29, 9), 2, local(2026, 5, 5, 17)),  # over 30/4–1/5 and the weekend
    (local(2026, 8, 21, 9), 1, local(2026, 8, 22, 17)),  # Saturday 22/8 is a working day
    (local(2026, 8, 28, 9), 1, local(2026, 9, 3, 17)),  # over the weekend and 31/8–2/9
    (local(2026, 8, 28, 9), 2, local(2026, 9, 4, 17)),
    (local(2026, 11, 23, 9), 1, local(2026, 11, 25, 17)),
])
def test_add_working_days(cal: WorkingCalendar, start: datetime, n: int, due: datetime) -> None:
    result = cal.add_working_days(start, n)
    assert result == due
    assert result.tzinfo is UTC


def test_the_day_of_receipt_is_the_local_day_not_the_utc_day(cal: WorkingCalendar) -> None:
    # 18:30 UTC on Monday is 01:30 on Tuesday in Vietnam: Tuesday is the day of receipt.
    assert cal.add_working_days(datetime(2026, 3, 2, 18, 30, tzinfo=UTC), 1) == local(2026, 3, 4, 17)
    # 16:30 UTC on Monday is 23:30 Monday in Vietnam.
    assert cal.add_working_days(datetime(2026, 3, 2, 16, 30, tzinfo=UTC), 1) == local(2026, 3, 3, 17)


def test_makeup_saturday_is_only_worked_when_configured() -> None:
    bare = WorkingCalendar()
    assert not bare.is_working_day(date(2026, 8, 22))
    assert bare.add_working_days(local(2026, 8, 21), 1) == local(2026, 8, 24, 17)
    configured = WorkingCalendar(makeup_working_days=frozenset({date(2026, 8, 22)}))
    assert configured.is_working_day(date(2026, 8, 22))


def test_culture_day_is_on_or_off_by_the_setting() -> None:
    off, on = WorkingCalendar(culture_day_off=True), WorkingCalendar(culture_day_off=False)
    assert not off.is_working_day(date(2026, 11, 24))
    assert on.is_working_day(date(2026, 11, 24))
    assert off.add_working_days(local(2026, 11, 23), 1) == local(2026, 11, 25, 17)
    assert on.add_working_days(local(2026, 11, 23), 1) == local(2026, 11, 24, 17)
    # When 24/11 falls on a weekend the setting gives no extra day (2029: a Saturday).
    assert not on.is_working_day(date(2029, 11, 24))


def test_extra_days_off_and_day_end_from_the_policy_file(tmp_path: Path) -> None:
    text = DEFAULT_FILE.read_text(encoding="utf-8")
    text = text.replace('day_ends_at = "17:00"', 'day_ends_at = "16:30"')
    text = text.replace("extra_days_off = []", 'extra_days_off = ["2026-03-03", "2026-03-04"]')
    text = text.replace("culture_day_off = true", "culture_day_off = false")
    path = tmp_path / "policy.toml"
    path.write_text(text, encoding="utf-8")
    cal = load_policy(path).calendar
    assert cal.day_ends_at == time(16, 30)
    assert not cal.is_working_day(date(2026, 3, 3)) and not cal.is_working_day(date(2026, 3, 4))
    assert cal.is_working_day(date(2026, 11, 24))
    assert cal.add_working_days(local(2026, 3, 2), 1) == local(2026, 3, 5, 16, 30)
    rule = load_policy(path).rules["plan_submission"]
    assert rule.due(local(2026, 3, 2), cal) == local(2026, 3, 11, 16, 30)


def test_the_default_policy_file() -> None:
    policy = load_policy()
    assert policy.ladder == ("worker", "head", "chair", "province")
    assert policy.calendar.makeup_working_days == frozenset({date(2026, 8, 22)})
    rules = policy.rules
    assert {k: (r.limit, r.unit, r.counted_from) for k, r in rules.items()} == {
        "initial_assessment": (12, "hours", "received"),
        "emergency_protection": (12, "hours", "received"),
        "emergency_decision": (12, "hours", "received"),
        "reassessment": (12, "hours", "event"),
        "plan_submission": (5, "working_days", "received"),
        "plan_approval": (2, "working_days", "event"),
        "plan_resubmission": (5, "working_days", "event"),
        "periodic_review": (30, "days", "event"),
        "temporary_separation": (15, "days", "event"),
    }
    assert [r.kind for r in policy.opened_by("assess")] == ["plan_submission"]
    assert [r.kind for r in policy.opened_by("emergency_decided")] == ["emergency_protection"]
    assert [r.kind for r in policy.opened_by("emergency_found")] == ["emergency_decision"]
    # Every event a rule names is one the workflow can produce: a typo would never fire.
    for rule in rules.values():
        for name in rule.starts + rule.met_by + rule.cancelled_by:
            assert name in KNOWN_EVENTS, (rule.kind, name)


def test_due_in_hours_days_and_working_days(cal: WorkingCalendar) -> None:
    rules = load_policy().rules
    fri_night = local(2026, 2, 13, 22)
    assert rules["initial_assessment"].due(fri_night, cal) == fri_night + timedelta(hours=12)
    assert rules["periodic_review"].due(fri_night, cal) == fri_night + timedelta(days=30)
    assert rules["plan_submission"].due(fri_night, cal) == local(2026, 2, 27, 17)


def test_overrides_replace_single_values() -> None:
    policy = load_policy(overrides={"plan_approval": {"limit": 7, "reminders": [0.5, 0.8]},
                                    "periodic_review": {"limit": 60, "escalate_every_hours": 12}})
    approval, review = policy.rules["plan_approval"], policy.rules["periodic_review"]
    assert (approval.limit, approval.unit, approval.reminders) == (7, "working_days", (0.5, 0.8))
    assert approval.met_by == ("approve_plan", "return_plan")  # untouched values stay
    assert (review.limit, review.escalate_every) == (60, timedelta(hours=12))
    assert load_policy().rules["plan_approval"].limit == 2  # the file itself is not changed


@pytest.mark.parametrize(("overrides", "message"), [
    ({"plan_approval": {"unit": "weeks"}}, "unit must be"),
    ({"plan_approval": {"unit": "Hours"}}, "unit must be"),
    ({"plan_approval": {"reminders": [0.0, 0.5]}}, "reminders"),
    ({"plan_approval": {"reminders": [0.5, 1.0]}}, "reminders"),
    ({"plan_approval": {"reminders": [1.5]}}, "reminders"),
    ({"plan_approval": {"reminders": [-0.2]}}, "reminders"),
    ({"plan_approval": {"reminders": [0.9, 0.5]}}, "reminders"),
    ({"plan_approval": {"limit": 0}}, "limit must be positive"),
    ({"plan_aproval": {"limit": 3}}, "unknown deadline 'plan_aproval'"),
])
def test_bad_policy_values_are_refused(overrides: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        load_policy(overrides=overrides)


@pytest.mark.parametrize(("local", "expected"), [
    (datetime(2026, 3, 2, 10, 0), datetime(2026, 3, 2, 10, 0)),    # Monday morning: as is
    (datetime(2026, 3, 2, 6, 0), datetime(2026, 3, 2, 7, 30)),     # before opening: same day
    (datetime(2026, 3, 2, 23, 18), datetime(2026, 3, 3, 7, 30)),   # night: next morning
    (datetime(2026, 3, 7, 11, 0), datetime(2026, 3, 9, 7, 30)),    # Saturday: Monday
    (datetime(2026, 2, 13, 18, 0), datetime(2026, 2, 23, 7, 30)),  # Friday evening before Tết
])
def test_office_hours_holds_working_day_alerts_to_the_next_opening(local: datetime, expected: datetime) -> None:
    at = local.replace(tzinfo=LOCAL_TZ)
    assert WorkingCalendar().office_hours(at) == expected.replace(tzinfo=LOCAL_TZ).astimezone(UTC)


def test_working_day_limits_are_not_chased_at_night_but_clock_hour_limits_are() -> None:
    from states.deadlines.ladder import ladder

    policy = load_policy()
    start = datetime(2026, 3, 2, 20, 0, tzinfo=LOCAL_TZ)
    plan = policy.rules["plan_submission"]
    for stage in ladder(plan, policy, start, plan.due(start, policy.calendar)):
        local = stage.at.astimezone(LOCAL_TZ)
        assert policy.calendar.is_working_day(local.date()) and time(7, 30) <= local.time() <= time(17, 0)
    emergency = policy.rules["emergency_protection"]
    night = [s.at.astimezone(LOCAL_TZ).time() for s in
             ladder(emergency, policy, start, emergency.due(start, policy.calendar))]
    assert any(t < time(7, 30) or t > time(17, 0) for t in night)

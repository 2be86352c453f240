"""Vietnam's working days: weekends and public holidays off (the `holidays` package knows the
lunar Tết dates and the decreed swaps it has heard of), plus what the commune configures:
extra days off, make-up working Saturdays, and whether 24/11 is a day off."""

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache

import holidays

from states.kernel.clock import LOCAL_TZ

CULTURE_DAY = (11, 24)


@lru_cache(maxsize=32)
def _vn_holidays(year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays("VN", years=year).keys())


@dataclass(frozen=True)
class WorkingCalendar:
    day_starts_at: time = time(7, 30)
    day_ends_at: time = time(17, 0)
    extra_days_off: frozenset[date] = field(default_factory=frozenset)
    makeup_working_days: frozenset[date] = field(default_factory=frozenset)
    culture_day_off: bool = True

    def is_working_day(self, day: date) -> bool:
        if day in self.makeup_working_days:
            return True
        if day.weekday() >= 5 or day in self.extra_days_off:
            return False
        if (day.month, day.day) == CULTURE_DAY:
            return not self.culture_day_off
        return day not in _vn_holidays(day.year)

    def office_hours(self, at: datetime) -> datetime:
        """`at` if it falls in office hours of a working day, else the next opening (in UTC):
        reminders and escalations about working-day limits should not ring at night."""
        local = at.astimezone(LOCAL_TZ)
        day = local.date()
        if self.is_working_day(day) and self.day_starts_at <= local.time() <= self.day_ends_at:
            return at
        if not (self.is_working_day(day) and local.time() < self.day_starts_at):
            day += timedelta(days=1)
            while not self.is_working_day(day):
                day += timedelta(days=1)
        return datetime.combine(day, self.day_starts_at, tzinfo=LOCAL_TZ).astimezone(UTC)

    def add_working_days(self, start: datetime, days: int) -> datetime:
        """The end of the `days`-th working day after the day of `start` (local time), in UTC.

        The day a report arrives does not count, as in Vietnamese administrative practice."""
        day = start.astimezone(LOCAL_TZ).date()
        counted = 0
        while counted < days:
            day += timedelta(days=1)
            if self.is_working_day(day):
                counted += 1
        return datetime.combine(day, self.day_ends_at, tzinfo=LOCAL_TZ).astimezone(UTC)

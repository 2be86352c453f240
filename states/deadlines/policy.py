"""The deadline policy: `states/deadlines/policy.toml` read into typed rules.

Legal limits are data with their source, not constants in code, because several are uncertain
(see `../shared/domain.md`) and a province may decide otherwise."""

import tomllib
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any, Literal

from models.enums import DEADLINE_EVENTS
from states.deadlines.calendar import WorkingCalendar

DEFAULT_FILE = Path(__file__).with_name("policy.toml")
Unit = Literal["hours", "days", "working_days"]


@dataclass(frozen=True)
class DeadlineRule:
    kind: str
    label_vi: str
    label_en: str
    limit: int
    unit: Unit
    starts: tuple[str, ...]
    counted_from: Literal["received", "event"]
    met_by: tuple[str, ...]
    cancelled_by: tuple[str, ...]
    reminders: tuple[float, ...]
    escalate_every: timedelta
    source: str

    def due(self, start: datetime, calendar: WorkingCalendar) -> datetime:
        if self.unit == "hours":
            return start + timedelta(hours=self.limit)
        if self.unit == "days":
            return start + timedelta(days=self.limit)
        return calendar.add_working_days(start, self.limit)


@dataclass(frozen=True)
class DeadlinePolicy:
    rules: dict[str, DeadlineRule]
    calendar: WorkingCalendar
    ladder: tuple[str, ...]

    def opened_by(self, event: str) -> list[DeadlineRule]:
        return [r for r in self.rules.values() if event in r.starts]


def _events(where: str, kind: str, raw: dict[str, Any], key: str) -> tuple[str, ...]:
    names = tuple(raw.get(key, []))
    unknown = [n for n in names if n not in DEADLINE_EVENTS]
    if unknown:
        raise ValueError(f"{where}: deadlines.{kind}.{key}: unknown event '{unknown[0]}' "
                         f"(known: {', '.join(sorted(DEADLINE_EVENTS))})")
    return names


def _rule(kind: str, raw: dict[str, Any], where: str = "policy") -> DeadlineRule:
    unit = raw["unit"]
    if unit not in ("hours", "days", "working_days"):
        raise ValueError(f"deadline {kind}: unit must be hours, days or working_days")
    reminders = tuple(float(f) for f in raw.get("reminders", []))
    if any(not 0 < f < 1 for f in reminders) or list(reminders) != sorted(reminders):
        raise ValueError(f"deadline {kind}: reminders must be increasing fractions in (0, 1)")
    if int(raw["limit"]) <= 0:
        raise ValueError(f"deadline {kind}: limit must be positive")
    return DeadlineRule(
        kind=kind, label_vi=raw["label_vi"], label_en=raw["label_en"], limit=int(raw["limit"]),
        unit=unit, starts=_events(where, kind, raw, "starts"), counted_from=raw.get("from", "event"),
        met_by=_events(where, kind, raw, "met_by"), cancelled_by=_events(where, kind, raw, "cancelled_by"),
        reminders=reminders,
        escalate_every=timedelta(hours=float(raw["escalate_every_hours"])), source=raw["source"],
    )


def load_policy(path: Path | None = None, overrides: dict[str, dict[str, Any]] | None = None) -> DeadlinePolicy:
    """Read the policy file; `overrides` (from settings) replace single values per deadline.
    An event name the service never raises is refused with the file, the key and the name."""
    file = path or DEFAULT_FILE
    raw = tomllib.loads(file.read_text(encoding="utf-8"))
    cal = raw.get("calendar", {})
    hh, mm = (int(x) for x in cal.get("day_ends_at", "17:00").split(":"))
    sh, sm = (int(x) for x in cal.get("day_starts_at", "07:30").split(":"))
    calendar = WorkingCalendar(
        day_starts_at=time(sh, sm),
        day_ends_at=time(hh, mm),
        extra_days_off=frozenset(date.fromisoformat(d) for d in cal.get("extra_days_off", [])),
        makeup_working_days=frozenset(date.fromisoformat(d) for d in cal.get("makeup_working_days", [])),
        culture_day_off=bool(cal.get("culture_day_off", True)),
    )
    deadlines = raw.get("deadlines", {})
    for kind, values in (overrides or {}).items():
        if kind not in deadlines:
            raise ValueError(f"override for unknown deadline '{kind}'")
        deadlines[kind] = {**deadlines[kind], **values}
    return DeadlinePolicy(
        rules={kind: _rule(kind, values, str(file) + (" with KIPTHOI_POLICY__OVERRIDES" if kind in (overrides or {})
                                                      else "")) for kind, values in deadlines.items()},
        calendar=calendar,
        ladder=tuple(raw.get("ladder", {}).get("levels", ["worker", "head", "chair", "province"])),
    )

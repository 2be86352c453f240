"""Routing: which officials hear about an event, from configuration (`routing.toml`)."""

import threading
import time
import tomllib
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from sqlalchemy import func, select
from sqlmodel import Session, col

from models import Agency, Official
from models.enums import ROUTE_EVENTS, AbuseForm, AgencyKind
from models.statements import Query
from notifications.templates import TEMPLATES

ROUTES_FILE = Path(__file__).with_name("routing.toml")
# Per engine (one per database), so tests with a database each never share a roster.
_CACHE: "weakref.WeakKeyDictionary[Any, tuple[_Stamp, float, Roster]]" = weakref.WeakKeyDictionary()
_CACHE_LOCK = threading.Lock()
POSITIONS = {"worker": ("case_worker",), "head": ("head",), "chair": ("chair", "vice_chair"),
             "province": ("province_contact",), "sysadmin": ("sysadmin",)}


@dataclass(frozen=True)
class Route:
    on: tuple[str, ...]
    to: tuple[str, ...]
    template: str
    when_abuse_forms: tuple[str, ...] = ()
    # Retried within seconds (notifications/dispatch.py): an emergency cannot wait for a
    # half-hour backoff.
    urgent: bool = False

    def matches(self, event: str, abuse_forms: list[str]) -> bool:
        if event not in self.on:
            return False
        return not self.when_abuse_forms or bool(set(self.when_abuse_forms) & set(abuse_forms))


def load_routes(path: Path | None = None) -> tuple[Route, ...]:
    """Read the routing table. A name that never fires (an unknown event, form of abuse or
    recipient, a missing template) is refused with the file, the route and the name, so that a
    typo in an override file cannot silently stop people hearing of a case."""
    file = path or ROUTES_FILE
    raw = tomllib.loads(file.read_text(encoding="utf-8"))
    routes = []
    for i, r in enumerate(raw.get("route", []), start=1):
        where = f"{file}: route {i}"
        for event in r["on"]:
            if event not in ROUTE_EVENTS:
                raise ValueError(f"{where}: on: unknown event '{event}' (known: {', '.join(sorted(ROUTE_EVENTS))})")
        for form in r.get("when_abuse_forms", []):
            if form not in set(AbuseForm):
                raise ValueError(f"{where}: when_abuse_forms: unknown form of abuse '{form}'")
        for target in r["to"]:
            if (target not in POSITIONS and target not in ("school", "referred_agency")
                    and not target.startswith("agency:")):
                raise ValueError(f"{where}: to: unknown recipient '{target}'")
            if target.startswith("agency:") and target.split(":", 1)[1] not in set(AgencyKind):
                raise ValueError(f"{where}: to: unknown kind of agency '{target}'")
        if r["template"] not in TEMPLATES:
            raise ValueError(f"{where}: template: unknown template '{r['template']}'")
        routes.append(Route(on=tuple(r["on"]), to=tuple(r["to"]), template=r["template"],
                            when_abuse_forms=tuple(r.get("when_abuse_forms", [])),
                            urgent=bool(r.get("urgent", False))))
    return tuple(routes)


def default_routes() -> tuple[Route, ...]:
    return load_routes()


@dataclass(frozen=True)
class Contact:
    """An official as routing needs them: a snapshot, safe to share between sessions and
    threads (an ORM row would expire when the session that loaded it rolls back)."""

    id: int
    agency_id: int
    position: str
    phone: str
    language: str


_ACTIVE_OFFICIALS = select(col(Official.id), col(Official.agency_id), col(Official.position),
                           col(Official.phone), col(Official.language)).where(
    col(Official.active).is_(True)).order_by(col(Official.id))
_AGENCY_KINDS = select(col(Agency.id), col(Agency.kind))
# Officials and agencies are only ever added (no API changes or removes one), so their count
# and highest id change with every change kipthoi makes; `active` edited by hand in the
# database is caught by the cache's time limit.


class _Stamp(NamedTuple):
    officials: int
    last_official: int | None
    agencies: int
    last_agency: int | None


_DIRECTORY_STAMP = Query(select(
    select(func.count()).select_from(Official).scalar_subquery(),
    select(func.max(col(Official.id))).scalar_subquery(),
    select(func.count()).select_from(Agency).scalar_subquery(),
    select(func.max(col(Agency.id))).scalar_subquery()), _Stamp)
ROSTER_TTL_SECONDS = 60.0


@dataclass(frozen=True)
class Roster:
    """The active officials and the kind of each agency: a commune has tens of officials, so
    one read and a filter beat a query per recipient name. Read through `current`, which keeps
    it while the directory is unchanged: every intake and every transition tells someone."""

    officials: tuple[Contact, ...]
    agency_kind: dict[int, str]

    @classmethod
    def load(cls, session: Session) -> "Roster":
        conn = session.connection()
        officials = tuple(Contact(id=i or 0, agency_id=agency, position=position, phone=phone, language=lang)
                          for i, agency, position, phone, lang in conn.execute(_ACTIVE_OFFICIALS))
        kinds = {i: k for i, k in conn.execute(_AGENCY_KINDS) if i is not None}
        return cls(officials, kinds)

    @classmethod
    def current(cls, session: Session) -> "Roster":
        engine = session.get_bind()
        stamp = _DIRECTORY_STAMP.one(session)
        now = time.monotonic()
        with _CACHE_LOCK:
            cached = _CACHE.get(engine)
        if cached is not None and cached[0] == stamp and cached[1] > now:
            return cached[2]
        roster = cls.load(session)
        with _CACHE_LOCK:
            _CACHE[engine] = (stamp, now + ROSTER_TTL_SECONDS, roster)
        return roster

    def _contacts(self, agency_ids: set[int]) -> list[Contact]:
        people = [o for o in self.officials if o.agency_id in agency_ids]
        contacts = [o for o in people if o.position == "agency_contact"]
        return contacts or people

    def resolve(self, target: str, *, assignee_id: int | None = None,
                school_agency_id: int | None = None,
                referred_agency_id: int | None = None) -> list[Contact]:
        """The officials a recipient name stands for, right now."""
        if target == "worker" and assignee_id is not None:
            assignee = [o for o in self.officials if o.id == assignee_id]
            if assignee:
                return assignee
        if target in POSITIONS:
            return [o for o in self.officials if o.position in POSITIONS[target]]
        if target == "school":
            return self._contacts({school_agency_id} if school_agency_id else set())
        if target == "referred_agency":
            return self._contacts({referred_agency_id} if referred_agency_id else set())
        if target.startswith("agency:"):
            kind = target.split(":", 1)[1]
            return self._contacts({i for i, k in self.agency_kind.items() if k == kind})
        raise ValueError(f"unknown recipient '{target}'")


def resolve(session: Session, target: str, *, assignee_id: int | None = None,
            school_agency_id: int | None = None) -> list[Contact]:
    return Roster.current(session).resolve(target, assignee_id=assignee_id, school_agency_id=school_agency_id)

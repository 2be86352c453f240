"""Routing: which officials hear about an event, from configuration (`routing.toml`)."""

import tomllib
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlmodel import Session, col

from models import Agency, Official

ROUTES_FILE = Path(__file__).with_name("routing.toml")
POSITIONS = {"worker": ("case_worker",), "head": ("head",), "chair": ("chair", "vice_chair"),
             "province": ("province_contact",), "sysadmin": ("sysadmin",)}


@dataclass(frozen=True)
class Route:
    on: tuple[str, ...]
    to: tuple[str, ...]
    template: str
    when_abuse_forms: tuple[str, ...] = ()

    def matches(self, event: str, abuse_forms: list[str]) -> bool:
        if event not in self.on:
            return False
        return not self.when_abuse_forms or bool(set(self.when_abuse_forms) & set(abuse_forms))


def load_routes(path: Path | None = None) -> tuple[Route, ...]:
    raw = tomllib.loads((path or ROUTES_FILE).read_text(encoding="utf-8"))
    routes = []
    for r in raw.get("route", []):
        for target in r["to"]:
            if (target not in POSITIONS and target not in ("school", "referred_agency")
                    and not target.startswith("agency:")):
                raise ValueError(f"routing: unknown recipient '{target}'")
        routes.append(Route(on=tuple(r["on"]), to=tuple(r["to"]), template=r["template"],
                            when_abuse_forms=tuple(r.get("when_abuse_forms", []))))
    return tuple(routes)


def default_routes() -> tuple[Route, ...]:
    return load_routes()


@dataclass(frozen=True)
class Roster:
    """The active officials and the kind of each agency, read once per event: a commune has
    tens of officials, so one query and a filter beat a query per recipient name."""

    officials: tuple[Official, ...]
    agency_kind: dict[int, str]

    @classmethod
    def load(cls, session: Session) -> "Roster":
        officials = tuple(session.execute(
            select(Official).where(col(Official.active).is_(True)).order_by(col(Official.id))
        ).scalars())
        kinds = {i: k for i, k in session.execute(select(col(Agency.id), col(Agency.kind))) if i is not None}
        return cls(officials, kinds)

    def _contacts(self, agency_ids: set[int]) -> list[Official]:
        people = [o for o in self.officials if o.agency_id in agency_ids]
        contacts = [o for o in people if o.position == "agency_contact"]
        return contacts or people

    def resolve(self, target: str, *, assignee_id: int | None = None,
                school_agency_id: int | None = None,
                referred_agency_id: int | None = None) -> list[Official]:
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
            school_agency_id: int | None = None) -> list[Official]:
    return Roster.load(session).resolve(target, assignee_id=assignee_id, school_agency_id=school_agency_id)

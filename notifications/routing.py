"""Routing: which officials hear about an event, from configuration (`routing.toml`)."""

import tomllib
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlmodel import Session

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
            if target not in POSITIONS and target != "school" and not target.startswith("agency:"):
                raise ValueError(f"routing: unknown recipient '{target}'")
        routes.append(Route(on=tuple(r["on"]), to=tuple(r["to"]), template=r["template"],
                            when_abuse_forms=tuple(r.get("when_abuse_forms", []))))
    return tuple(routes)


def default_routes() -> tuple[Route, ...]:
    return load_routes()


def _active(session: Session, *conditions: object) -> list[Official]:
    return list(session.execute(
        select(Official).where(Official.active.is_(True), *conditions).order_by(Official.id)  # type: ignore[attr-defined,arg-type]
    ).scalars())


def _agency_contacts(session: Session, agency_ids: list[int]) -> list[Official]:
    if not agency_ids:
        return []
    people = _active(session, Official.agency_id.in_(agency_ids))  # type: ignore[attr-defined]
    contacts = [o for o in people if o.position == "agency_contact"]
    return contacts or people


def resolve(session: Session, target: str, *, assignee_id: int | None = None,
            school_agency_id: int | None = None) -> list[Official]:
    """The officials a recipient name stands for, right now."""
    if target == "worker" and assignee_id is not None:
        assignee = session.get(Official, assignee_id)
        if assignee is not None and assignee.active:
            return [assignee]
    if target in POSITIONS:
        return _active(session, Official.position.in_(POSITIONS[target]))  # type: ignore[attr-defined]
    if target == "school":
        return _agency_contacts(session, [school_agency_id] if school_agency_id else [])
    if target.startswith("agency:"):
        kind = target.split(":", 1)[1]
        ids = list(session.execute(select(Agency.id).where(Agency.kind == kind)).scalars())
        return _agency_contacts(session, [i for i in ids if i is not None])
    raise ValueError(f"unknown recipient '{target}'")

"""What the intake forms offer to choose from: the thôn/xóm of the commune and its schools.

The public report page has no actor that may read the directory, and needs none: the names of
a commune's thôn are printed on every signpost. `public_places` gives those and nothing else
(no agency, no official). Staff forms read through the directory's own checks."""

from dataclasses import dataclass

from sqlalchemy import select
from sqlmodel import Session, col

from models import Place
from models.enums import AgencyKind
from states.access.permissions import authorize
from states.identity.actors import Actor
from states.records import directory


@dataclass(frozen=True)
class Choices:
    places: list[tuple[str, str]]  # (code, name)
    schools: list[tuple[str, str, str]]  # (code, name_vi, name_en)


def public_places(session: Session) -> list[tuple[str, str]]:
    """(code, name) of every thôn, by name: all a citizen needs to say where it happened."""
    rows = session.execute(select(col(Place.code), col(Place.name)).order_by(col(Place.name), col(Place.code)))
    return [(str(code), str(name)) for code, name in rows]


def staff_choices(session: Session, actor: Actor) -> Choices:
    """The thôn and the schools a staff report may name. Refused, like the report itself, to a
    role that may not enter one."""
    authorize(actor, "report.staff")
    places = [(p.code, p.name) for p in directory.list_places(session, actor)]
    schools = [(a.code, a.name_vi, a.name_en) for a in directory.list_agencies(session, actor)
               if a.kind == AgencyKind.SCHOOL]
    return Choices(places, schools)


__all__ = ["Choices", "public_places", "staff_choices"]

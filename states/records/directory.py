"""The commune's directory: places (thôn), agencies and officials."""

import threading
import weakref
from typing import Any

from pydantic import Field
from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from models import Agency, Official, Place
from models.enums import AgencyKind, Language, Position
from states.access.permissions import authorize
from states.audit import chain as audit
from states.identity.actors import Actor
from states.intake.report_data import Phone
from states.kernel.clock import Clock
from states.kernel.errors import InvalidInput
from states.kernel.text import Text120, Text200
from states.lifecycle.commands import Command

CODE_PATTERN = r"^[A-Za-z0-9_-]+$"

# --- lookups by code, for intake ----------------------------------------------------------------
# Places and agencies are only ever added: no command renames, changes the kind of, or removes
# one. So a code once found keeps its row, and intake (every report names a thôn) remembers it,
# per database. A code not found is looked up again each time: it may be added at any moment.
_PLACE_BY_CODE = select(col(Place.id), col(Place.code)).where(col(Place.code) == bindparam("code"))
_AGENCY_BY_CODE = select(col(Agency.id), col(Agency.kind)).where(col(Agency.code) == bindparam("code"))
_FOUND: "weakref.WeakKeyDictionary[Any, dict[tuple[str, str], tuple[int, str]]]" = weakref.WeakKeyDictionary()
_FOUND_LOCK = threading.Lock()


def _by_code(session: Session, what: str, query: Any, code: str) -> tuple[int, str] | None:
    engine = session.get_bind()
    with _FOUND_LOCK:
        found = _FOUND.setdefault(engine, {}).get((what, code))
    if found is not None:
        return found
    row = session.connection().execute(query, {"code": code}).first()
    if row is None:
        return None
    found = (int(row[0]), str(row[1]))
    with _FOUND_LOCK:
        _FOUND[engine][(what, code)] = found
    return found


def place_by_code(session: Session, code: str) -> tuple[int, str] | None:
    """(id, code) of the thôn with this code."""
    return _by_code(session, "place", _PLACE_BY_CODE, code)


def agency_by_code(session: Session, code: str) -> tuple[int, str] | None:
    """(id, kind) of the agency with this code."""
    return _by_code(session, "agency", _AGENCY_BY_CODE, code)



class PlaceIn(Command):
    code: str = Field(min_length=1, max_length=32, pattern=CODE_PATTERN)
    name: Text120


class AgencyIn(Command):
    code: str = Field(min_length=1, max_length=32, pattern=CODE_PATTERN)
    name_vi: Text200
    name_en: Text200
    kind: AgencyKind


class OfficialIn(Command):
    full_name: Text120
    agency_code: str = Field(min_length=1, max_length=32, pattern=CODE_PATTERN)
    title: Text120
    phone: Phone
    language: Language = Language.VI
    position: Position = Position.MEMBER


def _unique_code(session: Session, model: Any, code: str) -> None:
    if session.execute(select(model).where(model.code == code)).first() is not None:
        raise InvalidInput("code", "unique", f"Mã '{code}' đã tồn tại.", f"Code '{code}' already exists.")


def create_place(session: Session, clock: Clock, actor: Actor, data: PlaceIn) -> Place:
    authorize(actor, "directory.write")
    _unique_code(session, Place, data.code)
    place = Place(**data.model_dump())
    session.add(place)
    _flush(session)
    audit.record(session, at=clock.now(), actor=actor, action="place.created", case_id=None,
                 after={"id": place.id, "code": place.code})
    return place


def create_agency(session: Session, clock: Clock, actor: Actor, data: AgencyIn) -> Agency:
    authorize(actor, "directory.write")
    _unique_code(session, Agency, data.code)
    agency = Agency(**data.model_dump())
    session.add(agency)
    _flush(session)
    audit.record(session, at=clock.now(), actor=actor, action="agency.created", case_id=None,
                 after={"id": agency.id, "code": agency.code, "kind": agency.kind})
    return agency


def create_official(session: Session, clock: Clock, actor: Actor, data: OfficialIn) -> Official:
    authorize(actor, "directory.write")
    agency = session.execute(select(Agency).where(col(Agency.code) == data.agency_code)).scalar_one_or_none()
    if agency is None:
        raise InvalidInput("agency_code", "known_agency", f"Không có cơ quan mã '{data.agency_code}'.",
                           f"No agency with code '{data.agency_code}'.")
    official = Official(full_name=data.full_name, agency_id=agency.id, title=data.title,
                        phone=data.phone, language=data.language, position=data.position)
    session.add(official)
    _flush(session)
    # The audit names the record, not the person: no name or phone on the trail.
    audit.record(session, at=clock.now(), actor=actor, action="official.created", case_id=None,
                 after={"id": official.id, "agency": agency.code})
    return official


def _flush(session: Session) -> None:
    try:
        session.flush()
    except IntegrityError:
        raise InvalidInput("code", "unique", "Mã đã tồn tại.", "Code already exists.") from None


def list_places(session: Session, actor: Actor) -> list[Place]:
    authorize(actor, "directory.read")
    return list(session.execute(select(Place).order_by(col(Place.code))).scalars())


def list_agencies(session: Session, actor: Actor) -> list[Agency]:
    authorize(actor, "directory.read")
    return list(session.execute(select(Agency).order_by(col(Agency.code))).scalars())


def list_officials(session: Session, actor: Actor, agency_code: str | None = None) -> list[dict[str, Any]]:
    authorize(actor, "directory.read")
    query = select(Official, col(Agency.code)).join(Agency, col(Agency.id) == col(Official.agency_id))
    if agency_code:
        query = query.where(col(Agency.code) == agency_code)
    return [
        {"id": o.id, "full_name": o.full_name, "agency_code": code, "title": o.title,
         "phone": o.phone, "language": o.language, "position": o.position, "active": o.active}
        for o, code in session.execute(query.order_by(col(Official.id)))
    ]

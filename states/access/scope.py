"""Which cases an actor may touch, and which view of a case they get.

Roles alone are not enough for a case file: the law (Luật Trẻ em Art. 21, Nghị định 56 Art. 33,
Luật Tố cáo 2018) asks that each person sees what their part needs. So:

| role | rows | view |
|---|---|---|
| head of Văn hoá - Xã hội | every case | full, with the reporter's identity |
| case worker | cases assigned to them (full) and unassigned ones (content, to pick up) | |
| chair / vice-chair | every case | content: no reporter identity |
| agency official | cases referred to their agency, while referred | that agency's part |
| others | none | |

"Content" is the case file without the reporter's identity: only those who must contact the
reporter (the assigned worker and the head) see who reported.

A case the actor has no view of is answered exactly as a case that does not exist (404, the
same message): case codes are guessable, and a 403 would tell a curious official that the
code names a real case. A refusal that only says the *role* may not do something (checked in
`states/access/permissions.py` before any lookup) stays 403, since it reveals nothing about the case.
"""

from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from models import Case, Official, Referral
from models.enums import Role
from states.identity.actors import Actor
from states.kernel.errors import DomainError, Forbidden, NotFound


class View(StrEnum):
    FULL = "full"
    CONTENT = "content"
    AGENCY = "agency"


class NotYourCase(Forbidden):
    """The role may do this in general, but not on this case (403, like any refusal)."""

    def __init__(self, action: str) -> None:
        DomainError.__init__(
            self,
            code="forbidden",
            message_vi="Bạn không được giao hoặc không được chuyển vụ việc này.",
            message_en="This case is not assigned or referred to you.",
            extra={"action": action, "scope": "case"},
        )


def agency_of(session: Session, actor: Actor) -> int | None:
    if actor.official_id is None:
        return None
    return session.execute(
        select(col(Official.agency_id)).where(col(Official.id) == actor.official_id)
    ).scalar_one_or_none()


def referred_case_ids(agency_id: int) -> Any:
    """Subquery: the cases referred (and not withdrawn) to one agency."""
    return select(col(Referral.case_id)).where(col(Referral.agency_id) == agency_id,
                                               col(Referral.withdrawn_at).is_(None))


def is_referred(session: Session, case_id: int | None, agency_id: int | None) -> bool:
    if agency_id is None or case_id is None:
        return False
    return session.execute(
        select(col(Referral.id)).where(col(Referral.case_id) == case_id,
                                       col(Referral.agency_id) == agency_id,
                                       col(Referral.withdrawn_at).is_(None)).limit(1)
    ).first() is not None


def scope_rows(session: Session, actor: Actor, query: Any) -> Any:
    """Narrow a query over `Case` to the rows this actor may see."""
    if actor.role in (Role.HEAD, Role.CHAIR):
        return query
    if actor.role == Role.CASE_WORKER:
        mine: Any = col(Case.assignee_id).is_(None)
        if actor.official_id is not None:
            mine = mine | (col(Case.assignee_id) == actor.official_id)
        return query.where(mine)
    if actor.role == Role.AGENCY_OFFICIAL:
        agency_id = agency_of(session, actor)
        if agency_id is not None:
            return query.where(col(Case.id).in_(referred_case_ids(agency_id)))
    return query.where(col(Case.id).is_(None))  # nothing


def view_for(session: Session, actor: Actor, case: Case, action: str = "case.read") -> View:
    """The view this actor gets of this case; `NotFound` (as for a missing code) when none."""
    if actor.role == Role.HEAD:
        return View.FULL
    if actor.role == Role.CHAIR:
        return View.CONTENT
    if actor.role == Role.CASE_WORKER:
        if case.assignee_id is not None and case.assignee_id == actor.official_id:
            return View.FULL
        if case.assignee_id is None:
            return View.CONTENT
    if actor.role == Role.AGENCY_OFFICIAL and is_referred(session, case.id, agency_of(session, actor)):
        return View.AGENCY
    raise NotFound("case", case.code)


def require_case_write(session: Session, actor: Actor, case: Case, action: str) -> None:
    """Changing a case: the head and the chair on any case, a worker on their own or an
    unassigned one. Agency officials may only write notes on a case referred to them (they see
    the case, so refusing them anything else is a 403 that reveals nothing new)."""
    view = view_for(session, actor, case, action)
    if view == View.AGENCY and action != "case.note":
        raise NotYourCase(action)

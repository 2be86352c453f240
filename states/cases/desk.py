"""What waits on each person's desk: the queues a role's home page shows.

Each queue is a list query narrowed by the same scope as the worklist (states/access/scope.py),
so a home page shows nothing its reader could not find in the worklist; like the worklist it
holds no private field (no name, no narrative), since a home page is on screen the longest.
Queues are capped (`LIMIT`): a home page is a to-do list, the worklist is where everything is."""

from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.orm import aliased
from sqlmodel import Session, col

from models import AuditEvent, Case, Deadline, Plan, Review
from models.enums import CaseState, DeadlineStatus, PlanStatus, ReviewOutcome, Role, Trigger
from states.access.permissions import authorize
from states.access.scope import scope_rows
from states.cases.case_views import CaseSummary
from states.cases.queries import CaseFilter, filtered_query, forms_of, summary_row
from states.deadlines.policy import DeadlinePolicy
from states.identity.actors import Actor

LIMIT = 20


class DeadlineItem(BaseModel):
    """An open legal limit of a case on this desk, as a line of the home page."""

    deadline_id: int
    case_code: str
    kind: str
    label_vi: str
    label_en: str
    due_at: datetime
    overdue: bool
    # An alert was raised and nobody has said "I have it in hand" yet.
    unacknowledged: bool
    seconds_left: float


class Desk(BaseModel):
    role: str
    deadlines: list[DeadlineItem]
    mine: list[CaseSummary]
    unassigned: list[CaseSummary]
    plans_waiting: list[CaseSummary]
    closures_waiting: list[CaseSummary]
    emergencies: list[CaseSummary]
    referred: list[CaseSummary]
    counts: dict[str, int]


def _cases(session: Session, actor: Actor, query: Any, limit: int = LIMIT) -> list[CaseSummary]:
    rows = session.execute(
        scope_rows(session, actor, query).order_by(col(Case.received_at).desc(), col(Case.id).desc())
        .limit(limit)).all()
    forms = forms_of(session, [c.id for c, _ in rows])
    return [CaseSummary(**summary_row(c, place, forms.get(c.id or 0, []))) for c, place in rows]


def _open() -> Any:
    return filtered_query(CaseFilter()).where(col(Case.state) != CaseState.CLOSED)


def _deadlines(session: Session, actor: Actor, policy: DeadlinePolicy, now: datetime,
               limit: int) -> list[DeadlineItem]:
    visible = scope_rows(session, actor, select(col(Case.id)))
    rows = session.execute(
        select(Deadline, col(Case.code)).join(Case, col(Case.id) == col(Deadline.case_id))
        .where(col(Deadline.status) == DeadlineStatus.OPEN, col(Deadline.case_id).in_(visible))
        .order_by(col(Deadline.due_at), col(Deadline.id)).limit(limit)).all()
    items = []
    for row, code in rows:
        rule = policy.rules.get(row.kind)
        items.append(DeadlineItem(
            deadline_id=row.id or 0, case_code=code, kind=row.kind,
            label_vi=rule.label_vi if rule else row.kind, label_en=rule.label_en if rule else row.kind,
            due_at=row.due_at, overdue=row.due_at <= now,
            unacknowledged=row.stage > 0 and row.acknowledged_at is None,
            seconds_left=(row.due_at - now).total_seconds()))
    return items


def desk(session: Session, actor: Actor, policy: DeadlinePolicy, now: datetime) -> Desk:
    """The queues of this actor's home page. A role that reads no case (auditor, administrator,
    intake operator) gets an empty desk: their home pages link to their own tools."""
    empty = Desk(role=actor.role or "public", deadlines=[], mine=[], unassigned=[], plans_waiting=[],
                 closures_waiting=[], emergencies=[], referred=[], counts={})
    if actor.role not in (Role.CASE_WORKER, Role.HEAD, Role.CHAIR, Role.AGENCY_OFFICIAL):
        return empty
    authorize(actor, "case.read")
    if actor.role == Role.AGENCY_OFFICIAL:
        return empty.model_copy(update={"referred": _cases(session, actor, _open(), 50)})
    d = empty.model_copy(update={"deadlines": _deadlines(session, actor, policy, now, 30)})
    if actor.role == Role.CASE_WORKER and actor.official_id is not None:
        d.mine = _cases(session, actor, _open().where(col(Case.assignee_id) == actor.official_id), 50)
    d.unassigned = _cases(session, actor, _open().where(col(Case.assignee_id).is_(None)))
    d.emergencies = _cases(session, actor, _open().where(col(Case.emergency).is_(True)))
    if actor.role in (Role.CHAIR, Role.HEAD):
        submitted = exists().where(col(Plan.case_id) == col(Case.id), col(Plan.status) == PlanStatus.SUBMITTED)
        d.plans_waiting = _cases(session, actor, _open().where(submitted))
        last_review = (select(func.max(col(Review.id))).where(col(Review.case_id) == col(Case.id))
                       .correlate(Case).scalar_subquery())
        proposes_close = exists().where(and_(col(Review.id) == last_review,
                                             col(Review.outcome) == ReviewOutcome.CLOSE))
        # An early closure proposed by a worker or the head (`propose_closure`) waits for the
        # decision while the case is still before intervention; a proposal made before a
        # reopening does not count.
        reopening = aliased(AuditEvent)
        last_reopened = (select(func.coalesce(func.max(col(reopening.seq)), 0))
                         .where(col(reopening.case_id) == col(Case.id),
                                col(reopening.action) == f"case.{Trigger.REOPEN}")
                         .correlate(Case).scalar_subquery())
        proposed_early = exists().where(
            col(AuditEvent.case_id) == col(Case.id), col(AuditEvent.action) == f"case.{Trigger.PROPOSE_CLOSURE}",
            col(AuditEvent.seq) > last_reopened)
        d.closures_waiting = _cases(session, actor, _open().where(or_(
            and_(col(Case.state).in_((CaseState.INTERVENED, CaseState.SUPPORTED)), proposes_close),
            and_(col(Case.state).in_((CaseState.RECEIVED, CaseState.ASSESSED)), proposed_early))))
    d.counts = {
        "overdue": sum(1 for i in d.deadlines if i.overdue),
        "unacknowledged": sum(1 for i in d.deadlines if i.unacknowledged),
    }
    return d

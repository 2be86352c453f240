"""Reading cases: the worklist, one case as the reader may see it, public and 111 status.

Lists carry no narrative and no identity fields: a worklist is shown on screens that others
can see."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from pydantic import BaseModel
from sqlalchemy import func, select
from sqlmodel import Session, col

from models import Agency, AuditEvent, Case, CaseAbuseForm, Place, Report
from states.access import log as access_log
from states.access.permissions import authorize, authorize_trigger
from states.access.scope import View, agency_of, require_case_write, scope_rows, view_for
from states.cases.case_views import CaseView, TimelineEntry, fields_read
from states.cases.views import case_detail
from states.deadlines.ladder import overdue_case_ids
from states.identity.actors import Actor
from states.kernel.clock import Clock
from states.kernel.errors import IllegalTrigger, NotFound
from states.lifecycle.machine import allowed_triggers, step_for

MAX_PAGE_SIZE = 100
Shown = TypeVar("Shown", bound=BaseModel)


@dataclass(frozen=True)
class CaseFilter:
    state: str | None = None
    assignee_id: int | None = None
    place_code: str | None = None
    abuse_form: str | None = None
    received_from: datetime | None = None
    received_to: datetime | None = None
    overdue_at: datetime | None = None  # only cases with an open deadline past its limit then


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    total: int
    page: int
    page_size: int


def list_cases(session: Session, actor: Actor, flt: CaseFilter, page: int, page_size: int) -> Page:
    """The worklist, narrowed to the cases this actor may see (states/access/scope.py)."""
    authorize(actor, "case.read")
    query = scope_rows(session, actor, filtered_query(flt))
    total = session.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    rows = session.execute(
        query.order_by(col(Case.received_at).desc(), col(Case.id).desc())
        .offset((page - 1) * page_size).limit(page_size)
    ).all()
    forms = forms_of(session, [c.id for c, _ in rows])
    items = [summary_row(c, place, forms.get(c.id, [])) for c, place in rows]
    return Page(items=items, total=total, page=page, page_size=page_size)


def filtered_query(flt: CaseFilter) -> Any:
    query = select(Case, col(Place.code)).join(Place, col(Place.id) == col(Case.place_id), isouter=True)
    if flt.state:
        query = query.where(col(Case.state) == flt.state)
    if flt.assignee_id is not None:
        query = query.where(col(Case.assignee_id) == flt.assignee_id)
    if flt.place_code:
        query = query.where(col(Place.code) == flt.place_code)
    if flt.abuse_form:
        query = query.where(col(Case.id).in_(
            select(col(CaseAbuseForm.case_id)).where(col(CaseAbuseForm.form) == flt.abuse_form)))
    if flt.received_from:
        query = query.where(col(Case.received_at) >= flt.received_from)
    if flt.received_to:
        query = query.where(col(Case.received_at) < flt.received_to)
    if flt.overdue_at:
        query = query.where(col(Case.id).in_(overdue_case_ids(flt.overdue_at)))
    return query


def forms_of(session: Session, ids: list[int | None]) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    if ids:
        for case_id, form in session.execute(
            select(col(CaseAbuseForm.case_id), col(CaseAbuseForm.form)).where(col(CaseAbuseForm.case_id).in_(ids))
        ):
            out.setdefault(case_id, []).append(form)
    return out


def summary_row(case: Case, place_code: str | None, forms: list[str]) -> dict[str, Any]:
    return {"code": case.code, "state": case.state, "risk_level": case.risk_level,
            "emergency": case.emergency, "assignee_id": case.assignee_id, "place_code": place_code,
            "abuse_forms": sorted(forms), "received_at": case.received_at,
            "updated_at": case.updated_at, "flags": case.flags, "version": case.version}


def _find(session: Session, code: str) -> tuple[Case, str | None]:
    found = session.execute(
        select(Case, col(Place.code)).join(Place, col(Place.id) == col(Case.place_id), isouter=True)
        .where(col(Case.code) == code)
    ).first()
    if found is None:
        raise NotFound("case", code)
    return found[0], found[1]


def get_case(session: Session, clock: Clock, actor: Actor, code: str) -> CaseView:
    """One case as this actor may see it. Reading private fields is itself recorded: the
    access log (who, which case, which fields, when) is part of the audit trail, so the
    caller must commit. The fields logged are those the answer holds with a value."""
    return read_case(session, clock, actor, code, "case.viewed", lambda detail: detail)


def read_case(session: Session, clock: Clock, actor: Actor, code: str, action: str,
              present: Callable[[CaseView], Shown]) -> Shown:
    """`get_case` for a reader that shows the case in another form (a printout,
    states/cases/printing.py): what `present` makes of the view is returned, and the private
    fields it holds with a value are logged as `action`."""
    authorize(actor, "case.read")
    case, place_code = _find(session, code)
    view = view_for(session, actor, case)
    agency_id = agency_of(session, actor) if view == View.AGENCY else None
    forms = forms_of(session, [case.id]).get(case.id or 0, [])
    shown = present(case_detail(session, case, place_code, forms, view, agency_id, actor.ref))
    fields = fields_read(shown)
    if fields:
        access_log.record_read(session, clock.now(), actor, case, action, view, fields)
    return shown


def case_state(session: Session, actor: Actor, code: str) -> str:
    """The state alone (no private field, so no access event), within the actor's scope."""
    authorize(actor, "case.read")
    case, _ = _find(session, code)
    view_for(session, actor, case)
    return case.state


@dataclass(frozen=True)
class CaseHead:
    """What a form for a step needs of its case: no private field, so no access event."""

    code: str
    state: str
    version: int
    # The newest audit event of the case when the form was opened: if the case changes before the
    # form comes back, what happened since is shown (`changes_since`), never overwritten.
    last_seq: int


def case_head(session: Session, actor: Actor, code: str, for_trigger: str | None = None,
              policy: object | None = None) -> CaseHead:
    """With `for_trigger`, the same refusals as firing it would meet (role, step, case scope),
    so that a form is not offered to someone whose answer would be refused."""
    authorize(actor, "case.read")
    case, _ = _find(session, code)
    view_for(session, actor, case)
    if for_trigger is not None:
        authorize_trigger(actor, for_trigger, case.state, policy)
        if step_for(for_trigger, case.state) is None:
            raise IllegalTrigger(for_trigger, case.state, allowed_triggers(case.state))
        require_case_write(session, actor, case, for_trigger)
    last = session.execute(select(func.max(col(AuditEvent.seq))).where(col(AuditEvent.case_id) == case.id)).scalar()
    return CaseHead(case.code, case.state, case.version, int(last or 0))


def plan_measure_choices(session: Session, actor: Actor, code: str) -> list[tuple[int, str, str | None]]:
    """The approved plan's measures as a service form offers them: number, kind and agency code
    (no description: a choice list is not a read of the plan's private text)."""
    from states.lifecycle.effects import approved_plan, plan_measures

    authorize(actor, "case.read")
    case, _ = _find(session, code)
    view_for(session, actor, case)
    plan = approved_plan(session, case.id)
    if plan is None:
        return []
    agencies = {a.id: a.code for a in session.execute(select(Agency)).scalars()}
    return [(m.number, m.kind, agencies.get(m.agency_id)) for m in plan_measures(session, plan.id)]


def changes_since(session: Session, actor: Actor, code: str, seq: int) -> list[TimelineEntry]:
    """The case's events after `seq`, within the actor's scope (a stale form shows them)."""
    authorize(actor, "case.read")
    case, _ = _find(session, code)
    view_for(session, actor, case)
    rows = session.execute(select(AuditEvent).where(col(AuditEvent.case_id) == case.id, col(AuditEvent.seq) > seq)
                           .order_by(col(AuditEvent.seq)).limit(50)).scalars()
    return [TimelineEntry(seq=e.seq, at=e.at, actor=e.actor, action=e.action) for e in rows]


def hotline_status(session: Session, actor: Actor, hotline_ref: str) -> dict[str, Any]:
    """The 111 integration reads back the status of the reports it sent itself, nothing else."""
    authorize(actor, "report.hotline_status")
    found = session.execute(
        select(col(Report.hotline_ref), col(Case.code), col(Case.state), col(Case.updated_at))
        .join(Case, col(Case.id) == col(Report.case_id))
        .where(col(Report.hotline_ref) == hotline_ref, col(Report.submitted_by) == actor.ref)
    ).first()
    if found is None:
        raise NotFound("hotline report", hotline_ref)
    ref, case_code, state, updated_at = found
    return {"hotline_ref": ref, "case_code": case_code, "state": state,
            "status": PUBLIC_STATUS.get(state, "in_progress"), "updated_at": updated_at}


PUBLIC_STATUS = {"received": "received", "closed": "closed"}


def public_status(session: Session, tracking_code: str) -> dict[str, str]:
    """What a citizen may learn from a tracking code: received, being handled, or closed."""
    state = session.execute(
        select(col(Case.state)).join(Report, col(Report.case_id) == col(Case.id))
        .where(col(Report.tracking_code) == tracking_code.strip().upper())
    ).scalar_one_or_none()
    if state is None:
        raise NotFound("tracking code", tracking_code)
    status = PUBLIC_STATUS.get(state, "in_progress")
    labels = {"received": ("Đã tiếp nhận", "Received"),
              "in_progress": ("Đang xử lý", "Being handled"), "closed": ("Đã kết thúc", "Closed")}
    return {"status": status, "label_vi": labels[status][0], "label_en": labels[status][1]}


__all__ = ["CaseFilter", "CaseHead", "Page", "case_head", "case_state", "changes_since", "get_case",
           "hotline_status", "list_cases", "read_case",
           "public_status"]

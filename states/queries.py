"""Reading cases: the worklist and one case with its timeline.

Lists carry no narrative and no identity fields: a worklist is shown on screens that others
can see."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlmodel import Session, col

from models import (
    Agency,
    AuditEvent,
    Case,
    CaseAbuseForm,
    Child,
    Deadline,
    EmergencyAction,
    Note,
    Place,
    Plan,
    Report,
    Review,
    Service,
)
from states.actors import Actor
from states.deadlines import overdue_case_ids
from states.errors import NotFound
from states.machine import allowed_triggers
from states.permissions import authorize

MAX_PAGE_SIZE = 100


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
    authorize(actor, "case.read")
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
    total = session.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    rows = session.execute(
        query.order_by(col(Case.received_at).desc(), col(Case.id).desc())
        .offset((page - 1) * page_size).limit(page_size)
    ).all()
    forms = _forms(session, [c.id for c, _ in rows])
    items = [_summary(c, place, forms.get(c.id, [])) for c, place in rows]
    return Page(items=items, total=total, page=page, page_size=page_size)


def _forms(session: Session, ids: list[int | None]) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    if ids:
        for case_id, form in session.execute(
            select(col(CaseAbuseForm.case_id), col(CaseAbuseForm.form)).where(col(CaseAbuseForm.case_id).in_(ids))
        ):
            out.setdefault(case_id, []).append(form)
    return out


def _summary(case: Case, place_code: str | None, forms: list[str]) -> dict[str, Any]:
    return {"code": case.code, "state": case.state, "risk_level": case.risk_level,
            "emergency": case.emergency, "assignee_id": case.assignee_id, "place_code": place_code,
            "abuse_forms": sorted(forms), "received_at": case.received_at,
            "updated_at": case.updated_at, "flags": case.flags, "version": case.version}


def _rows(session: Session, model: Any, case_id: int | None, order: Any) -> list[Any]:
    return list(session.execute(select(model).where(model.case_id == case_id).order_by(order)).scalars())


def get_case(session: Session, actor: Actor, code: str) -> dict[str, Any]:
    authorize(actor, "case.read")
    found = session.execute(
        select(Case, col(Place.code)).join(Place, col(Place.id) == col(Case.place_id), isouter=True)
        .where(col(Case.code) == code)
    ).first()
    if found is None:
        raise NotFound("case", code)
    case, place_code = found
    child = session.get(Child, case.child_id)
    forms = _forms(session, [case.id]).get(case.id or 0, [])
    agencies = {a.id: a.code for a in session.execute(select(Agency)).scalars()}
    detail = _summary(case, place_code, forms) | {
        "case_type": case.case_type, "closure_reason": case.closure_reason,
        "transferred_to": case.transferred_to, "closed_at": case.closed_at,
        "allowed_triggers": allowed_triggers(case.state),
        "child": None if child is None else {
            "full_name": child.full_name, "birth_date": child.birth_date,
            "estimated_age": child.estimated_age, "sex": child.sex},
        "reports": [_report(r) for r in _rows(session, Report, case.id, Report.id)],
        "emergency_actions": [
            {"id": e.id, "action_taken": e.action_taken, "who_was_called": e.who_was_called,
             "done_at": e.done_at, "separated_from_carer": e.separated_from_carer}
            for e in _rows(session, EmergencyAction, case.id, EmergencyAction.id)],
        "plans": [
            {"id": p.id, "status": p.status, "goals": p.goals, "measures": p.measures,
             "submitted_at": p.submitted_at, "decided_at": p.decided_at,
             "decision_note": p.decision_note}
            for p in _rows(session, Plan, case.id, Plan.id)],
        "services": [
            {"id": s.id, "kind": s.kind, "agency_code": agencies.get(s.agency_id),
             "started_on": s.started_on, "ended_on": s.ended_on, "note": s.note}
            for s in _rows(session, Service, case.id, Service.id)],
        "reviews": [
            {"id": r.id, "reviewed_at": r.reviewed_at, "findings": r.findings,
             "risk_level": r.risk_level, "outcome": r.outcome}
            for r in _rows(session, Review, case.id, Review.id)],
        "notes": [{"id": n.id, "author": n.author, "text": n.text, "written_at": n.written_at}
                  for n in _rows(session, Note, case.id, Note.id)],
        "deadlines": [
            {"id": d.id, "kind": d.kind, "status": d.status, "due_at": d.due_at,
             "closed_at": d.closed_at, "next_alert_at": d.next_alert_at,
             "acknowledged_at": d.acknowledged_at, "acknowledged_by": d.acknowledged_by}
            for d in _rows(session, Deadline, case.id, Deadline.id)],
        "timeline": [
            {"seq": ev.seq, "at": ev.at, "actor": ev.actor, "action": ev.action}
            for ev in _rows(session, AuditEvent, case.id, AuditEvent.seq)],
    }
    return detail


def _report(r: Report) -> dict[str, Any]:
    return {"id": r.id, "channel": r.channel, "received_at": r.received_at,
            "recorded_at": r.recorded_at, "place_detail": r.place_detail, "narrative": r.narrative,
            "abuse_forms": r.abuse_forms, "case_type": r.case_type,
            "child_condition": r.child_condition, "likely_consequence": r.likely_consequence,
            "parents": r.parents, "family_circumstances": r.family_circumstances,
            "current_carer": r.current_carer, "actions_taken": r.actions_taken,
            "receiving_officer": r.receiving_officer, "hotline_ref": r.hotline_ref,
            "has_reporter": r.reporter_id is not None}


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


__all__ = ["CaseFilter", "Page", "get_case", "list_cases", "public_status"]

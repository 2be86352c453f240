"""One case as each view shows it, and which private fields each view read.

The view (states/access.py) decides the sections; this module only assembles them. `withheld`
names the sections a view leaves out, so a screen can say "not shown to you" rather than
"nothing recorded". The list of private fields read goes to the access log.
"""

from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from models import (
    Agency,
    AuditEvent,
    Case,
    Child,
    Deadline,
    EmergencyAction,
    Note,
    Plan,
    Referral,
    Report,
    Reporter,
    Review,
    Service,
)
from models.enums import AgencyKind
from states.access import View
from states.machine import allowed_triggers

CHILD_FIELDS = ("child.full_name", "child.birth_date")
REPORT_FIELDS = ("place_detail", "narrative", "child_condition", "likely_consequence", "parents",
                 "family_circumstances", "current_carer", "actions_taken")
REPORTER_FIELDS = ("full_name", "phone", "address", "relation")

# What each kind of agency needs of a referred case, beyond the child's identity and its own
# services (Nghị định 56 Art. 33: only what their part needs). Police investigate the facts;
# health workers treat the child; schools and others provide a service.
AGENCY_REPORT_FIELDS: dict[str, tuple[str, ...]] = {
    AgencyKind.POLICE: ("place_detail", "narrative", "actions_taken"),
    AgencyKind.HEALTH_STATION: ("child_condition",),
    AgencyKind.PROVINCE_HEALTH: ("child_condition",),
}
AGENCY_SEES_EMERGENCY = frozenset({AgencyKind.POLICE, AgencyKind.HEALTH_STATION,
                                   AgencyKind.PROVINCE_HEALTH})

ALL_SECTIONS = ("reports", "reporters", "emergency_actions", "plans", "services", "reviews",
                "notes", "referrals", "deadlines", "timeline")


def _rows(session: Session, model: Any, case_id: int | None, order: Any) -> list[Any]:
    return list(session.execute(select(model).where(model.case_id == case_id).order_by(order)).scalars())


def _report(r: Report, fields: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {"id": r.id, "channel": r.channel, "received_at": r.received_at,
                           "recorded_at": r.recorded_at, "abuse_forms": r.abuse_forms,
                           "case_type": r.case_type}
    out |= {f: getattr(r, f) for f in fields}
    return out


def case_detail(session: Session, case: Case, place_code: str | None, forms: list[str],
                view: View, agency_id: int | None = None,
                actor_ref: str = "") -> tuple[dict[str, Any], list[str]]:
    """The case as `view` shows it, and the private fields it included (for the access log)."""
    read: list[str] = []
    child = session.get(Child, case.child_id)
    agencies = {a.id: a for a in session.execute(select(Agency)).scalars()}
    detail: dict[str, Any] = {
        "code": case.code, "state": case.state, "risk_level": case.risk_level,
        "emergency": case.emergency, "assignee_id": case.assignee_id, "place_code": place_code,
        "abuse_forms": sorted(forms), "received_at": case.received_at,
        "updated_at": case.updated_at, "flags": case.flags, "version": case.version,
        "case_type": case.case_type, "closure_reason": case.closure_reason,
        "transferred_to": case.transferred_to, "closed_at": case.closed_at,
        "allowed_triggers": allowed_triggers(case.state) if view != View.AGENCY else [],
        "view": view.value,
        "child": None if child is None else {
            "full_name": child.full_name, "birth_date": child.birth_date,
            "estimated_age": child.estimated_age, "sex": child.sex},
    }
    if child is not None:
        read += CHILD_FIELDS
    sections = dict.fromkeys(ALL_SECTIONS)
    reports = _rows(session, Report, case.id, Report.id)
    services = _rows(session, Service, case.id, Service.id)
    referrals = _rows(session, Referral, case.id, Referral.id)

    if view == View.AGENCY:
        kind = agencies[agency_id].kind if agency_id in agencies else None
        report_fields = AGENCY_REPORT_FIELDS.get(kind or "", ())
        sections["reports"] = [_report(r, report_fields) for r in reports]
        read += [f"report.{f}" for f in report_fields if reports]
        if kind in AGENCY_SEES_EMERGENCY:
            sections["emergency_actions"] = _emergency(session, case)
            read += ["emergency_action.action_taken", "emergency_action.who_was_called"]
        sections["services"] = [_service(s, agencies) for s in services if s.agency_id == agency_id]
        read += ["service.note"] if sections["services"] else []
        sections["referrals"] = [_referral(r, agencies) for r in referrals if r.agency_id == agency_id]
        sections["notes"] = [_note(n) for n in _rows(session, Note, case.id, Note.id)
                             if n.author == actor_ref]  # their own notes only
        read += ["note.text"] if sections["notes"] else []
    else:
        sections["reports"] = [_report(r, REPORT_FIELDS) | {"has_reporter": r.reporter_id is not None,
                                                            "hotline_ref": r.hotline_ref,
                                                            "receiving_officer": r.receiving_officer}
                               for r in reports]
        read += [f"report.{f}" for f in REPORT_FIELDS] if reports else []
        if view == View.FULL:
            sections["reporters"] = _reporters(session, reports)
            read += [f"reporter.{f}" for f in REPORTER_FIELDS] if sections["reporters"] else []
        sections["emergency_actions"] = _emergency(session, case)
        sections["plans"] = [
            {"id": p.id, "status": p.status, "goals": p.goals, "measures": p.measures,
             "submitted_at": p.submitted_at, "decided_at": p.decided_at,
             "decision_note": p.decision_note}
            for p in _rows(session, Plan, case.id, Plan.id)]
        sections["services"] = [_service(s, agencies) for s in services]
        sections["reviews"] = [
            {"id": r.id, "reviewed_at": r.reviewed_at, "findings": r.findings,
             "risk_level": r.risk_level, "outcome": r.outcome}
            for r in _rows(session, Review, case.id, Review.id)]
        sections["notes"] = [_note(n) for n in _rows(session, Note, case.id, Note.id)]
        sections["referrals"] = [_referral(r, agencies) for r in referrals]
        sections["deadlines"] = [
            {"id": d.id, "kind": d.kind, "status": d.status, "due_at": d.due_at,
             "closed_at": d.closed_at, "next_alert_at": d.next_alert_at,
             "acknowledged_at": d.acknowledged_at, "acknowledged_by": d.acknowledged_by}
            for d in _rows(session, Deadline, case.id, Deadline.id)]
        sections["timeline"] = [
            {"seq": ev.seq, "at": ev.at, "actor": ev.actor, "action": ev.action}
            for ev in _rows(session, AuditEvent, case.id, AuditEvent.seq)]
        read += ["emergency_action.action_taken", "emergency_action.who_was_called",
                 "plan.goals", "plan.measures", "plan.decision_note", "service.note",
                 "review.findings", "note.text"]
    detail["withheld"] = [name for name, value in sections.items() if value is None]
    detail |= {name: value or [] for name, value in sections.items()}
    return detail, sorted(set(read))


def _emergency(session: Session, case: Case) -> list[dict[str, Any]]:
    return [{"id": e.id, "action_taken": e.action_taken, "who_was_called": e.who_was_called,
             "done_at": e.done_at, "separated_from_carer": e.separated_from_carer}
            for e in _rows(session, EmergencyAction, case.id, EmergencyAction.id)]


def _service(s: Service, agencies: dict[int | None, Agency]) -> dict[str, Any]:
    agency = agencies.get(s.agency_id)
    return {"id": s.id, "kind": s.kind, "agency_code": agency.code if agency else None,
            "started_on": s.started_on, "ended_on": s.ended_on, "note": s.note}


def _referral(r: Referral, agencies: dict[int | None, Agency]) -> dict[str, Any]:
    agency = agencies.get(r.agency_id)
    return {"id": r.id, "agency_code": agency.code if agency else None,
            "referred_at": r.referred_at, "withdrawn_at": r.withdrawn_at}


def _note(n: Note) -> dict[str, Any]:
    return {"id": n.id, "author": n.author, "text": n.text, "written_at": n.written_at}


def _reporters(session: Session, reports: list[Report]) -> list[dict[str, Any]]:
    ids = [r.reporter_id for r in reports if r.reporter_id is not None]
    if not ids:
        return []
    by_id = {p.id: p for p in session.execute(select(Reporter).where(col(Reporter.id).in_(ids))).scalars()}
    return [{"report_id": r.id, "full_name": p.full_name, "phone": p.phone, "address": p.address,
             "relation": p.relation}
            for r in reports if r.reporter_id is not None and (p := by_id.get(r.reporter_id))]

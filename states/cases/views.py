"""One case as each view shows it.

The view (states/access/scope.py) decides the sections and, for an agency, the report fields; this
module only assembles them into the typed models of states/cases/case_views.py. A section a view
leaves out stays `None` here and is named in `withheld`, so a screen can say "not shown to you"
rather than "nothing recorded". Which private fields were read is derived from the built view
(`case_views.fields_read`), never listed here.
"""

from typing import Any, get_args

from sqlalchemy import select
from sqlmodel import Session, col

from models import (
    Agency,
    AuditEvent,
    Case,
    Child,
    Consent,
    Deadline,
    DetailedAssessment,
    EmergencyAction,
    EmergencyDecision,
    Note,
    Plan,
    PlanMeasure,
    Referral,
    Report,
    Reporter,
    Review,
    RiskRating,
    Service,
)
from models.enums import AgencyKind
from states.access.scope import View
from states.cases.case_views import (
    CaseView,
    ChildView,
    ConsentView,
    DeadlineView,
    DetailedAssessmentView,
    EmergencyActionView,
    EmergencyDecisionView,
    MeasureView,
    NoteView,
    PlanView,
    ReferralView,
    ReporterView,
    ReportView,
    ReviewView,
    RiskRatingView,
    Section,
    ServiceView,
    TimelineEntry,
)
from states.lifecycle.effects import decision_label
from states.lifecycle.machine import allowed_triggers

# The report as the commune's own staff see it (the reporter's identity is a section of its own).
STAFF_REPORT_FIELDS = ("place_detail", "narrative", "child_condition", "likely_consequence", "parents",
                       "family_circumstances", "current_carer", "actions_taken", "has_reporter",
                       "hotline_ref", "receiving_officer")

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


def _rows(session: Session, model: Any, case_id: int | None, order: Any) -> list[Any]:
    return list(session.execute(select(model).where(model.case_id == case_id).order_by(order)).scalars())


def case_detail(session: Session, case: Case, place_code: str | None, forms: list[str],
                view: View, agency_id: int | None = None, actor_ref: str = "") -> CaseView:
    """The case as `view` shows it. `case_views.fields_read` of the result is what it read."""
    child = session.get(Child, case.child_id)
    agencies = {a.id: a for a in session.execute(select(Agency)).scalars()}
    reports = _rows(session, Report, case.id, Report.id)
    services = _rows(session, Service, case.id, Service.id)
    referrals = _rows(session, Referral, case.id, Referral.id)
    notes = _rows(session, Note, case.id, Note.id)
    shown: dict[Section, list[Any] | None] = dict.fromkeys(get_args(Section))

    if view == View.AGENCY:
        kind = agencies[agency_id].kind if agency_id in agencies else None
        report_fields = AGENCY_REPORT_FIELDS.get(kind or "", ())
        shown["reports"] = [_report(r, report_fields) for r in reports]
        if kind in AGENCY_SEES_EMERGENCY:
            shown["emergency_actions"] = _emergency(session, case)
        shown["services"] = [_service(s, agencies) for s in services if s.agency_id == agency_id]
        shown["referrals"] = [_referral(r, agencies) for r in referrals if r.agency_id == agency_id]
        shown["notes"] = [_note(n) for n in notes if n.author == actor_ref]  # their own notes only
    else:
        shown["reports"] = [_report(r, STAFF_REPORT_FIELDS) for r in reports]
        if view == View.FULL:
            shown["reporters"] = _reporters(session, reports)
        shown["emergency_actions"] = _emergency(session, case)
        shown["emergency_decisions"] = [
            EmergencyDecisionView.model_validate(d, from_attributes=True)
            for d in _rows(session, EmergencyDecision, case.id, EmergencyDecision.id)]
        shown["risk_ratings"] = [RiskRatingView.model_validate(r, from_attributes=True)
                                 for r in _rows(session, RiskRating, case.id, RiskRating.id)]
        shown["detailed_assessments"] = [
            DetailedAssessmentView.model_validate(d, from_attributes=True)
            for d in _rows(session, DetailedAssessment, case.id, DetailedAssessment.id)]
        shown["special_groups"] = list(case.special_groups or [])
        measure_rows = _rows(session, PlanMeasure, case.id, PlanMeasure.number)
        measures: dict[int, list[MeasureView]] = {}
        for m in measure_rows:
            agency = agencies.get(m.agency_id)
            measures.setdefault(m.plan_id, []).append(MeasureView(
                number=m.number, kind=m.kind, description=m.description, agency_code=agency.code if agency else None,
                responsible=m.responsible, starts_on=m.starts_on, ends_on=m.ends_on))
        shown["plans"] = [
            PlanView(id=p.id, status=p.status, goals=p.goals, measures=measures.get(p.id, []),
                     measures_text=p.measures, submitted_at=p.submitted_at, submitted_by=p.submitted_by,
                     decided_at=p.decided_at, decided_by=p.decided_by, decision_note=p.decision_note,
                     decision_no=decision_label(p.decision_no), decision_year=p.decision_year)
            for p in _rows(session, Plan, case.id, Plan.id)]
        shown["consents"] = [ConsentView.model_validate(c, from_attributes=True)
                             for c in _rows(session, Consent, case.id, Consent.id)]
        numbers = {m.id: m.number for m in measure_rows}
        shown["services"] = [_service(s, agencies, numbers) for s in services]
        shown["reviews"] = [
            ReviewView(id=r.id, reviewed_at=r.reviewed_at, findings=r.findings,
                       risk_level=r.risk_level, outcome=r.outcome)
            for r in _rows(session, Review, case.id, Review.id)]
        shown["notes"] = [_note(n) for n in notes]
        shown["referrals"] = [_referral(r, agencies) for r in referrals]
        shown["deadlines"] = [
            DeadlineView(id=d.id, kind=d.kind, status=d.status, due_at=d.due_at,
                         closed_at=d.closed_at, next_alert_at=d.next_alert_at,
                         acknowledged_at=d.acknowledged_at, acknowledged_by=d.acknowledged_by)
            for d in _rows(session, Deadline, case.id, Deadline.id)]
        shown["timeline"] = [
            TimelineEntry(seq=ev.seq, at=ev.at, actor=ev.actor, action=ev.action)
            for ev in _rows(session, AuditEvent, case.id, AuditEvent.seq)]
    return CaseView(
        code=case.code, state=case.state, risk_level=case.risk_level, emergency=case.emergency,
        assignee_id=case.assignee_id, place_code=place_code, abuse_forms=sorted(forms),
        received_at=case.received_at, updated_at=case.updated_at, flags=case.flags,
        version=case.version, case_type=case.case_type, closure_reason=case.closure_reason,
        transferred_to=case.transferred_to, closed_at=case.closed_at,
        allowed_triggers=allowed_triggers(case.state) if view != View.AGENCY else [],
        view=view.value,
        child=None if child is None else ChildView(
            full_name=child.full_name, birth_date=child.birth_date,
            estimated_age=child.estimated_age, sex=child.sex),
        withheld=[name for name, items in shown.items() if items is None],
        **{name: items or [] for name, items in shown.items()})


def _report(r: Report, fields: tuple[str, ...]) -> ReportView:
    """Only `fields` of the view-dependent ones are given; the rest stay withheld."""
    given = {"has_reporter": r.reporter_id is not None} if "has_reporter" in fields else {}
    given |= {f: getattr(r, f) for f in fields if f != "has_reporter"}
    return ReportView(id=r.id, channel=r.channel, received_at=r.received_at,
                      recorded_at=r.recorded_at, abuse_forms=r.abuse_forms,
                      case_type=r.case_type, **given)


def _emergency(session: Session, case: Case) -> list[EmergencyActionView]:
    return [EmergencyActionView(id=e.id, action_taken=e.action_taken, who_was_called=e.who_was_called,
                                done_at=e.done_at, separated_from_carer=e.separated_from_carer)
            for e in _rows(session, EmergencyAction, case.id, EmergencyAction.id)]


def _service(s: Service, agencies: dict[int | None, Agency],
             numbers: dict[int | None, int] | None = None) -> ServiceView:
    agency = agencies.get(s.agency_id)
    return ServiceView(id=s.id, kind=s.kind, agency_code=agency.code if agency else None,
                       started_on=s.started_on, ended_on=s.ended_on, note=s.note,
                       measure_no=(numbers or {}).get(s.measure_id))


def _referral(r: Referral, agencies: dict[int | None, Agency]) -> ReferralView:
    agency = agencies.get(r.agency_id)
    return ReferralView(id=r.id, agency_code=agency.code if agency else None,
                        referred_at=r.referred_at, withdrawn_at=r.withdrawn_at)


def _note(n: Note) -> NoteView:
    return NoteView(id=n.id, author=n.author, text=n.text, written_at=n.written_at)


def _reporters(session: Session, reports: list[Report]) -> list[ReporterView]:
    ids = [r.reporter_id for r in reports if r.reporter_id is not None]
    if not ids:
        return []
    by_id = {p.id: p for p in session.execute(select(Reporter).where(col(Reporter.id).in_(ids))).scalars()}
    return [ReporterView(report_id=r.id, full_name=p.full_name, phone=p.phone, address=p.address,
                         relation=p.relation)
            for r in reports if r.reporter_id is not None and (p := by_id.get(r.reporter_id))]

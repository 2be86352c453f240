"""What each trigger does to the case file beyond moving its state: the rows it writes (an
emergency action, a plan, a service, a review) and the fields it sets. Each effect runs in the
command's transaction after the machine has accepted the trigger, and returns what the audit
event records. `states/lifecycle/triggers.py` names the effect of each trigger."""

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from models import (
    Agency,
    Case,
    Consent,
    Deadline,
    DetailedAssessment,
    EmergencyAction,
    EmergencyDecision,
    Note,
    Plan,
    PlanMeasure,
    Review,
    RiskRating,
    Service,
)
from models.enums import ClosureReason, DeadlineStatus, PlanStatus, RatingSource, RiskLevel
from states.identity.actors import Actor
from states.intake.codes import next_number
from states.kernel.clock import LOCAL_TZ
from states.kernel.errors import InvalidInput
from states.lifecycle.commands import (
    AssessData,
    CloseData,
    ConsentData,
    DecisionData,
    DetailData,
    EmergencyActionData,
    EmergencyDecisionData,
    EndSeparationData,
    ExtendSeparationData,
    PlanData,
    ReasonData,
    ReviewData,
    RiskFactors,
    ServiceData,
)

Effect = Callable[[Session, Case, Any, Actor, datetime], dict[str, Any]]


def pending_plan(session: Session, case_id: int | None) -> Plan | None:
    return session.execute(
        select(Plan).where(col(Plan.case_id) == case_id, col(Plan.status) == PlanStatus.SUBMITTED)
    ).scalar_one_or_none()


# The deadline that watches a temporary separation (states/deadlines/policy.toml): open while
# the child is separated from the carer.
SEPARATION = "temporary_separation"


def open_separation(session: Session, case_id: int | None) -> Deadline | None:
    return session.execute(
        select(Deadline).where(col(Deadline.case_id) == case_id, col(Deadline.kind) == SEPARATION,
                               col(Deadline.status) == DeadlineStatus.OPEN)
        .order_by(col(Deadline.id).desc()).limit(1)
    ).scalar_one_or_none()


def _time_not_in_future(field: str, value: datetime | None, now: datetime) -> None:
    if value is not None and value > now:
        raise InvalidInput(field, "not_in_future", "Thời điểm không được ở tương lai.",
                           f"{field} must not be in the future.")


def _add_emergency(session: Session, case: Case, data: EmergencyActionData, actor: Actor,
                   now: datetime, field_prefix: str = "") -> dict[str, Any]:
    # The command's guards required these fields; the case was loaded, so it has its id.
    assert data.done_at is not None and data.action_taken and data.who_was_called and case.id is not None
    _time_not_in_future(f"{field_prefix}done_at", data.done_at, now)
    if data.done_at < case.received_at:
        raise InvalidInput(f"{field_prefix}done_at", "not_before_receipt",
                           "Thời điểm bảo vệ khẩn cấp không thể trước khi tiếp nhận thông tin.",
                           "done_at cannot be before the report was received.")
    row = EmergencyAction(case_id=case.id, action_taken=data.action_taken,
                          who_was_called=data.who_was_called, done_at=data.done_at,
                          separated_from_carer=data.separated_from_carer, recorded_by=actor.ref)
    session.add(row)
    session.flush()
    case.emergency = True
    return {"emergency_action_id": row.id, "done_at": data.done_at.isoformat(),
            "separated_from_carer": data.separated_from_carer}


_ORDER = (RiskLevel.LOW, RiskLevel.MEDIUM, RiskLevel.HIGH)


def derived_level(factors: RiskFactors) -> RiskLevel:
    """The overall level the four factors give when the worker states none: the highest, since
    one factor rated high is enough to put the child at high risk."""
    rated = [RiskLevel(v) for v in (factors.severity, factors.abuser_access, factors.safety_obstacles,
                                    factors.self_protection) if v is not None]
    return max(rated, key=_ORDER.index)


def _rate(session: Session, case: Case, factors: RiskFactors | None, stated: RiskLevel | None,
          source: RatingSource, source_id: int | None, actor: Actor, now: datetime) -> dict[str, Any]:
    """Keep the four ratings (the guards required all four, or none for a Mẫu 03 that leaves
    the earlier rating standing) and set the case's level: stated, or derived."""
    if factors is None or factors.severity is None:
        if stated is not None:
            case.risk_level = stated
        return {}
    derived = derived_level(factors)
    assert factors.abuser_access and factors.safety_obstacles and factors.self_protection  # all four or none
    row = RiskRating(case_id=case.id, source=source, source_id=source_id, rated_at=now,  # type: ignore[arg-type]
                     rated_by=actor.ref, severity=factors.severity, abuser_access=factors.abuser_access,
                     safety_obstacles=factors.safety_obstacles, self_protection=factors.self_protection,
                     derived_level=derived, stated_level=stated)
    session.add(row)
    session.flush()
    case.risk_level = stated or derived
    return {"risk_rating_id": row.id, "derived_level": derived}


def _groups(case: Case, groups: list[Any] | None) -> dict[str, Any]:
    if groups is None:
        return {}
    case.special_groups = sorted(set(groups))
    return {"special_groups": len(case.special_groups)}  # how many: the groups are private


def assess(session: Session, case: Case, data: AssessData, actor: Actor, now: datetime) -> dict[str, Any]:
    case.emergency = data.emergency
    rated = _rate(session, case, data.factors, data.risk_level, RatingSource.INITIAL, None, actor, now)
    if data.case_type is not None:
        case.case_type = data.case_type
    after: dict[str, Any] = {"risk_level": case.risk_level, "emergency": case.emergency,
                             "case_type": case.case_type} | rated | _groups(case, data.special_groups)
    if data.emergency_action is not None:
        after |= _add_emergency(session, case, data.emergency_action, actor, now, "emergency_action.")
    return after


def record_emergency(session: Session, case: Case, data: EmergencyActionData, actor: Actor,
                      now: datetime) -> dict[str, Any]:
    return _add_emergency(session, case, data, actor, now)


def detail_assess(session: Session, case: Case, data: DetailData, actor: Actor, now: datetime) -> dict[str, Any]:
    """Mẫu 03 and the meeting's minutes; a re-rating of the factors, if made, sets the level."""
    assert data.information and data.needs and data.meeting_at and data.attendees and data.agreed
    _time_not_in_future("meeting_at", data.meeting_at, now)
    if data.meeting_at < case.current_since:
        raise InvalidInput("meeting_at", "not_before_receipt",
                           "Cuộc họp về nhu cầu của trẻ không thể trước khi tiếp nhận (hoặc mở lại) vụ việc.",
                           "meeting_at cannot be before the case was received (or reopened).")
    row = DetailedAssessment(case_id=case.id, recorded_at=now, recorded_by=actor.ref,  # type: ignore[arg-type]
                             information=data.information, needs=data.needs, meeting_at=data.meeting_at,
                             attendees=data.attendees, agreed=data.agreed)
    session.add(row)
    session.flush()
    rated = _rate(session, case, data.factors, data.risk_level, RatingSource.DETAILED, row.id, actor, now)
    return {"detailed_assessment_id": row.id, "risk_level": case.risk_level} | rated | _groups(
        case, data.special_groups)


def _agency(session: Session, code: str, field: str) -> Agency:
    agency: Agency | None = session.execute(select(Agency).where(col(Agency.code) == code)).scalar_one_or_none()
    if agency is None:
        raise InvalidInput(field, "known_agency", f"Không có cơ quan mã '{code}'.", f"No agency with code '{code}'.")
    return agency


def submit_plan(session: Session, case: Case, data: PlanData, actor: Actor, now: datetime) -> dict[str, Any]:
    assert data.goals and data.measures and case.id is not None
    plan = Plan(case_id=case.id, status=PlanStatus.SUBMITTED, goals=data.goals,
                submitted_at=now, submitted_by=actor.ref)
    session.add(plan)
    session.flush()
    for number, m in enumerate(data.measures, start=1):
        assert m.kind and m.description and m.starts_on and m.ends_on and plan.id is not None  # guarded
        agency = _agency(session, m.agency_code, f"measures.{number - 1}.agency_code") if m.agency_code else None
        session.add(PlanMeasure(plan_id=plan.id, case_id=case.id, number=number, kind=m.kind,
                                description=m.description, agency_id=agency.id if agency else None,
                                responsible=m.responsible, starts_on=m.starts_on, ends_on=m.ends_on))
    session.flush()
    return {"plan_id": plan.id, "plan_status": plan.status, "measures": len(data.measures)}


# Mẫu 05 decisions are numbered per commune and year, in the counter table of case codes
# under their own prefix.
DECISION_PREFIX = "QĐ"  # a case code prefix is ASCII letters, so never this


def decision_label(number: int | None) -> str | None:
    """How a Mẫu 05 decision is cited: "12/QĐ-UBND" (its year is shown beside it)."""
    return None if number is None else f"{number}/QĐ-UBND"


def decide_plan(status: PlanStatus) -> Effect:
    def effect(session: Session, case: Case, data: Any, actor: Actor, now: datetime) -> dict[str, Any]:
        plan = pending_plan(session, case.id)
        assert plan is not None  # guarded by plan_submitted
        plan.status, plan.decided_at, plan.decided_by = status, now, actor.ref
        plan.decision_note = getattr(data, "note", None) or getattr(data, "reason", None)
        details: dict[str, Any] = {"plan_id": plan.id, "plan_status": plan.status}
        if status == PlanStatus.APPROVED and isinstance(data, DecisionData):
            year = now.astimezone(LOCAL_TZ).year
            plan.decision_no, plan.decision_year = next_number(session, DECISION_PREFIX, year), year
            details |= {"decision_no": plan.decision_no, "decision_year": year}
        session.add(plan)
        return details

    return effect


def approved_plan(session: Session, case_id: int | None) -> Plan | None:
    return session.execute(
        select(Plan).where(col(Plan.case_id) == case_id, col(Plan.status) == PlanStatus.APPROVED)
        .order_by(col(Plan.decided_at).desc(), col(Plan.id).desc()).limit(1)
    ).scalar_one_or_none()


def plan_measures(session: Session, plan_id: int | None) -> list[PlanMeasure]:
    return list(session.execute(select(PlanMeasure).where(col(PlanMeasure.plan_id) == plan_id)
                                .order_by(col(PlanMeasure.number))).scalars())


def start_service(session: Session, case: Case, data: ServiceData, actor: Actor, now: datetime) -> dict[str, Any]:
    assert data.kind and data.started_on and data.agency_code
    agency = _agency(session, data.agency_code, "agency_code")
    measure = None
    if data.measure_no is not None:  # the guard checked the approved plan has it
        plan = approved_plan(session, case.id)
        measure = next((m for m in plan_measures(session, plan.id if plan else None)
                        if m.number == data.measure_no), None)
    service = Service(case_id=case.id, kind=data.kind, agency_id=agency.id,  # type: ignore[arg-type]
                      started_on=data.started_on, note=data.note, measure_id=measure.id if measure else None)
    session.add(service)
    session.flush()
    details = {"service_id": service.id, "kind": service.kind, "agency": agency.code,
               "started_on": service.started_on.isoformat(), "measure_no": data.measure_no}
    # The agency that gives the service must be able to read its part of the case. Imported
    # here: referrals reach the permission check, which reads the lifecycle, which names
    # these effects (states/lifecycle/triggers.py).
    from states.cases import referrals

    referral = referrals.ensure_referral(session, case, agency, actor, now)
    if referral is not None:
        details["referral_id"], details["referred_agency_id"] = referral.id, agency.id
    return details


def review(session: Session, case: Case, data: ReviewData, actor: Actor, now: datetime) -> dict[str, Any]:
    """Mẫu 06: the four factors re-rated (required by the guards) and the proposal."""
    assert data.findings and data.factors and data.outcome and case.id is not None
    level = data.risk_level or derived_level(data.factors)
    review = Review(case_id=case.id, reviewed_at=now, findings=data.findings,
                    risk_level=level, outcome=data.outcome, reviewed_by=actor.ref)
    session.add(review)
    session.flush()
    rated = _rate(session, case, data.factors, data.risk_level, RatingSource.REVIEW, review.id, actor, now)
    return {"review_id": review.id, "risk_level": review.risk_level, "outcome": review.outcome} | rated


def decide_emergency(session: Session, case: Case, data: EmergencyDecisionData, actor: Actor,
                     now: datetime) -> dict[str, Any]:
    """The chair's decision; its limit is met at `decided_at` (states/deadlines/policy.toml)."""
    assert data.measures and data.decided_at  # guarded
    _time_not_in_future("decided_at", data.decided_at, now)
    if data.decided_at < case.received_at:
        raise InvalidInput("decided_at", "not_before_receipt",
                           "Thời điểm quyết định không thể trước khi tiếp nhận thông tin.",
                           "decided_at cannot be before the report was received.")
    row = EmergencyDecision(case_id=case.id, decided_at=data.decided_at, decided_by=actor.ref,  # type: ignore[arg-type]
                            recorded_at=now, measures=data.measures, separation=data.separation,
                            alternative_care=data.alternative_care)
    session.add(row)
    session.flush()
    case.emergency = True
    return {"emergency_decision_id": row.id, "decided_at": data.decided_at.isoformat(),
            "separation": data.separation}


def record_consent(session: Session, case: Case, data: ConsentData, actor: Actor,
                   now: datetime) -> dict[str, Any]:
    """The latest record is the one in force (states/cases/referrals.py reads it)."""
    row = Consent(case_id=case.id, recorded_at=now, recorded_by=actor.ref,  # type: ignore[arg-type]
                  child_answer=data.child_answer, carer_answer=data.carer_answer, carer_name=data.carer_name,
                  legal_ground=data.legal_ground, note=data.note)
    session.add(row)
    session.flush()
    return {"consent_id": row.id, "child_answer": row.child_answer, "carer_answer": row.carer_answer,
            "legal_ground": row.legal_ground}


def close(session: Session, case: Case, data: CloseData, actor: Actor, now: datetime) -> dict[str, Any]:
    transferred = data.reason == ClosureReason.TRANSFERRED
    case.closure_reason, case.closed_at = data.reason, now
    case.transferred_to = data.transferred_to if transferred else None
    # The commune the child moved to is kept on the case (erased by retention), not in the
    # audit event, which can never be erased.
    details: dict[str, Any] = {"closure_reason": case.closure_reason,
                               "transferred_to_recorded": case.transferred_to is not None}
    pending = pending_plan(session, case.id)
    if pending is not None:  # a plan waiting for approval dies with the case
        pending.status, pending.decided_at, pending.decided_by = PlanStatus.WITHDRAWN, now, actor.ref
        session.add(pending)
        details["plan_withdrawn"] = pending.id
    return details


def propose_closure(session: Session, case: Case, data: CloseData, actor: Actor,
                    now: datetime) -> dict[str, Any]:
    """A worker or the head proposes closing without intervention; the chair decides (`close`),
    and meanwhile the case waits in the chair's queue (states/cases/desk.py). The commune a
    transfer would go to is kept as a note (erased by retention), not in the audit event."""
    if data.reason == ClosureReason.TRANSFERRED and data.transferred_to:
        note = Note(case_id=case.id, author=actor.ref, written_at=now,  # type: ignore[arg-type]
                    text=f"Đề xuất chuyển vụ việc đến: {data.transferred_to}")
        session.add(note)
        session.flush()
    return {"proposed_closure_reason": data.reason}


def extend_separation(session: Session, case: Case, data: ExtendSeparationData, actor: Actor,
                      now: datetime) -> dict[str, Any]:
    """The new end must lie ahead; the workflow moves the limit (states/deadlines/ladder.py)."""
    assert data.ends_at is not None  # guarded
    if data.ends_at <= now:
        raise InvalidInput("ends_at", "in_future", "Thời điểm kết thúc mới phải ở tương lai.",
                           "ends_at must be in the future.")
    return {"separation_ends_at": data.ends_at.isoformat()}


def end_separation(session: Session, case: Case, data: EndSeparationData, actor: Actor,
                   now: datetime) -> dict[str, Any]:
    """The separation's limit is met at `ended_at` (the deadline policy's `met_by`)."""
    assert data.ended_at is not None and data.outcome is not None  # guarded
    _time_not_in_future("ended_at", data.ended_at, now)
    separation = open_separation(session, case.id)
    if separation is not None and data.ended_at < separation.starts_at:
        raise InvalidInput("ended_at", "not_before_separation",
                           "Thời điểm kết thúc không thể trước khi tách trẻ.",
                           "ended_at cannot be before the separation began.")
    return {"separation_outcome": data.outcome, "separation_ended_at": data.ended_at.isoformat()}


def reopen(session: Session, case: Case, data: ReasonData, actor: Actor, now: datetime) -> dict[str, Any]:
    case.closure_reason = case.transferred_to = None
    case.closed_at = None
    case.reopened_at = now
    return {"reopened": True}


def state_only(session: Session, case: Case, data: Any, actor: Actor, now: datetime) -> dict[str, Any]:
    return {}

"""What each trigger does to the case file beyond moving its state: the rows it writes (an
emergency action, a plan, a service, a review) and the fields it sets. Each effect runs in the
command's transaction after the machine has accepted the trigger, and returns what the audit
event records. `states/lifecycle/triggers.py` names the effect of each trigger."""

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from models import Agency, Case, Deadline, EmergencyAction, Note, Plan, Review, Service
from models.enums import ClosureReason, DeadlineStatus, PlanStatus
from states.identity.actors import Actor
from states.kernel.errors import InvalidInput
from states.lifecycle.commands import (
    AssessData,
    CloseData,
    EmergencyActionData,
    EndSeparationData,
    ExtendSeparationData,
    PlanData,
    ReasonData,
    ReviewData,
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


def assess(session: Session, case: Case, data: AssessData, actor: Actor, now: datetime) -> dict[str, Any]:
    case.risk_level, case.emergency = data.risk_level, data.emergency
    if data.case_type is not None:
        case.case_type = data.case_type
    after: dict[str, Any] = {"risk_level": case.risk_level, "emergency": case.emergency,
                             "case_type": case.case_type}
    if data.emergency_action is not None:
        after |= _add_emergency(session, case, data.emergency_action, actor, now, "emergency_action.")
    return after


def record_emergency(session: Session, case: Case, data: EmergencyActionData, actor: Actor,
                      now: datetime) -> dict[str, Any]:
    return _add_emergency(session, case, data, actor, now)


def submit_plan(session: Session, case: Case, data: PlanData, actor: Actor, now: datetime) -> dict[str, Any]:
    assert data.goals and data.measures and case.id is not None
    plan = Plan(case_id=case.id, status=PlanStatus.SUBMITTED, goals=data.goals,
                measures=data.measures, submitted_at=now, submitted_by=actor.ref)
    session.add(plan)
    session.flush()
    return {"plan_id": plan.id, "plan_status": plan.status}


def decide_plan(status: PlanStatus) -> Effect:
    def effect(session: Session, case: Case, data: Any, actor: Actor, now: datetime) -> dict[str, Any]:
        plan = pending_plan(session, case.id)
        assert plan is not None  # guarded by plan_submitted
        plan.status, plan.decided_at, plan.decided_by = status, now, actor.ref
        plan.decision_note = getattr(data, "note", None) or getattr(data, "reason", None)
        session.add(plan)
        return {"plan_id": plan.id, "plan_status": plan.status}

    return effect


def start_service(session: Session, case: Case, data: ServiceData, actor: Actor, now: datetime) -> dict[str, Any]:
    agency = session.execute(select(Agency).where(col(Agency.code) == data.agency_code)).scalar_one_or_none()
    if agency is None:
        raise InvalidInput("agency_code", "known_agency", f"Không có cơ quan mã '{data.agency_code}'.",
                           f"No agency with code '{data.agency_code}'.")
    assert data.kind and data.started_on
    service = Service(case_id=case.id, kind=data.kind, agency_id=agency.id,  # type: ignore[arg-type]
                      started_on=data.started_on, note=data.note)
    session.add(service)
    session.flush()
    details = {"service_id": service.id, "kind": service.kind, "agency": agency.code,
               "started_on": service.started_on.isoformat()}
    # The agency that gives the service must be able to read its part of the case. Imported
    # here: referrals reach the permission check, which reads the lifecycle, which names
    # these effects (states/lifecycle/triggers.py).
    from states.cases import referrals

    referral = referrals.ensure_referral(session, case, agency, actor, now)
    if referral is not None:
        details["referral_id"], details["referred_agency_id"] = referral.id, agency.id
    return details


def review(session: Session, case: Case, data: ReviewData, actor: Actor, now: datetime) -> dict[str, Any]:
    assert data.findings and data.risk_level and data.outcome and case.id is not None
    review = Review(case_id=case.id, reviewed_at=now, findings=data.findings,
                    risk_level=data.risk_level, outcome=data.outcome, reviewed_by=actor.ref)
    session.add(review)
    session.flush()
    case.risk_level = data.risk_level
    return {"review_id": review.id, "risk_level": review.risk_level, "outcome": review.outcome}


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

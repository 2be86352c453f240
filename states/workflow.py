"""Changing a case: fire a trigger, assign, write a note, end a service.

Each function runs inside the caller's transaction and only flushes: the state change, its
audit event, its deadline rows and its outbox rows commit together or not at all. The case
row is locked (PostgreSQL) and its version compared, so of two concurrent changes exactly one
wins and the other gets `StaleVersion`."""

from collections.abc import Callable
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import select
from sqlmodel import Session, col

from models import Agency, Case, EmergencyAction, Note, Official, Plan, Review, Service
from models.enums import CaseState, ClosureReason, Event, PlanStatus, Trigger
from states import audit, deadlines, events, referrals
from states.access import require_case_write
from states.actors import Actor
from states.case_rows import case_to_change, load_case_for_update
from states.clock import Clock
from states.commands import (
    AssessData,
    CloseData,
    DecisionData,
    EmergencyActionData,
    PlanData,
    ReasonData,
    ReviewData,
    ServiceData,
)
from states.errors import InvalidInput, NotFound, StaleVersion
from states.guards import CaseFacts
from states.machine import fire
from states.permissions import authorize_any_trigger, authorize_trigger
from states.policy import CommunePolicy

TRIGGER_DATA: dict[str, type[BaseModel]] = {
    "assess": AssessData,
    "record_emergency": EmergencyActionData,
    "submit_plan": PlanData,
    "return_plan": ReasonData,
    "approve_plan": DecisionData,
    "start_service": ServiceData,
    "review": ReviewData,
    "replan": ReasonData,
    "close": CloseData,
    "reopen": ReasonData,
}

Effect = Callable[[Session, Case, Any, Actor, datetime], dict[str, Any]]


def _check_version(case: Case, expected_version: int) -> None:
    if case.version != expected_version:
        raise StaleVersion(expected_version, case.version)


def _pending_plan(session: Session, case_id: int | None) -> Plan | None:
    return session.execute(
        select(Plan).where(col(Plan.case_id) == case_id, col(Plan.status) == PlanStatus.SUBMITTED)
    ).scalar_one_or_none()


def _facts(session: Session, case: Case) -> CaseFacts:
    # Only a review of the plan now in force counts towards closing: not one made before a
    # replan's new approval, nor one from before the case was reopened.
    approved_at = session.execute(
        select(col(Plan.decided_at)).where(col(Plan.case_id) == case.id, col(Plan.status) == PlanStatus.APPROVED)
        .order_by(col(Plan.decided_at).desc()).limit(1)
    ).scalar_one_or_none()
    since = max(t for t in (approved_at, case.reopened_at, case.received_at) if t is not None)
    last_review = session.execute(
        select(col(Review.outcome)).where(col(Review.case_id) == case.id, col(Review.reviewed_at) >= since)
        .order_by(col(Review.reviewed_at).desc(), col(Review.id).desc()).limit(1)
    ).scalar_one_or_none()
    return CaseFacts(state=case.state,
                     has_submitted_plan=_pending_plan(session, case.id) is not None,
                     last_review_outcome=last_review)


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


def _assess(session: Session, case: Case, data: AssessData, actor: Actor, now: datetime) -> dict[str, Any]:
    case.risk_level, case.emergency = data.risk_level, data.emergency
    if data.case_type is not None:
        case.case_type = data.case_type
    after: dict[str, Any] = {"risk_level": case.risk_level, "emergency": case.emergency,
                             "case_type": case.case_type}
    if data.emergency_action is not None:
        after |= _add_emergency(session, case, data.emergency_action, actor, now, "emergency_action.")
    return after


def _record_emergency(session: Session, case: Case, data: EmergencyActionData, actor: Actor,
                      now: datetime) -> dict[str, Any]:
    return _add_emergency(session, case, data, actor, now)


def _submit_plan(session: Session, case: Case, data: PlanData, actor: Actor, now: datetime) -> dict[str, Any]:
    assert data.goals and data.measures and case.id is not None
    plan = Plan(case_id=case.id, status=PlanStatus.SUBMITTED, goals=data.goals,
                measures=data.measures, submitted_at=now, submitted_by=actor.ref)
    session.add(plan)
    session.flush()
    return {"plan_id": plan.id, "plan_status": plan.status}


def _decide_plan(status: PlanStatus) -> Effect:
    def effect(session: Session, case: Case, data: Any, actor: Actor, now: datetime) -> dict[str, Any]:
        plan = _pending_plan(session, case.id)
        assert plan is not None  # guarded by plan_submitted
        plan.status, plan.decided_at, plan.decided_by = status, now, actor.ref
        plan.decision_note = getattr(data, "note", None) or getattr(data, "reason", None)
        session.add(plan)
        return {"plan_id": plan.id, "plan_status": plan.status}

    return effect


def _start_service(session: Session, case: Case, data: ServiceData, actor: Actor, now: datetime) -> dict[str, Any]:
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
    # The agency that gives the service must be able to read its part of the case.
    referral = referrals.ensure_referral(session, case, agency, actor, now)
    if referral is not None:
        details["referral_id"], details["referred_agency_id"] = referral.id, agency.id
    return details


def _review(session: Session, case: Case, data: ReviewData, actor: Actor, now: datetime) -> dict[str, Any]:
    assert data.findings and data.risk_level and data.outcome and case.id is not None
    review = Review(case_id=case.id, reviewed_at=now, findings=data.findings,
                    risk_level=data.risk_level, outcome=data.outcome, reviewed_by=actor.ref)
    session.add(review)
    session.flush()
    case.risk_level = data.risk_level
    return {"review_id": review.id, "risk_level": review.risk_level, "outcome": review.outcome}


def _close(session: Session, case: Case, data: CloseData, actor: Actor, now: datetime) -> dict[str, Any]:
    transferred = data.reason == ClosureReason.TRANSFERRED
    case.closure_reason, case.closed_at = data.reason, now
    case.transferred_to = data.transferred_to if transferred else None
    # The commune the child moved to is kept on the case (erased by retention), not in the
    # audit event, which can never be erased.
    details: dict[str, Any] = {"closure_reason": case.closure_reason,
                               "transferred_to_recorded": case.transferred_to is not None}
    pending = _pending_plan(session, case.id)
    if pending is not None:  # a plan waiting for approval dies with the case
        pending.status, pending.decided_at, pending.decided_by = PlanStatus.WITHDRAWN, now, actor.ref
        session.add(pending)
        details["plan_withdrawn"] = pending.id
    return details


def _reopen(session: Session, case: Case, data: ReasonData, actor: Actor, now: datetime) -> dict[str, Any]:
    case.closure_reason = case.transferred_to = None
    case.closed_at = None
    case.reopened_at = now
    return {"reopened": True}


def _state_only(session: Session, case: Case, data: Any, actor: Actor, now: datetime) -> dict[str, Any]:
    return {}


EFFECTS: dict[str, Effect] = {
    "assess": _assess,
    "record_emergency": _record_emergency,
    "submit_plan": _submit_plan,
    "return_plan": _decide_plan(PlanStatus.RETURNED),
    "approve_plan": _decide_plan(PlanStatus.APPROVED),
    "start_service": _start_service,
    "review": _review,
    "replan": _state_only,
    "close": _close,
    "reopen": _reopen,
}


# Free text a trigger accepts that has no column of its own: kept as a note on the case (so it
# is encrypted and shown with the case file), never dropped, never put in the audit event.
TEXT_AS_NOTE: dict[str, tuple[str, str]] = {
    "assess": ("note", "Ghi chú đánh giá"),
    "replan": ("reason", "Lý do lập lại kế hoạch"),
    "close": ("note", "Ghi chú khi đóng vụ việc"),
    "reopen": ("reason", "Lý do mở lại"),
}


def _keep_text_as_note(session: Session, case: Case, actor: Actor, now: datetime, trigger: str,
                       data: BaseModel) -> int | None:
    field, label = TEXT_AS_NOTE.get(trigger, ("", ""))
    text = getattr(data, field, None) if field else None
    if not text:
        return None
    note = Note(case_id=case.id, author=actor.ref, text=f"{label}: {text}", written_at=now)  # type: ignore[arg-type]
    session.add(note)
    session.flush()
    return note.id


def _snapshot(case: Case) -> dict[str, Any]:
    return {"state": case.state, "version": case.version, "risk_level": case.risk_level,
            "emergency": case.emergency, "assignee_id": case.assignee_id}


def _deadline_events(session: Session, case: Case, trigger: str, data: BaseModel) -> list[str]:
    """The events this command means for the deadlines, beyond the trigger itself."""
    out = [trigger]
    if isinstance(data, AssessData):
        if data.emergency_action is not None:
            out.append(Trigger.RECORD_EMERGENCY)
            if data.emergency_action.separated_from_carer:
                out.append(Event.SEPARATED_FROM_CARER)
        elif data.emergency and not session.execute(
                select(col(EmergencyAction.id)).where(
                    col(EmergencyAction.case_id) == case.id,
                    # a reopened case's old emergency action does not protect the child now
                    col(EmergencyAction.done_at) >= (case.reopened_at or case.received_at))).first():
            out.append(Event.EMERGENCY_DECIDED)
    if isinstance(data, EmergencyActionData) and data.separated_from_carer:
        out.append(Event.SEPARATED_FROM_CARER)
    return out


def advance(session: Session, clock: Clock, actor: Actor, code: str, trigger: str,
            data: BaseModel, expected_version: int, policy: CommunePolicy) -> Case:
    """Fire `trigger` on the case: the one way a case changes state. Its deadlines, audit event
    and outgoing messages are written in the same transaction."""
    authorize_any_trigger(actor, trigger)
    case = load_case_for_update(session, code)
    authorize_trigger(actor, trigger, case.state)
    require_case_write(session, actor, case, trigger)
    _check_version(case, expected_version)
    if trigger == "reopen" and case.anonymised_at is not None:
        raise InvalidInput("trigger", "case_not_anonymised",
                           "Vụ việc đã được ẩn danh theo quy định lưu trữ, không thể mở lại; "
                           "hãy tiếp nhận như một thông báo mới.",
                           "The case was anonymised under the retention policy and cannot be "
                           "reopened; record a new report instead.")
    payload = data.model_dump(mode="python")
    before = _snapshot(case)
    new_state = fire(case.state, _facts(session, case), trigger, payload)
    now = clock.now()
    happened = _deadline_events(session, case, trigger, data)
    details = EFFECTS[trigger](session, case, data, actor, now)
    case.state = CaseState(new_state)
    case.version += 1
    case.updated_at = now
    session.add(case)
    session.flush()
    kept = _keep_text_as_note(session, case, actor, now, trigger, data)
    if kept is not None:
        details["note_id"] = kept
    changes = deadlines.apply_events(session, policy.deadlines, case, happened, now)
    if changes:
        details["deadlines"] = changes
    event = audit.record(session, at=now, actor=actor, action=f"case.{trigger}", case_id=case.id,
                         before=before, after=_snapshot(case) | details)
    events.publish(session, policy, case, f"case.{trigger}", event.seq, now,
                   state_changed=before["state"] != case.state)
    if "referred_agency_id" in details:  # a service started with an agency not yet on the case
        events.publish(session, policy, case, Event.CASE_REFERRED, event.seq, now,
                       referred_agency_id=details["referred_agency_id"])
    if Event.EMERGENCY_DECIDED in happened:
        events.publish(session, policy, case, Event.EMERGENCY_DECIDED, event.seq, now,
                       due_kind="emergency_protection")
    return case


def assign(session: Session, clock: Clock, actor: Actor, code: str, official_id: int,
           expected_version: int) -> Case:
    case = case_to_change(session, actor, code, "case.assign")
    _check_version(case, expected_version)
    official = session.get(Official, official_id)
    if official is None or not official.active:
        raise InvalidInput("official_id", "active_official", "Không có cán bộ này (hoặc đã nghỉ).",
                           f"No active official with id {official_id}.")
    before = _snapshot(case)
    now = clock.now()
    case.assignee_id, case.version, case.updated_at = official_id, case.version + 1, now
    session.add(case)
    session.flush()
    audit.record(session, at=now, actor=actor, action="case.assigned", case_id=case.id,
                 before=before, after=_snapshot(case))
    return case


def add_note(session: Session, clock: Clock, actor: Actor, code: str, text: str) -> Note:
    """Notes do not change the case, so they need no version: two workers may both write one."""
    case = case_to_change(session, actor, code, "case.note")
    now = clock.now()
    note = Note(case_id=case.id, author=actor.ref, text=text, written_at=now)  # type: ignore[arg-type]
    session.add(note)
    session.flush()
    audit.record(session, at=now, actor=actor, action="case.note_added", case_id=case.id,
                 after={"note_id": note.id, "length": len(text)})
    return note


def end_service(session: Session, clock: Clock, actor: Actor, code: str, service_id: int,
                ended_on: Any) -> Service:
    case = case_to_change(session, actor, code, "case.service.end")
    service = session.get(Service, service_id)
    if service is None or service.case_id != case.id:
        raise NotFound("service", str(service_id))
    if service.ended_on is not None:
        raise InvalidInput("service_id", "not_already_ended", "Dịch vụ này đã kết thúc.",
                           "This service has already ended.")
    if ended_on < service.started_on:
        raise InvalidInput("ended_on", "not_before_start", "Ngày kết thúc trước ngày bắt đầu.",
                           "ended_on is before started_on.")
    now = clock.now()
    service.ended_on = ended_on
    session.add(service)
    session.flush()
    audit.record(session, at=now, actor=actor, action="case.service_ended", case_id=case.id,
                 after={"service_id": service.id, "ended_on": ended_on.isoformat()})
    return service

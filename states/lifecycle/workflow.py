"""Changing a case: fire a trigger, assign, write a note, end a service.

Each function runs inside the caller's transaction and only flushes: the state change, its
audit event, its deadline rows and its outbox rows commit together or not at all. The case
row is locked (PostgreSQL) and its version compared, so of two concurrent changes exactly one
wins and the other gets `StaleVersion`."""

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import select
from sqlmodel import Session, col

from models import (
    Case,
    Child,
    DetailedAssessment,
    EmergencyAction,
    EmergencyDecision,
    Note,
    Official,
    Plan,
    Review,
    Service,
)
from models.enums import CaseState, Event, PlanStatus, Trigger
from states.access.permissions import authorize_any_trigger, authorize_trigger
from states.access.scope import require_case_write
from states.audit import chain as audit
from states.deadlines import ladder as deadlines
from states.identity.actors import Actor
from states.kernel.clock import LOCAL_TZ, Clock
from states.kernel.commune import CommunePolicy
from states.kernel.errors import InvalidInput, NotFound, StaleVersion
from states.lifecycle import events
from states.lifecycle.case_rows import case_to_change, load_case_for_update
from states.lifecycle.commands import (
    AssessData,
    EmergencyActionData,
    EmergencyDecisionData,
    EndSeparationData,
    ExtendSeparationData,
)
from states.lifecycle.effects import SEPARATION, approved_plan, open_separation, pending_plan, plan_measures
from states.lifecycle.guards import CaseFacts
from states.lifecycle.machine import fire
from states.lifecycle.triggers import SPECS


def _check_version(case: Case, expected_version: int) -> None:
    if case.version != expected_version:
        raise StaleVersion(expected_version, case.version)



def _facts(session: Session, case: Case, now: datetime) -> CaseFacts:
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
    separation = open_separation(session, case.id)
    detailed = session.execute(select(col(DetailedAssessment.id)).where(
        col(DetailedAssessment.case_id) == case.id, col(DetailedAssessment.recorded_at) >= case.current_since)).first()
    plan = approved_plan(session, case.id)
    return CaseFacts(state=case.state,
                     has_submitted_plan=pending_plan(session, case.id) is not None,
                     last_review_outcome=last_review,
                     separation_due_at=separation.due_at if separation is not None else None,
                     has_detailed_assessment=detailed is not None,
                     approved_measures=len(plan_measures(session, plan.id)) if plan is not None else 0,
                     child_under_7=child_under_7(session, case, now))


def child_under_7(session: Session, case: Case, now: datetime) -> bool | None:
    """Whether the child is too young for their own consent to be asked (Luật Trẻ em Art. 6(11):
    from 7). From the birth date, else the estimated age; None when neither is known."""
    child = session.get(Child, case.child_id)
    if child is None:
        return None
    if child.birth_date is not None:
        today = now.astimezone(LOCAL_TZ).date()
        seventh = child.birth_date.replace(year=child.birth_date.year + 7) \
            if (child.birth_date.month, child.birth_date.day) != (2, 29) else date(child.birth_date.year + 7, 3, 1)
        return today < seventh
    if child.estimated_age is not None:
        return child.estimated_age < 7
    return None



def _keep_text_as_note(session: Session, case: Case, actor: Actor, now: datetime, trigger: str,
                       data: BaseModel) -> int | None:
    field, label = SPECS[Trigger(trigger)].note or ("", "")
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


def _deadline_events(session: Session, case: Case, trigger: str,
                     data: BaseModel) -> tuple[list[str], dict[str, datetime]]:
    """The events this command means for the deadlines, beyond the trigger itself, and when
    those recorded after the fact happened: emergency protection is met, and a separation
    starts, when it was done (`done_at`), not when it is typed in; a separation ends at
    `ended_at`; the chair's emergency decision is met, and the separation it decides starts
    (unless one already runs), at `decided_at`."""
    out, at = [trigger], {}
    if isinstance(data, AssessData):
        if data.emergency_action is not None and data.emergency_action.done_at is not None:
            out.append(Trigger.RECORD_EMERGENCY)
            at[Trigger.RECORD_EMERGENCY.value] = data.emergency_action.done_at
            if data.emergency_action.separated_from_carer:
                out.append(Event.SEPARATED_FROM_CARER)
                at[Event.SEPARATED_FROM_CARER.value] = data.emergency_action.done_at
        elif data.emergency and not session.execute(
                select(col(EmergencyAction.id)).where(
                    col(EmergencyAction.case_id) == case.id,
                    # a reopened case's old emergency action does not protect the child now
                    col(EmergencyAction.done_at) >= case.current_since)).first():
            out.append(Event.EMERGENCY_DECIDED)
        if (data.emergency or data.emergency_action is not None) and not session.execute(
                select(col(EmergencyDecision.id)).where(
                    col(EmergencyDecision.case_id) == case.id,
                    col(EmergencyDecision.decided_at) >= case.current_since)).first():
            out.append(Event.EMERGENCY_FOUND)  # the chair's decision is due (its own limit)
    if isinstance(data, EmergencyActionData) and data.done_at is not None:
        at[trigger] = data.done_at
        if data.separated_from_carer:
            out.append(Event.SEPARATED_FROM_CARER)
            at[Event.SEPARATED_FROM_CARER.value] = data.done_at
    if isinstance(data, EndSeparationData) and data.ended_at is not None:
        at[trigger] = data.ended_at
    if isinstance(data, EmergencyDecisionData) and data.decided_at is not None:
        at[trigger] = data.decided_at
        if data.separation:  # the separation's 15 days run from the chair's decision at the latest
            out.append(Event.SEPARATED_FROM_CARER)
            at[Event.SEPARATED_FROM_CARER.value] = data.decided_at
    return out, at


def advance(session: Session, clock: Clock, actor: Actor, code: str, trigger: str,
            data: BaseModel, expected_version: int, policy: CommunePolicy) -> Case:
    """Fire `trigger` on the case: the one way a case changes state. Its deadlines, audit event
    and outgoing messages are written in the same transaction."""
    authorize_any_trigger(actor, trigger)
    case = load_case_for_update(session, code)
    authorize_trigger(actor, trigger, case.state, policy)
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
    now = clock.now()
    new_state = fire(case.state, _facts(session, case, now), trigger, payload)
    happened, happened_at = _deadline_events(session, case, trigger, data)
    details = SPECS[Trigger(trigger)].effect(session, case, data, actor, now)
    case.state = CaseState(new_state)
    case.version += 1
    case.updated_at = now
    session.add(case)
    session.flush()
    kept = _keep_text_as_note(session, case, actor, now, trigger, data)
    if kept is not None:
        details["note_id"] = kept
    changes = deadlines.apply_events(session, policy.deadlines, case, happened, now, happened_at)
    if isinstance(data, ExtendSeparationData) and data.ends_at is not None:
        changes |= deadlines.move_due(session, policy.deadlines, case, SEPARATION, data.ends_at, now)
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

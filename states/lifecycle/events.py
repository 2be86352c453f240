"""Telling notifications what happened to a case (it receives events; it decides no states)."""

from datetime import datetime

from sqlalchemy import select
from sqlmodel import Session, col

from models import Case, CaseAbuseForm, Deadline
from notifications.outbox import CaseEvent, notify
from states.kernel.commune import CommunePolicy
from states.lifecycle.case_rows import first_report


def publish(session: Session, policy: CommunePolicy, case: Case, name: str, seq: int, now: datetime,
            *, state_changed: bool = False, due_kind: str | None = None,
            referred_agency_id: int | None = None, digest: bool = False) -> int:
    forms = tuple(session.execute(
        select(col(CaseAbuseForm.form)).where(col(CaseAbuseForm.case_id) == case.id)).scalars())
    first = first_report(session, case.id)
    due_at = None
    if due_kind is not None:
        due_at = session.execute(
            select(col(Deadline.due_at)).where(col(Deadline.case_id) == case.id, col(Deadline.kind) == due_kind,
                                               col(Deadline.status) == "open")).scalar_one_or_none()
    event = CaseEvent(
        name=name, seq=seq, at=now, case_id=case.id or 0, case_code=case.code, state=case.state,
        abuse_forms=forms, assignee_id=case.assignee_id,
        school_agency_id=first.school_agency_id, hotline_ref=first.hotline_ref,
        state_changed=state_changed, due_at=due_at, referred_agency_id=referred_agency_id, digest=digest)
    return notify(session, policy.notify, event)

"""Reading the audit trail, for the auditor. Events hold no personal data by construction
(states/audit/chain.py), so the auditor sees who did what and when, never a case's content. Each
page read is itself an event."""

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from models import AuditEvent, Case
from states.access.permissions import authorize
from states.audit import chain as audit
from states.identity.actors import Actor
from states.kernel.errors import NotFound

MAX_EVENTS = 500


def list_events(session: Session, now: datetime, actor: Actor, *, after_seq: int = 0,
                limit: int = 100, case_code: str | None = None,
                action: str | None = None) -> list[dict[str, Any]]:
    authorize(actor, "audit.read")
    query = (select(AuditEvent, col(Case.code)).join(Case, col(Case.id) == col(AuditEvent.case_id), isouter=True)
             .where(col(AuditEvent.seq) > after_seq))
    if case_code is not None:
        case_id = session.execute(select(col(Case.id)).where(col(Case.code) == case_code)).scalar_one_or_none()
        if case_id is None:
            raise NotFound("case", case_code)
        query = query.where(col(AuditEvent.case_id) == case_id)
    if action is not None:
        query = query.where(col(AuditEvent.action) == action)
    rows = session.execute(query.order_by(col(AuditEvent.seq)).limit(min(limit, MAX_EVENTS))).all()
    events = [{"seq": e.seq, "at": e.at, "actor": e.actor, "action": e.action, "case": code,
               "before": audit.loads(e.before), "after": audit.loads(e.after), "hash": e.hash}
              for e, code in rows]
    audit.record(session, at=now, actor=actor, action="audit.read", case_id=None,
                 after={"after_seq": after_seq, "count": len(events), "case": case_code,
                        "action": action})
    return events

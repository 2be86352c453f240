"""The access log: every read of a child's private fields is an audit event.

Personal Data Protection Law 91/2025 lets the child's legal representative ask who processed
the data; a breach must be notified within 72 hours, which needs to know who saw what. The
events sit on the same hash chain as every change, so a read cannot be quietly erased.
"""

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from models import AuditEvent, Case
from states.access.permissions import authorize
from states.audit import chain as audit
from states.identity.actors import Actor
from states.kernel.clock import Clock
from states.kernel.errors import NotFound

READ_ACTIONS = ("case.viewed", "child.exported", "case.printed", "case.attachment.downloaded")


def record_read(session: Session, now: datetime, actor: Actor, case: Case, action: str,
                view: str, fields: list[str]) -> None:
    audit.record(session, at=now, actor=actor, action=action, case_id=case.id,
                 after={"case": case.code, "view": view, "fields": fields})


def reads_of_child(session: Session, child_id: int) -> list[dict[str, Any]]:
    """Every recorded read of any case about this child, oldest first."""
    rows = session.execute(
        select(AuditEvent, col(Case.code)).join(Case, col(Case.id) == col(AuditEvent.case_id))
        .where(col(Case.child_id) == child_id, col(AuditEvent.action).in_(READ_ACTIONS))
        .order_by(col(AuditEvent.seq))
    ).all()
    out = []
    for event, code in rows:
        after = audit.loads(event.after)
        out.append({"seq": event.seq, "at": event.at, "actor": event.actor, "action": event.action,
                    "case": code, "view": after.get("view"), "fields": after.get("fields", [])})
    return out


def viewers(session: Session, clock: Clock, actor: Actor, code: str) -> list[dict[str, Any]]:
    """Who has read the record of the child of case `code` (for the auditor, the head, and the
    child's legal representative). Looking is itself recorded."""
    authorize(actor, "case.access_log")
    case = session.execute(select(Case).where(col(Case.code) == code)).scalar_one_or_none()
    if case is None:
        raise NotFound("case", code)
    rows = reads_of_child(session, case.child_id)
    audit.record(session, at=clock.now(), actor=actor, action="access_log.read", case_id=case.id,
                 after={"case": case.code, "entries": len(rows)})
    return rows

"""The SMS sent about a case, with their delivery state, for the people who run the case.

An SMS holds no personal data by construction (notifications/templates), so what this shows
is who was told, of what kind of event, when, and whether it arrived: enough to see that the
police were told of an emergency, or that an alert never reached its official. Agency officials
do not see it (it lists other agencies' people)."""

from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import select
from sqlmodel import Session, col

from models import Case, Official, OutboxMessage
from states.access.permissions import authorize
from states.access.scope import View, view_for
from states.identity.actors import Actor
from states.kernel.errors import NotFound

LIMIT = 200


class MessageLine(BaseModel):
    id: int
    kind: str | None
    recipient_name: str | None
    urgent: bool
    status: str
    delivery_status: str | None
    created_at: datetime
    sent_at: datetime | None
    attempts: int


def sent_about(session: Session, actor: Actor, code: str) -> list[MessageLine]:
    authorize(actor, "case.read")
    case = session.execute(select(Case).where(col(Case.code) == code)).scalar_one_or_none()
    if case is None:
        raise NotFound("case", code)
    if view_for(session, actor, case) == View.AGENCY:
        return []
    rows = session.execute(
        select(OutboxMessage, col(Official.full_name))
        .join(Official, col(Official.id) == col(OutboxMessage.official_id), isouter=True)
        .where(col(OutboxMessage.case_id) == case.id, col(OutboxMessage.channel) == "sms")
        .order_by(col(OutboxMessage.created_at).desc(), col(OutboxMessage.id).desc()).limit(LIMIT)).all()
    return [MessageLine(id=m.id or 0, kind=m.kind, recipient_name=name, urgent=m.urgent, status=m.status,
                        delivery_status=m.delivery_status, created_at=m.created_at, sent_at=m.sent_at,
                        attempts=m.attempts) for m, name in rows]

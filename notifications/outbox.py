"""Enqueue messages inside the caller's transaction.

One row per recipient per cause, unique by `dedupe_key`: inserting a row that exists already is
a no-op (`ON CONFLICT DO NOTHING`), so a sweep or a route that runs twice sends nothing twice."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import Integer, Table, bindparam, func, select, text
from sqlmodel import Session

from models import Official, OutboxMessage
from models.dialect import insert_or_ignore
from models.outbox import RANG_CONDITION
from models.statements import Query, Statement
from notifications.config import NotifyConfig
from notifications.routing import Contact, Roster
from notifications.sms import segments
from notifications.templates import local_time, render

# Keys of the messages *about* messages (a number unreachable, a dead letter): when one of these
# cannot be delivered it raises no further message, or a head whose own number fails would be
# told so, by a message that fails, for ever.
OPERATIONAL_KEYS = ("unreachable:", "unreachable-cb:", "dead:")


def is_operational(dedupe_key: str) -> bool:
    return dedupe_key.startswith(OPERATIONAL_KEYS)


_TABLE: Table = OutboxMessage.__table__  # type: ignore[attr-defined]  # Core, not the ORM's bulk-insert path: we want the rowcount
_INSERT = Statement(insert_or_ignore(_TABLE, ["dedupe_key"]))


def _insert(session: Session, values: dict[str, Any]) -> bool:
    # One statement built once per dialect, executed with parameters: compiled once, cached.
    return bool(_INSERT.execute(session, values))


# The template of the one message held messages become (notifications/digest.py).
DIGEST = "digest"
# Why a held row waits (its `payload`): an anonymous online report, or the official's ceiling.
HELD_ONLINE, HELD_CEILING = "online", "ceiling"
# SMS an official was sent, or is about to be, in the last hour (held ones never rang), counted
# up to the ceiling only. The condition on status is written as the partial index
# `ix_outbox_official_rang` states it, so that both databases answer from that index alone:
# counting every row of the hour (held ones too) made each intake slower as a flood went on.
# Only SMS name an official, so the channel needs no condition.
_RANG = text(RANG_CONDITION)


class _Count(NamedTuple):
    rows: int


_RECENT_SMS = Query(select(func.count()).select_from(
    select(_TABLE.c.id).where(_TABLE.c.official_id == bindparam("official_id"),
                              _TABLE.c.created_at > bindparam("since"), _RANG)
    .limit(bindparam("cap", type_=Integer)).subquery()), _Count)


def _held_because(session: Session, config: NotifyConfig, official_id: int | None, template: str,
                  now: datetime, *, urgent: bool, digest: bool) -> str | None:
    """Anyone can file an online report, so those must not make phones ring one by one; and no
    cause may ring one phone more than the ceiling an hour. Emergencies and overdue alerts
    ring regardless (the law's clock is running), and so does the digest itself."""
    if urgent or template == DIGEST:
        return None
    if digest:
        return HELD_ONLINE
    if official_id is None:
        return None
    recent = _RECENT_SMS.one(session, {"official_id": official_id, "since": now - timedelta(hours=1),
                                       "cap": config.sms_per_official_per_hour}).rows
    return HELD_CEILING if recent >= config.sms_per_official_per_hour else None


def enqueue_sms(session: Session, config: NotifyConfig, *, dedupe_key: str, official: Contact | Official,
                template: str, now: datetime, case_id: int | None = None, alert_id: int | None = None,
                expires_at: datetime | None = None, urgent: bool = False, digest: bool = False,
                **values: object) -> bool:
    """`digest`: caused by an anonymous online report, so told in the official's next digest
    rather than now. Returns whether a row was written (False: it exists already)."""
    body = render(template, official.language, unaccented=config.unaccented, **values)
    held = _held_because(session, config, official.id, template, now, urgent=urgent, digest=digest)
    row: dict[str, Any] = {
        "dedupe_key": dedupe_key, "channel": "sms", "recipient": official.phone,
        "official_id": official.id, "case_id": case_id, "alert_id": alert_id, "body": body,
        "kind": template, "urgent": urgent, "claimed_by": None,
        "segments": segments(body), "status": "pending", "attempts": 0, "next_attempt_at": now,
        "created_at": now, "expires_at": expires_at or now + config.sms_validity,
    }
    if held is not None:
        row.update(status="held", payload={"held": held})
    return _insert(session, row)


def enqueue_webhook(session: Session, *, dedupe_key: str, url: str, payload: dict[str, Any],
                    now: datetime, case_id: int | None) -> bool:
    return _insert(session, {
        "dedupe_key": dedupe_key, "channel": "webhook", "recipient": url, "case_id": case_id,
        "body": "", "kind": "hotline_status", "urgent": False, "claimed_by": None,
        "payload": payload, "segments": 0, "status": "pending", "attempts": 0,
        "next_attempt_at": now, "created_at": now, "expires_at": None,
    })


@dataclass(frozen=True)
class CaseEvent:
    """What notifications are told about a change of a case. No personal data."""

    name: str  # case.opened, report.linked, emergency_decided, case.<trigger>
    seq: int  # the audit event's seq: makes every route's rows unique per event
    at: datetime
    case_id: int
    case_code: str
    state: str
    abuse_forms: tuple[str, ...] = ()
    assignee_id: int | None = None
    school_agency_id: int | None = None
    hotline_ref: str | None = None
    state_changed: bool = False
    due_at: datetime | None = None  # the most pressing open limit, for the message
    referred_agency_id: int | None = None  # case.referred: the agency the case went to
    digest: bool = False  # caused by an anonymous online report: officials hear in a digest


def notify(session: Session, config: NotifyConfig, event: CaseEvent) -> int:
    """Enqueue what the routing table says this event causes; returns rows written."""
    written = 0
    due = local_time(event.due_at) if event.due_at else ""
    # The case's page on the desk: login required there, and the case code is all the link says.
    page = f"{config.public_url.rstrip('/')}/desk/cases/{event.case_code}"
    routes = [r for r in config.routes if r.matches(event.name, list(event.abuse_forms))]
    roster = Roster.current(session) if routes else None
    for route in routes:
        assert roster is not None
        for target in route.to:
            for official in roster.resolve(target, assignee_id=event.assignee_id,
                                           school_agency_id=event.school_agency_id,
                                           referred_agency_id=event.referred_agency_id):
                written += enqueue_sms(
                    session, config, dedupe_key=f"event:{event.seq}:{route.template}:{official.id}",
                    official=official, template=route.template, now=event.at, case_id=event.case_id,
                    urgent=route.urgent, digest=event.digest, code=event.case_code, due=due, page=page)
    if event.hotline_ref and config.hotline_status_url and event.state_changed:
        written += enqueue_webhook(
            session, dedupe_key=f"hotline:{event.seq}", url=config.hotline_status_url, now=event.at,
            case_id=event.case_id,
            payload={"hotline_ref": event.hotline_ref, "case_code": event.case_code,
                     "state": event.state, "event": event.name, "at": event.at.isoformat()})
    return written

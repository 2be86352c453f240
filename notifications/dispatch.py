"""Send what the outbox holds, after commit.

A batch is claimed in one short transaction (`FOR UPDATE SKIP LOCKED` on PostgreSQL, the write
lock on SQLite): claimed rows become `sending` with a lease, so a second dispatcher skips them,
and a dispatcher that dies leaves rows that are claimed again when the lease runs out (at least
once; Twilio's side is not transactional with ours). Each result is recorded in its own
transaction. Transient failures are retried with exponential backoff and jitter; permanent
ones fail at once and tell the head; a row out of attempts is dead and tells the administrator."""

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlmodel import Session, col

from models import Database, Official, OutboxMessage
from notifications.config import NotifyConfig
from notifications.outbox import enqueue_sms, is_operational
from notifications.providers import SendError, SmsProvider, WebhookSender
from notifications.routing import resolve

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 6
    base: timedelta = timedelta(seconds=30)
    cap: timedelta = timedelta(minutes=30)
    lease: timedelta = timedelta(minutes=2)
    # The longest one send may take (the provider's timeout and then some). A dispatcher stops
    # working through its batch while a send could still outlast the lease: past the lease
    # another dispatcher may claim the same rows, and the message would go out twice.
    send_budget: timedelta = timedelta(seconds=15)

    def delay(self, attempts: int, rand: Callable[[], float] = random.random) -> timedelta:
        """Full jitter: a random wait up to base·2^(attempts-1), capped."""
        ceiling = min(self.cap, self.base * (2 ** max(0, attempts - 1)))
        return timedelta(seconds=ceiling.total_seconds() * (0.5 + rand() / 2))


@dataclass
class DispatchReport:
    claimed: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    dead: int = 0
    expired: int = 0
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Claimed:
    id: int
    channel: str
    recipient: str
    body: str
    payload: dict[str, Any] | None
    attempts: int
    official_id: int | None
    case_id: int | None
    expires_at: datetime | None
    dedupe_key: str = ""


def claim(db: Database, now: datetime, batch: int, retry: RetryPolicy) -> list[Claimed]:
    with db.write() as session:
        query = (select(OutboxMessage)
                 .where(col(OutboxMessage.status).in_(("pending", "sending")),
                        col(OutboxMessage.next_attempt_at) <= now)
                 .order_by(col(OutboxMessage.next_attempt_at), col(OutboxMessage.id)).limit(batch))
        if session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        rows = list(session.execute(query).scalars())
        for row in rows:
            row.status, row.attempts = "sending", row.attempts + 1
            row.next_attempt_at = now + retry.lease
            session.add(row)
        return [Claimed(r.id or 0, r.channel, r.recipient, r.body, r.payload, r.attempts,
                        r.official_id, r.case_id, r.expires_at, r.dedupe_key) for r in rows]


def _finish(db: Database, msg: Claimed, **values: Any) -> bool:
    """Record a result, unless the row was claimed again meanwhile (lease ran out)."""
    with db.write() as session:
        result = session.execute(
            update(OutboxMessage)
            .where(col(OutboxMessage.id) == msg.id, col(OutboxMessage.status) == "sending",
                   col(OutboxMessage.attempts) == msg.attempts)
            .values(**values))
        return bool(result.rowcount)  # type: ignore[attr-defined]


# Called inside the transaction that enqueues an operational alert, so that the caller (the
# flow) can put it on the audit trail, which notifications does not own.
AlertHook = Callable[[Session, datetime, str, dict[str, Any]], None]


def _tell(db: Database, config: NotifyConfig, now: datetime, target: str, template: str,
          key: str, hook: AlertHook | None, **values: Any) -> None:
    with db.write() as session:
        recipients = resolve(session, target)
        for official in recipients:
            enqueue_sms(session, config, dedupe_key=f"{key}:{official.id}", official=official,
                        template=template, now=now, **values)
        if hook is not None:
            hook(session, now, f"notification.{template}",
                 {**values, "recipients": [o.id for o in recipients]})


def dispatch_once(db: Database, clock: Callable[[], datetime], sms: SmsProvider, config: NotifyConfig,
                  webhook: WebhookSender | None = None, retry: RetryPolicy = RetryPolicy(),
                  batch: int = 50, status_callback: str | None = None,
                  on_alert: AlertHook | None = None) -> DispatchReport:
    report = DispatchReport()
    claimed_at = clock()
    claimed = claim(db, claimed_at, batch, retry)
    report.claimed = len(claimed)
    for position, msg in enumerate(claimed):
        now = clock()
        if now + retry.send_budget >= claimed_at + retry.lease:
            _release(db, claimed[position:], now)
            break
        if msg.expires_at is not None and now >= msg.expires_at:
            _finish(db, msg, status="expired", last_error="validity period passed before sending")
            report.expired += 1
            continue
        try:
            if msg.channel == "sms":
                validity = int((msg.expires_at - now).total_seconds()) if msg.expires_at else None
                provider_id = sms.send(msg.recipient, msg.body, validity_seconds=validity,
                                       status_callback=status_callback)
            else:
                provider_id = (webhook or WebhookSender()).post(msg.recipient, msg.payload or {})
        except SendError as err:
            _failed(db, config, retry, msg, err, clock(), report, on_alert)
            continue
        _finish(db, msg, status="sent", provider_id=provider_id, sent_at=clock(), last_error=None)
        report.sent += 1
    return report


PROVIDER_REFUSED = frozenset({20003})  # Twilio: authentication failed


def _release(db: Database, rest: list[Claimed], now: datetime) -> None:
    """Hand back rows this dispatcher no longer has time to send, as if never claimed."""
    with db.write() as session:
        for msg in rest:
            session.execute(
                update(OutboxMessage)
                .where(col(OutboxMessage.id) == msg.id, col(OutboxMessage.status) == "sending",
                       col(OutboxMessage.attempts) == msg.attempts)
                .values(status="pending", attempts=msg.attempts - 1, next_attempt_at=now))


def _failed(db: Database, config: NotifyConfig, retry: RetryPolicy, msg: Claimed, err: SendError,
            now: datetime, report: DispatchReport, hook: AlertHook | None) -> None:
    report.errors.append(err.reason)
    if err.permanent:
        _finish(db, msg, status="failed", last_error=err.reason)
        report.failed += 1
        if is_operational(msg.dedupe_key):
            log.error("operational message %s failed: %s", msg.id, err.reason)
        elif err.code in PROVIDER_REFUSED:
            # Our account, not the official's phone: an SMS about it would go the same way.
            log.error("the SMS provider refused our credentials (%s): check the configuration", err.reason)
            if hook is not None:
                with db.write() as session:
                    hook(session, now, "notification.provider_refused", {"message": msg.id, "reason": err.reason})
        elif msg.official_id is not None:
            _tell(db, config, now, "head", "unreachable", f"unreachable:{msg.id}", hook,
                  who=msg.official_id, reason=err.reason)
        return
    if msg.attempts >= retry.max_attempts:
        _finish(db, msg, status="dead", last_error=err.reason)
        report.dead += 1
        if is_operational(msg.dedupe_key):
            log.error("operational message %s dead: %s", msg.id, err.reason)
        else:
            _tell(db, config, now, "sysadmin", "dead_letter", f"dead:{msg.id}", hook,
                  message=msg.id, attempts=msg.attempts)
        return
    _finish(db, msg, status="pending", next_attempt_at=now + retry.delay(msg.attempts),
            last_error=err.reason)
    report.retried += 1

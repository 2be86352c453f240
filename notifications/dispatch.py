"""Send what the outbox holds, after commit.

A batch is claimed in one short transaction (`FOR UPDATE SKIP LOCKED` on PostgreSQL, the write
lock on SQLite): claimed rows become `sending` under the claiming dispatcher (`claimed_by`) with
a lease, so a second dispatcher skips them. A dispatcher proves it is alive by a lock the
operating system or the database frees when it dies (notifications/liveness.py); a claim takes
over at once the rows of a dispatcher whose lock is free. The lease stays as the last resort.

Delivery is at least once, and at most one repeat per message per crash: Twilio has no
idempotency key, so a message handed over whose result was not recorded before its dispatcher
died is sent again by the takeover. Only a message in flight can be in that state: messages go
one at a time and each result is recorded, in its own transaction, before the next is sent.
A result that cannot be recorded is retried on a fresh connection; if the database stays
unreachable the run stops, leaving its claims to be taken over.

Transient failures are retried with exponential backoff and jitter, within seconds for urgent
messages (emergencies, overdue and escalation alerts); permanent ones fail at once and tell the
head. An alert that will not reach its official in time (permanent failure, out of attempts, or
its next try past its expiry) is handed to the next level of the ladder by a hook the flows
layer supplies, and the head is told the official is unreachable. Any other message out of
attempts is dead and tells the administrator."""

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlmodel import Session, col

from models import Database, OutboxMessage
from models.dialect import skip_locked
from models.enums import OutboxStatus
from notifications.config import NotifyConfig
from notifications.liveness import Identity, bury, probe_dead
from notifications.outbox import enqueue_sms, is_operational
from notifications.providers import SendError, SmsProvider, WebhookSender
from notifications.routing import resolve
from notifications.unreachable import tell_unreachable

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 6
    base: timedelta = timedelta(seconds=30)
    cap: timedelta = timedelta(minutes=30)
    # Emergencies and overdue alerts run against limits of hours: half-hour waits between tries
    # made one arrive 12 minutes late. Their tries come within seconds, never a minute apart.
    urgent_base: timedelta = timedelta(seconds=2)
    urgent_cap: timedelta = timedelta(seconds=60)
    lease: timedelta = timedelta(minutes=2)
    # The longest one send may take (the provider's timeout and then some). A dispatcher stops
    # working through its batch while a send could still outlast the lease: past the lease
    # another dispatcher may claim the same rows, and the message would go out twice.
    send_budget: timedelta = timedelta(seconds=15)

    def delay(self, attempts: int, rand: Callable[[], float] = random.random, *,
              urgent: bool = False) -> timedelta:
        """Jitter: a random wait between half and all of base·2^(attempts-1), capped."""
        base, cap = (self.urgent_base, self.urgent_cap) if urgent else (self.base, self.cap)
        ceiling = min(cap, base * (2 ** max(0, attempts - 1)))
        return timedelta(seconds=ceiling.total_seconds() * (0.5 + rand() / 2))


# Pauses between tries to record one result; about 8 s in all, then the database counts as gone.
RECORD_PAUSES = (0.2, 0.5, 1.0, 2.0, 4.0)


@dataclass
class DispatchReport:
    claimed: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    dead: int = 0
    expired: int = 0
    handed_over: int = 0
    taken_over: int = 0
    stopped: bool = False  # the database went away or the dispatcher lost its lock
    errors: list[str] = field(default_factory=list)

    COUNTS = ("claimed", "sent", "retried", "failed", "dead", "expired", "handed_over", "taken_over")


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
    alert_id: int | None = None
    urgent: bool = False


@dataclass(frozen=True)
class Undelivered:
    """An alert message that will not reach its official in time. No personal data."""

    message_id: int
    alert_id: int
    official_id: int
    reason: str


@dataclass(frozen=True)
class HandedOver:
    level: str
    recipients: list[int]


# Called inside the transaction that enqueues an operational alert, so that the caller (the
# flow) can put it on the audit trail, which notifications does not own.
AlertHook = Callable[[Session, datetime, str, dict[str, Any]], None]
# Enqueues the alert to the next level of the ladder, in the transaction that records the
# failure; None when nobody is above or the alert no longer matters. The ladder is the
# workflow's (states), which notifications does not import: the flows layer supplies this.
HandOver = Callable[[Session, datetime, Undelivered], HandedOver | None]


def _ready(query: Any, session: Session, batch: int) -> list[OutboxMessage]:
    return list(session.execute(skip_locked(session, query.order_by(
        col(OutboxMessage.next_attempt_at), col(OutboxMessage.id)).limit(batch))).scalars())


def claim(db: Database, now: datetime, batch: int, retry: RetryPolicy, owner: int | None = None,
          report: DispatchReport | None = None) -> list[Claimed]:
    """Claim what is due, first taking over the claims of dispatchers that are provably dead."""
    with db.write() as session:
        owners = {i for i in session.execute(
            select(col(OutboxMessage.claimed_by)).distinct().where(
                col(OutboxMessage.status) == "sending", col(OutboxMessage.claimed_by).is_not(None),
                col(OutboxMessage.claimed_by) != (owner or 0))).scalars() if i is not None}
        dead = probe_dead(session, db, owners) if owners else set()
        rows: list[OutboxMessage] = []
        if dead:
            bury(session, dead, now)
            orphans = select(OutboxMessage).where(col(OutboxMessage.status) == "sending",
                                                  col(OutboxMessage.claimed_by).in_(dead))
            rows = _ready(orphans, session, batch)
            log.info("took over %d messages of dead dispatcher(s) %s", len(rows), sorted(dead))
            if report is not None:
                report.taken_over += len(rows)
        if len(rows) < batch:
            taken = {r.id for r in rows}
            due = select(OutboxMessage).where(col(OutboxMessage.status).in_(("pending", "sending")),
                                              col(OutboxMessage.next_attempt_at) <= now)
            rows += [r for r in _ready(due, session, batch) if r.id not in taken][:batch - len(rows)]
        for row in rows:
            row.status, row.attempts, row.claimed_by = OutboxStatus.SENDING, row.attempts + 1, owner
            row.next_attempt_at = now + retry.lease
            session.add(row)
        return [Claimed(r.id or 0, r.channel, r.recipient, r.body, r.payload, r.attempts, r.official_id,
                        r.case_id, r.expires_at, r.dedupe_key, r.alert_id, r.urgent) for r in rows]


def _settle(session: Session, msg: Claimed, **values: Any) -> bool:
    """Record a result, unless the row was claimed again meanwhile (taken over, lease ran out)."""
    result = session.execute(
        update(OutboxMessage)
        .where(col(OutboxMessage.id) == msg.id, col(OutboxMessage.status) == "sending",
               col(OutboxMessage.attempts) == msg.attempts)
        .values(claimed_by=None, **values))
    return bool(result.rowcount)  # type: ignore[attr-defined]


class DatabaseUnreachable(Exception):
    pass


def _recorded(db: Database, msg: Claimed, record: Callable[[Session], Any]) -> None:
    """Run `record` in its own write transaction; on a lost connection try again on a fresh
    one (the pool replaces a broken connection). Every `record` is safe to repeat: it acts only
    if its conditional update still finds the row as claimed."""
    for pause in (*RECORD_PAUSES, None):
        try:
            with db.write() as session:
                record(session)
            return
        except DBAPIError as exc:
            if not (isinstance(exc, OperationalError | InterfaceError) or exc.connection_invalidated):
                raise
            if pause is None:
                raise DatabaseUnreachable(type(exc).__name__) from exc
            log.warning("message %d: result not recorded (%s); trying again", msg.id, type(exc).__name__)
            time.sleep(pause)


@dataclass
class _Run:
    db: Database
    config: NotifyConfig
    retry: RetryPolicy
    report: DispatchReport
    hook: AlertHook | None
    hand_over: HandOver | None


def dispatch_once(db: Database, clock: Callable[[], datetime], sms: SmsProvider, config: NotifyConfig,
                  webhook: WebhookSender | None = None, retry: RetryPolicy = RetryPolicy(),
                  batch: int = 50, status_callback: str | None = None,
                  on_alert: AlertHook | None = None, *, owner: Identity | None = None,
                  hand_over: HandOver | None = None) -> DispatchReport:
    report = DispatchReport()
    run = _Run(db, config, retry, report, on_alert, hand_over)
    claimed_at = clock()
    claimed = claim(db, claimed_at, batch, retry, owner.id if owner else None, report)
    report.claimed = len(claimed)
    for position, msg in enumerate(claimed):
        now = clock()
        if now + retry.send_budget >= claimed_at + retry.lease:
            _release(db, claimed[position:], now)
            break
        if owner is not None and not owner.alive():
            report.stopped = True  # our claims may be someone else's now: send nothing more
            break
        try:
            if msg.expires_at is not None and now >= msg.expires_at:
                _recorded(db, msg, partial(_expired, run=run, msg=msg, now=now,
                                           reason="validity period passed before sending"))
                continue
            try:
                if msg.channel == "sms":
                    validity = int((msg.expires_at - now).total_seconds()) if msg.expires_at else None
                    provider_id = sms.send(msg.recipient, msg.body, validity_seconds=validity,
                                           status_callback=status_callback)
                else:
                    provider_id = (webhook or WebhookSender()).post(msg.recipient, msg.payload or {})
            except SendError as err:
                report.errors.append(err.reason)
                _recorded(db, msg, partial(_failed, run=run, msg=msg, err=err, now=clock()))
                continue
            _recorded(db, msg, partial(_settle, msg=msg, status="sent", provider_id=provider_id,
                                       sent_at=clock(), last_error=None))
            report.sent += 1
            log.debug("message %d sent", msg.id)
        except DatabaseUnreachable as exc:
            log.error("database unreachable (%s): message %d's result is not recorded; this run stops "
                      "and leaves %d claimed messages to be taken over", exc, msg.id, len(claimed) - position)
            report.stopped = True
            break
        except Exception:  # one message's bookkeeping must not hold back the rest of the batch
            log.exception("message %d: result could not be recorded", msg.id)
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
                .values(status="pending", attempts=msg.attempts - 1, next_attempt_at=now, claimed_by=None))


def _tell(session: Session, run: _Run, now: datetime, target: str, template: str, key: str,
          **values: Any) -> None:
    recipients = resolve(session, target)
    for official in recipients:
        enqueue_sms(session, run.config, dedupe_key=f"{key}:{official.id}", official=official,
                    template=template, now=now, **values)
    if run.hook is not None:
        run.hook(session, now, f"notification.{template}",
                 {**values, "recipients": [o.id for o in recipients]})


def _unreachable(session: Session, run: _Run, msg: Claimed, now: datetime, reason: str) -> bool:
    """The official cannot be reached: the alert (if it is one) goes up the ladder, the head is
    told. Returns whether someone above took the alert."""
    if msg.official_id is None:
        return False
    handed = None
    if msg.alert_id is not None and msg.urgent and run.hand_over is not None:
        handed = run.hand_over(session, now, Undelivered(msg.id, msg.alert_id, msg.official_id, reason))
        if handed is not None:
            run.report.handed_over += 1
            log.info("message %d (alert %d) could not be delivered in time; handed to the %s level",
                     msg.id, msg.alert_id, handed.level)
            if run.hook is not None:
                run.hook(session, now, "notification.handed_over", {
                    "message": msg.id, "alert": msg.alert_id, "official": msg.official_id, "reason": reason,
                    "level": handed.level, "recipients": handed.recipients})
    heads = tell_unreachable(session, run.config, now, official_id=msg.official_id, reason=reason,
                             key=f"unreachable:{msg.id}")
    if run.hook is not None:
        run.hook(session, now, "notification.unreachable", {"who": msg.official_id, "reason": reason,
                                                            "recipients": heads})
    return handed is not None


def _hands_over(msg: Claimed) -> bool:
    return msg.alert_id is not None and msg.urgent and not is_operational(msg.dedupe_key)


def _expired(session: Session, run: _Run, msg: Claimed, now: datetime, reason: str) -> None:
    if not _settle(session, msg, status="expired", last_error=reason):
        return
    run.report.expired += 1
    log.debug("message %d expired", msg.id)  # counted in the run's summary line
    if _hands_over(msg):
        _unreachable(session, run, msg, now, reason)


def _failed(session: Session, run: _Run, msg: Claimed, err: SendError, now: datetime) -> None:
    report = run.report
    if err.permanent:
        if not _settle(session, msg, status="failed", last_error=err.reason):
            return
        report.failed += 1
        log.info("message %d failed: %s", msg.id, err.reason)
        if is_operational(msg.dedupe_key):
            log.error("operational message %s failed: %s", msg.id, err.reason)
        elif err.code in PROVIDER_REFUSED:
            # Our account, not the official's phone: an SMS about it would go the same way.
            log.error("the SMS provider refused our credentials (%s): check the configuration", err.reason)
            if run.hook is not None:
                run.hook(session, now, "notification.provider_refused",
                         {"message": msg.id, "reason": err.reason})
        else:
            _unreachable(session, run, msg, now, err.reason)
        return
    retry_at = now + run.retry.delay(msg.attempts, urgent=msg.urgent)
    if msg.attempts < run.retry.max_attempts and _hands_over(msg) \
            and msg.expires_at is not None and retry_at >= msg.expires_at:
        # The next try would come too late to matter: someone above hears now, not never.
        _expired(session, run, msg, now, f"{err.reason}; next try past its validity")
        return
    if msg.attempts >= run.retry.max_attempts:
        if not _settle(session, msg, status="dead", last_error=err.reason):
            return
        report.dead += 1
        log.info("message %d dead after %d attempts: %s", msg.id, msg.attempts, err.reason)
        if is_operational(msg.dedupe_key):
            log.error("operational message %s dead: %s", msg.id, err.reason)
        elif not (_hands_over(msg) and _unreachable(session, run, msg, now, err.reason)):
            _tell(session, run, now, "sysadmin", "dead_letter", f"dead:{msg.id}",
                  message=msg.id, attempts=msg.attempts)
        return
    if _settle(session, msg, status="pending", next_attempt_at=retry_at, last_error=err.reason):
        report.retried += 1
        log.debug("message %d: %s; retried in %d s", msg.id, err.reason, (retry_at - now).total_seconds())

"""The scheduled work as plain functions: the same code runs under Prefect (distributed) and
under APScheduler inside `kipthoi serve` (embedded). Both are safe to run twice at once."""

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import Session

from models import Alert, Case, Database, Deadline, Official
from models.enums import Role
from notifications.digest import run_digests
from notifications.dispatch import DispatchReport, HandedOver, RetryPolicy, Undelivered, dispatch_once
from notifications.liveness import Identity
from notifications.outbox import enqueue_sms
from notifications.providers import SmsProvider, WebhookSender
from notifications.routing import POSITIONS, resolve
from notifications.templates import local_time
from notifications.tokens import sign
from states.audit import chain as audit
from states.deadlines import ladder as deadlines
from states.identity.actors import Actor
from states.kernel.clock import Clock
from states.kernel.commune import CommunePolicy
from states.lifecycle.case_rows import first_report
from states.records import retention

log = logging.getLogger(__name__)
DISPATCHER = Actor.system("dispatcher")


@dataclass
class SweepReport:
    deadlines: int = 0
    alerts: int = 0
    failed: int = 0


def run_sweep(db: Database, clock: Clock, policy: CommunePolicy, batch: int = 500,
              max_deadlines: int = 100_000) -> SweepReport:
    """Raise every alert that has come due. Each deadline is handled in its own transaction,
    re-read under a lock, so a concurrent sweep skips it or finds nothing left to do."""
    now = clock.now()
    report = SweepReport()
    seen: set[int] = set()
    while report.deadlines < max_deadlines:
        with db.read() as session:
            ids = [i for i in deadlines.due_deadline_ids(session, now, batch + len(seen)) if i not in seen]
        if not ids:
            break
        for deadline_id in ids:
            seen.add(deadline_id)
            try:
                with db.write() as session:
                    report.alerts += deadlines.raise_due_alerts(session, policy.deadlines, policy.notify,
                                                                deadline_id, now)
            except Exception:  # one broken deadline must not hold back every other alert
                log.exception("deadline %d could not be swept; it is retried next sweep", deadline_id)
                report.failed += 1
            report.deadlines += 1
    if report.alerts:
        log.info("sweep raised %d alerts on %d deadlines", report.alerts, report.deadlines)
    return report


RETENTION = Actor.system("retention", Role.ADMIN)


def run_retention(db: Database, clock: Clock, policy: CommunePolicy, *, dry_run: bool = False,
                  batch: int = 200) -> list[str]:
    """Anonymise the closed cases past the retention limit, a batch of children per
    transaction, so a long backlog neither holds the writer nor is lost half-way."""
    done: list[str] = []
    while True:
        with db.write() as session:
            result = retention.anonymise_due(session, clock, RETENTION, policy.retention_years,
                                             dry_run=dry_run, limit=batch,
                                             evidence_store=policy.evidence_store)
        done += result.cases
        if dry_run or len(result.cases) == 0:
            break
    if done and not dry_run:
        log.info("retention anonymised %d closed cases", len(done))
    return done


def _audit_hook(session: Session, at: datetime, action: str, after: dict[str, Any]) -> None:
    audit.record(session, at=at, actor=DISPATCHER, action=action, case_id=None, after=after)


@dataclass
class Dispatcher:
    """What sending needs, built once per process by the composition root."""

    db: Database
    clock: Clock
    policy: CommunePolicy
    sms: SmsProvider
    webhook: WebhookSender = field(default_factory=WebhookSender)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    status_callback: str | None = None
    batch: int = 50
    _identity: Identity | None = field(default=None, init=False, repr=False)

    def run(self, max_rounds: int = 100, max_seconds: float = 30.0) -> DispatchReport:
        """Send until the outbox is empty, or for at most `max_seconds` (the rest next run)."""
        total = DispatchReport()
        run_digests(self.db, self.clock.now(), self.policy.notify)  # held SMS: one per official per interval
        started = time.monotonic()
        if self._identity is None or self._identity.lost:  # a lost identity's claims are taken over
            self._identity = Identity.register(self.db, self.clock.now())
        for _ in range(max_rounds):
            if time.monotonic() - started > max_seconds:
                break
            report = dispatch_once(self.db, self.clock.now, self.sms, self.policy.notify, self.webhook,
                                   self.retry, self.batch, self.status_callback, _audit_hook,
                                   owner=self._identity, hand_over=self._hand_over)
            for name in DispatchReport.COUNTS:
                setattr(total, name, getattr(total, name) + getattr(report, name))
            total.errors += report.errors
            total.stopped = report.stopped
            if report.claimed < self.batch or report.stopped:
                break
        if total.claimed:
            log.info("dispatch: %d sent, %d retried, %d failed, %d dead, %d expired, %d handed up the ladder",
                     total.sent, total.retried, total.failed, total.dead, total.expired, total.handed_over)
        else:
            log.debug("dispatch: nothing to send")
        return total

    def close(self) -> None:
        """End this dispatcher's identity (its row, its lock). Dying without closing is safe:
        the next claim finds the lock free and takes its claims over."""
        if self._identity is not None:
            self._identity.close(self.clock.now())
            self._identity = None

    def _hand_over(self, session: Session, now: datetime, failed: Undelivered) -> HandedOver | None:
        return hand_over_alert(session, self.policy, now, failed)


def hand_over_alert(session: Session, policy: CommunePolicy, now: datetime,
                    failed: Undelivered) -> HandedOver | None:
    """The same alert, to the next level of the ladder above the official it could not reach
    (the worker's overdue alert to the head, the head's to the chair...), as the sweep would
    have raised it there. Nothing when the deadline is no longer open or someone has it in
    hand (acknowledged), or when nobody holds a position above."""
    alert = session.get(Alert, failed.alert_id)
    deadline = session.get(Deadline, alert.deadline_id) if alert is not None else None
    rule = policy.deadlines.rules.get(deadline.kind) if deadline is not None else None
    if alert is None or deadline is None or rule is None or deadline.status != "open" \
            or deadline.acknowledged_at is not None:
        return None
    levels, official = policy.deadlines.ladder, session.get(Official, failed.official_id)
    position = official.position if official is not None else None
    reached = [i for i, level in enumerate(levels)
               if level == alert.level or position in POSITIONS.get(level, ())]
    case = session.get_one(Case, deadline.case_id)
    school = first_report(session, case.id).school_agency_id
    for level in levels[max(reached, default=len(levels)) + 1:]:
        people = [o for o in resolve(session, level, assignee_id=case.assignee_id, school_agency_id=school)
                  if o.id != failed.official_id]
        if people:
            break
    else:
        return None
    notify = policy.notify
    for o in people:
        token = sign(notify.link_secret, deadline.id or 0, o.id, now + notify.ack_link_ttl)
        enqueue_sms(session, notify, dedupe_key=f"handover:{failed.message_id}:{o.id}", official=o,
                    template=alert.kind, now=now, case_id=case.id, alert_id=alert.id, urgent=True,
                    code=case.code, what=rule.label_vi if o.language == "vi" else rule.label_en,
                    due=local_time(deadline.due_at), link=f"{notify.public_url}/a/{token}")
    return HandedOver(level, [o.id for o in people])


def next_wake(db: Database) -> datetime | None:
    with db.read() as session:
        return deadlines.next_alert_at(session)



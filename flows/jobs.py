"""The scheduled work as plain functions: the same code runs under Prefect (distributed) and
under APScheduler inside `kipthoi serve` (embedded). Both are safe to run twice at once."""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import Session

from models import Database
from notifications.dispatch import DispatchReport, RetryPolicy, dispatch_once
from notifications.providers import SmsProvider, WebhookSender
from states import audit, deadlines, retention
from models.enums import Role
from states.actors import Actor
from states.clock import Clock
from states.policy import CommunePolicy

log = logging.getLogger(__name__)
DISPATCHER = Actor(ref="system:dispatcher", role=None)


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


RETENTION = Actor(ref="system:retention", role=Role.ADMIN)


def run_retention(db: Database, clock: Clock, policy: CommunePolicy, *, dry_run: bool = False,
                  batch: int = 200) -> list[str]:
    """Anonymise the closed cases past the retention limit, a batch of children per
    transaction, so a long backlog neither holds the writer nor is lost half-way."""
    done: list[str] = []
    while True:
        with db.write() as session:
            result = retention.anonymise_due(session, clock, RETENTION, policy.retention_years,
                                             dry_run=dry_run, limit=batch)
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

    def run(self, max_rounds: int = 100, max_seconds: float = 30.0) -> DispatchReport:
        """Send until the outbox is empty, or for at most `max_seconds` (the rest next run)."""
        total = DispatchReport()
        started = time.monotonic()
        for _ in range(max_rounds):
            if time.monotonic() - started > max_seconds:
                break
            report = dispatch_once(self.db, self.clock.now, self.sms, self.policy.notify, self.webhook,
                                   self.retry, self.batch, self.status_callback, _audit_hook)
            for name in ("claimed", "sent", "retried", "failed", "dead", "expired"):
                setattr(total, name, getattr(total, name) + getattr(report, name))
            total.errors += report.errors
            if report.claimed < self.batch:
                break
        if total.claimed:
            log.info("dispatch: %d sent, %d retried, %d failed, %d dead, %d expired",
                     total.sent, total.retried, total.failed, total.dead, total.expired)
        return total


def next_wake(db: Database) -> datetime | None:
    with db.read() as session:
        return deadlines.next_alert_at(session)



"""The embedded scheduler (APScheduler inside `kipthoi serve`) on the real clock.

- a short tick raises a due alert and sends it, once;
- with a long tick, an alert is still raised and sent within about a second of coming due:
  the wake job at `next_alert_at` does it, not the tick;
- `shutdown()` waits for the job in progress, stops the scheduler thread, and nothing runs after;
- `run_once` called from many threads at once sends one batch at a time.

Waits poll with a deadline; the only fixed waits are the short windows in which nothing may
happen."""

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import select

from flows.embedded import EmbeddedScheduler
from flows.jobs import Dispatcher, run_sweep
from models import Alert, Case, Database, Deadline, OutboxMessage
from models.enums import Role
from notifications.providers import ConsoleProvider, SmsProvider
from states.intake import opening as intake
from states.intake.report_data import AnyReport
from states.kernel.clock import FrozenClock, SystemClock
from states.kernel.commune import CommunePolicy
from tests.conftest import Commune, staff_report

REPORT = TypeAdapter(AnyReport)
HOUR = timedelta(hours=1)
AlertRow = tuple[str, datetime, datetime, str, datetime | None]


def _open_case(db: Database, commune: Commune, policy: CommunePolicy, received_at: datetime,
               child: str = "Nguyễn Văn Thử") -> int:
    """Open a case now (real time) from a report received at `received_at`; returns the id
    of its initial-assessment deadline (12 h from receipt, reminders at 6 h and 10.8 h).
    Each case needs its own child: a second report about the same child joins the open case."""
    clock = FrozenClock(datetime.now(UTC))
    report = REPORT.validate_python(staff_report(
        received_at=received_at.isoformat(),
        child={"full_name": child, "birth_date": "2016-05-01", "sex": "male"}))
    with db.write() as s:
        code = intake.submit_report(s, clock, commune.actors[Role.INTAKE_OPERATOR], policy,
                                    report).response["case_code"]
        case_id = s.execute(select(Case.id).where(Case.code == code)).scalar_one()
        deadline_id = s.execute(select(Deadline.id).where(
            Deadline.case_id == case_id, Deadline.kind == "initial_assessment")).scalar_one()
    assert deadline_id is not None
    return deadline_id


def _alerts(db: Database, deadline_id: int) -> list[AlertRow]:
    """(kind, due_at, raised_at, outbox status, sent_at) of each alert message of a deadline."""
    with db.read() as s:
        rows = s.execute(
            select(Alert.kind, Alert.due_at, Alert.raised_at, OutboxMessage.status, OutboxMessage.sent_at)
            .join(OutboxMessage, OutboxMessage.alert_id == Alert.id)
            .where(Alert.deadline_id == deadline_id).order_by(Alert.stage)).all()
    return [tuple(r) for r in rows]  # type: ignore[misc]


def _statuses(db: Database, *, alerts: bool = False) -> list[str]:
    """Status of each message intake sent (or, with `alerts`, of every message)."""
    query = select(OutboxMessage.status).order_by(OutboxMessage.id)
    if not alerts:
        query = query.where(OutboxMessage.alert_id.is_(None))  # type: ignore[union-attr]
    with db.read() as s:
        return list(s.execute(query).scalars())


def wait_for(what: str, check: Callable[[], Any], timeout: float, interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def _scheduler(db: Database, policy: CommunePolicy, tick: float, sms: SmsProvider | None = None,
               batch: int = 50) -> EmbeddedScheduler:
    clock = SystemClock()
    dispatcher = Dispatcher(db=db, clock=clock, policy=policy, sms=sms or ConsoleProvider(), batch=batch)
    return EmbeddedScheduler(db, clock, policy, dispatcher, tick_seconds=tick)


def _scheduler_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name == "APScheduler"}


@contextmanager
def running(scheduler: EmbeddedScheduler) -> Iterator[threading.Thread]:
    """Start the scheduler; yield its thread; shut it down on the way out if still running."""
    before = _scheduler_threads()
    scheduler.start()
    started = _scheduler_threads() - before
    try:
        assert len(started) == 1
        yield next(iter(started))
    finally:
        if any(t.is_alive() for t in started):
            scheduler.shutdown()


class GatedProvider:
    """An SMS provider that holds every send until released, and counts overlapping sends."""

    name = "gated"

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self._lock = threading.Lock()
        self.active = self.max_active = self.sent = 0

    def send(self, to: str, body: str, *, validity_seconds: int | None, status_callback: str | None) -> str:
        with self._lock:
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        self.entered.set()
        try:
            self.release.wait(timeout=10)
            with self._lock:
                self.sent += 1
                return f"gated-{self.sent}"
        finally:
            with self._lock:
                self.active -= 1


def test_short_tick_raises_and_sends_a_due_alert_once(
        db: Database, commune: Commune, policy: CommunePolicy) -> None:
    deadline_id = _open_case(db, commune, policy, datetime.now(UTC) - 13 * HOUR)
    with running(_scheduler(db, policy, tick=0.2)):
        alerts = wait_for("the overdue alert to be sent",
                          lambda: [a for a in _alerts(db, deadline_id) if a[3] == "sent"], timeout=10)
        time.sleep(0.5)  # a few more ticks
        assert _alerts(db, deadline_id) == alerts
    assert [a[0] for a in alerts] == ["overdue"]


def test_long_tick_the_wake_job_raises_the_alert_when_it_comes_due(
        db: Database, commune: Commune, policy: CommunePolicy) -> None:
    # A case already overdue: its alert shows when the first tick's sweep ran.
    overdue = _open_case(db, commune, policy, datetime.now(UTC) - 13 * HOUR, child="Trần Thị Một")
    # The first reminder of this one falls 6 h after receipt: `lead` from now.
    lead = timedelta(seconds=2)
    deadline_id = _open_case(db, commune, policy, datetime.now(UTC) - 6 * HOUR + lead)
    with db.read() as s:
        due = s.execute(select(Deadline.next_alert_at).where(Deadline.id == deadline_id)).scalar_one()
    assert due is not None and due > datetime.now(UTC)

    with running(_scheduler(db, policy, tick=30)):
        ((_, _, first_tick, _, _),) = wait_for("the first tick", lambda: _alerts(db, overdue), timeout=10)
        # That sweep ran before the reminder was due, so it could not raise it; the next tick is
        # 30 s away. Whatever raises it on time is the wake job.
        assert first_tick < due, "the first tick swept after the reminder came due: cannot tell wake from tick"
        alerts = wait_for("the reminder to be raised and sent",
                          lambda: [a for a in _alerts(db, deadline_id) if a[3] == "sent"],
                          timeout=(due - datetime.now(UTC)).total_seconds() + 5)

    ((kind, due_at, raised_at, _, sent_at),) = alerts
    assert (kind, due_at) == ("reminder", due)
    assert due <= raised_at < due + timedelta(seconds=1), raised_at - due
    assert sent_at is not None and raised_at <= sent_at < due + timedelta(seconds=1.5), sent_at - due


def test_shutdown_waits_for_the_job_in_progress_then_stops(
        db: Database, commune: Commune, policy: CommunePolicy) -> None:
    first = _open_case(db, commune, policy, datetime.now(UTC) - 13 * HOUR, child="Trần Thị Một")
    provider = GatedProvider()
    scheduler = _scheduler(db, policy, tick=0.2, sms=provider)
    with running(scheduler) as thread:
        assert provider.entered.wait(timeout=10), "no send reached the provider"
        wait_for("the overdue alert", lambda: _alerts(db, first), timeout=10)
        stopper = threading.Thread(target=scheduler.shutdown, name="stopper")
        stopper.start()
        time.sleep(0.3)  # let shutdown() get under way
        assert stopper.is_alive(), "shutdown() returned while a send was in progress"
        provider.release.set()
        stopper.join(timeout=10)
        assert not stopper.is_alive(), "shutdown() did not return"
        assert not thread.is_alive()
    # The send in progress finished its batch before shutdown() returned: nothing is left
    # half-sent (claimed, with a lease) for a restart to send a second time.
    statuses = _statuses(db, alerts=True)
    assert "sending" not in statuses and set(_statuses(db)) == {"sent"}

    second = _open_case(db, commune, policy, datetime.now(UTC) - 13 * HOUR, child="Lê Văn Hai")
    time.sleep(1.0)  # five ticks' worth: a running scheduler would have raised it
    assert _alerts(db, second) == []
    assert _statuses(db, alerts=True)[:len(statuses)] == statuses
    # It was due all along: a sweep raises it at once.
    assert run_sweep(db, SystemClock(), policy).alerts == 1


def test_concurrent_run_once_calls_send_one_at_a_time(
        db: Database, commune: Commune, policy: CommunePolicy) -> None:
    _open_case(db, commune, policy, datetime.now(UTC) - HOUR)
    pending = len(_statuses(db))
    assert pending >= 2  # new-report messages to the worker and the head, the police's crime report
    provider = GatedProvider()
    # One message per claim: were two sends to overlap, the second would claim the next message
    # and enter the provider while the first is held there.
    scheduler = _scheduler(db, policy, tick=30, sms=provider, batch=1)
    n = 6
    barrier = threading.Barrier(n, timeout=10)

    def call() -> None:
        barrier.wait()
        scheduler.run_once()

    with ThreadPoolExecutor(max_workers=n) as pool:
        futures = [pool.submit(call) for _ in range(n)]
        try:
            assert provider.entered.wait(timeout=10), "no run reached the provider"
            # While one run is held inside the provider, every other call returns.
            wait_for("the other calls to return", lambda: sum(f.done() for f in futures) == n - 1, timeout=5)
            assert provider.max_active == 1
        finally:
            provider.release.set()
        for f in futures:
            f.result(timeout=15)

    assert provider.max_active == 1
    assert provider.sent == pending
    assert _statuses(db) == ["sent"] * pending

    # The locks were released: the next run does its work.
    _open_case(db, commune, policy, datetime.now(UTC) - HOUR, child="Phạm Văn Ba")
    scheduler.run_once()
    assert _statuses(db) == ["sent"] * (2 * pending)

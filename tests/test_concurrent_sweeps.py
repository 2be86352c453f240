"""Two sweeps at the same instant over many due deadlines raise each alert once, and the
dispatchers that follow send each message once: in two threads (SQLite and PostgreSQL), and in
two OS processes running `kipthoi sweep` (PostgreSQL: SQLite serves one machine's processes the
same way, through its write lock, but the point here is row locks across connections)."""

import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from pydantic import TypeAdapter
from sqlalchemy import func, select

from flows.jobs import Dispatcher, run_sweep
from models import Alert, AuditEvent, Database, Deadline, OutboxMessage
from models.enums import Role
from notifications.config import NotifyConfig
from notifications.providers import TwilioConfig, TwilioProvider
from states.audit import chain as audit
from states.intake import opening as intake
from states.intake.report_data import AnyReport
from states.kernel.clock import FrozenClock
from states.kernel.commune import CommunePolicy
from tests import dbs
from tests.conftest import SECRETS_FILE_ENV, Commune, staff_report
from tests.fakes.twilio_server import FakeTwilio

ROOT = Path(__file__).resolve().parent.parent
CASES = 30
T = TypeVar("T")


def together(fn: Callable[[int], T], n: int = 2) -> list[T]:
    """Run fn(0..n-1) on n threads released by one barrier; re-raise the first error."""
    barrier = threading.Barrier(n, timeout=30)
    out: list[Any] = [None] * n

    def task(i: int) -> None:
        barrier.wait()
        try:
            out[i] = fn(i)
        except BaseException as exc:  # noqa: BLE001 - re-raised below
            out[i] = exc

    threads = [threading.Thread(target=task, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    for result in out:
        if isinstance(result, BaseException):
            raise result
    return out


def open_cases(db: Database, clock: FrozenClock, policy: CommunePolicy, commune: Commune,
               received_at: datetime) -> list[str]:
    codes = []
    with db.write() as s:  # one transaction: setup, not the subject
        for i in range(CASES):
            report = TypeAdapter(AnyReport).validate_python(staff_report(
                received_at=received_at.isoformat(),
                child={"full_name": f"Trẻ Giả Lập Số {i}", "birth_date": "2016-05-01", "sex": "female"}))
            codes.append(intake.submit_report(s, clock, commune.actors[Role.INTAKE_OPERATOR], policy,
                                              report).response["case_code"])
    assert len(set(codes)) == CASES
    return codes


def count(db: Database, model: Any, *where: Any) -> int:
    with db.read() as s:
        return s.execute(select(func.count()).select_from(model).where(*where)).scalar_one()


def alert_rows(db: Database) -> list[OutboxMessage]:
    with db.read() as s:
        rows = list(s.execute(select(OutboxMessage).where(
            OutboxMessage.alert_id.is_not(None)).order_by(OutboxMessage.id)).scalars())  # type: ignore[union-attr]
        s.expunge_all()
        return rows


def check_each_alert_once(db: Database, commune: Commune) -> None:
    """Every deadline past its limit and its first escalation: overdue (stage 2, the worker) and
    escalation (stage 3, the head) raised once each, one SMS each, one audit event each."""
    with db.read() as s:
        stages = sorted(s.execute(select(Alert.deadline_id, Alert.stage, Alert.kind, Alert.level)).all())
        deadline_ids = sorted(s.execute(select(Deadline.id)).scalars())
        next_stage = set(s.execute(select(Deadline.stage)).scalars())
        verdict = audit.verify(s)
    assert len(deadline_ids) == CASES
    assert stages == [(d, stage, kind, level) for d in deadline_ids
                      for stage, kind, level in ((2, "overdue", "worker"), (3, "escalation", "head"))]
    assert next_stage == {4}
    rows = alert_rows(db)
    assert len(rows) == 2 * CASES
    assert len({r.dedupe_key for r in rows}) == 2 * CASES
    assert sorted((r.official_id, r.case_id) for r in rows) == sorted(
        (commune.officials[role], case_id) for case_id in {r.case_id for r in rows}
        for role in (Role.CASE_WORKER, Role.HEAD))
    assert count(db, AuditEvent, AuditEvent.action == "deadline.alert") == 2 * CASES
    assert verdict.ok, verdict


@pytest.fixture
def policy() -> CommunePolicy:
    """No hourly SMS ceiling here: these tests count that every message is sent exactly once,
    and 30 new cases in a minute would put the worker and the head past it (into a digest)."""
    return CommunePolicy(code_prefix="NH", match_secret=b"test-secret",
                         notify=NotifyConfig(sms_per_official_per_hour=10_000))


@pytest.fixture
def fake() -> Iterator[FakeTwilio]:
    server = FakeTwilio().start()
    yield server
    server.stop()


def test_two_sweeps_in_threads_raise_each_alert_once(db: Database, clock: FrozenClock, policy: CommunePolicy,
                                                     commune: Commune, fake: FakeTwilio) -> None:
    open_cases(db, clock, policy, commune, clock.now() - timedelta(hours=1))

    def dispatch(_: int) -> Any:
        sms = TwilioProvider(TwilioConfig(account_sid=fake.account_sid, auth_token=fake.auth_token,
                                          from_number="+15005550006", base_url=fake.base_url))
        return Dispatcher(db=db, clock=clock, policy=policy, sms=sms, batch=5).run(max_rounds=1000)

    intake_messages = count(db, OutboxMessage)
    assert sum(r.sent for r in together(dispatch)) == intake_messages == len(fake.requests)
    # Received T0-1h: the 12-hour limit passed at T0+11h, the head's escalation came at T0+13h.
    clock.advance(timedelta(hours=14))
    reports = together(lambda _: run_sweep(db, clock, policy, batch=7))
    assert sum(r.alerts for r in reports) == 2 * CASES
    check_each_alert_once(db, commune)
    assert run_sweep(db, clock, policy).alerts == 0  # and a third sweep finds nothing left

    fake.requests.clear()
    sent = together(dispatch)
    assert sum(r.sent for r in sent) == 2 * CASES
    rows = alert_rows(db)
    assert {r.status for r in rows} == {"sent"} and {r.attempts for r in rows} == {1}
    received = sorted((r.form["To"], r.form["Body"]) for r in fake.requests)
    assert received == sorted((r.recipient, r.body) for r in rows)  # each once, nothing else
    assert len(set(received)) == 2 * CASES


@pytest.fixture
def pg_only() -> None:
    if not dbs.IS_PG:
        pytest.skip("two OS processes: run with KIPTHOI_TEST_DB=postgresql+psycopg://...")


SWEEP_LINE = re.compile(r"sweep: (\d+) alerts raised on (\d+) deadlines")
DISPATCH_LINE = re.compile(r"dispatch: (\d+) sent, (\d+) to retry, (\d+) failed, (\d+) dead")


def test_two_sweep_processes_raise_each_alert_once(pg_only: None, db: Database, policy: CommunePolicy,
                                                   commune: Commune) -> None:
    # `kipthoi sweep` reads the real clock: make the deadlines due relative to now.
    now = datetime.now(UTC)
    clock = FrozenClock(now)
    open_cases(db, clock, policy, commune, now - timedelta(hours=14, minutes=30))
    total = count(db, OutboxMessage) + 2 * CASES  # the intake messages, then two alerts per case
    env = {k: v for k, v in os.environ.items() if not k.startswith("KIPTHOI_")}
    env.update(KIPTHOI_DB__URL=db.url, KIPTHOI_SMS__PROVIDER="console", KIPTHOI_SCHEDULER__MODE="off",
               PYTHONPATH=str(ROOT), **SECRETS_FILE_ENV)
    procs = [subprocess.Popen([sys.executable, "-m", "kipthoi.cli", "sweep"], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outputs = [p.communicate(timeout=120) for p in procs]
    for p, (_, err) in zip(procs, outputs, strict=True):
        assert p.returncode == 0, err[-3000:]
    sweeps = [SWEEP_LINE.search(out) for out, _ in outputs]
    dispatches = [DISPATCH_LINE.search(out) for out, _ in outputs]
    assert all(sweeps) and all(dispatches), outputs
    assert sum(int(m.group(1)) for m in sweeps if m) == 2 * CASES
    assert sum(int(m.group(1)) for m in dispatches if m) == total  # every message sent by one of them
    assert all(m.group(2) == m.group(3) == m.group(4) == "0" for m in dispatches if m)
    check_each_alert_once(db, commune)
    with db.read() as s:
        statuses = s.execute(select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)).all()
    assert dict(statuses) == {"sent": total}
    # No personal data was written to the processes' logs by the console provider either.
    logs = json.dumps(outputs, ensure_ascii=False)
    assert "Trẻ Giả Lập" not in logs and "0900000999" not in logs

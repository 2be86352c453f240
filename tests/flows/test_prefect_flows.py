"""The Prefect flows `deadline_sweep` and `dispatch_notifications`, run for real under
`prefect_test_harness` (a temporary Prefect server, started once per session).

The flows build their runtime from settings, as a deployment does: the test points
`KIPTHOI_DB__URL` at the test database through the environment and removes any Twilio
credentials, so the console provider carries the SMS. Nothing of ours is patched."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prefect.testing.utilities import prefect_test_harness
from pydantic import TypeAdapter
from sqlalchemy import func, select

from flows.deadline_sweep import deadline_sweep
from flows.dispatch_notifications import dispatch_notifications
from models import Alert, Case, Database, Deadline, OutboxMessage
from models.enums import Role
from states.intake import opening as intake
from states.intake.report_data import AnyReport
from states.kernel.clock import FrozenClock
from states.kernel.commune import CommunePolicy
from tests.conftest import Commune, staff_report

REPORT = TypeAdapter(AnyReport)


@pytest.fixture(scope="session")
def prefect_server() -> Iterator[None]:
    """One temporary Prefect server (its own SQLite database) for the whole session."""
    with prefect_test_harness(server_startup_timeout=60):
        yield


@pytest.fixture
def flow_env(db: Database, monkeypatch: pytest.MonkeyPatch, prefect_server: None) -> Database:
    """The environment a deployment's worker would have: the database URL, no Twilio."""
    monkeypatch.setenv("KIPTHOI_DB__URL", db.url)
    for name in ("KIPTHOI_SMS__PROVIDER", "KIPTHOI_SMS__TWILIO_ACCOUNT_SID", "KIPTHOI_SMS__TWILIO_AUTH_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    return db


def _open_case(db: Database, commune: Commune, policy: CommunePolicy, received_at: datetime) -> int:
    clock = FrozenClock(datetime.now(UTC))  # intake happens now, in real time
    report = REPORT.validate_python(staff_report(received_at=received_at.isoformat()))
    with db.write() as s:
        code = intake.submit_report(s, clock, commune.actors[Role.INTAKE_OPERATOR], policy,
                                    report).response["case_code"]
        case_id = s.execute(select(Case.id).where(Case.code == code)).scalar_one()
    assert case_id is not None
    return case_id


def _count(db: Database, model: type, *where: object) -> int:
    with db.read() as s:
        return s.execute(select(func.count()).select_from(model).where(*where)).scalar_one()  # type: ignore[arg-type]


def test_sweep_flow_raises_the_overdue_alert_and_dispatch_flow_sends_it(
        flow_env: Database, commune: Commune, policy: CommunePolicy) -> None:
    db = flow_env
    received = datetime.now(UTC) - timedelta(hours=13)  # the 12-hour initial assessment has passed
    case_id = _open_case(db, commune, policy, received)
    assert _count(db, Alert) == 0

    state = deadline_sweep(return_state=True)
    assert state.is_completed(), state
    result = state.result()
    # Only the overdue stage: reminders that came due are dropped once the limit has passed.
    assert (result["deadlines"], result["alerts"], result["failed"]) == (1, 1, 0)

    with db.read() as s:
        deadline_id, kind, due_at, next_alert_at = s.execute(
            select(Deadline.id, Deadline.kind, Deadline.due_at, Deadline.next_alert_at)
            .where(Deadline.case_id == case_id)).one()
        alert_id, alert_deadline, alert_kind, level, alert_due = s.execute(
            select(Alert.id, Alert.deadline_id, Alert.kind, Alert.level, Alert.due_at)).one()
        alert_msgs = s.execute(select(OutboxMessage.id, OutboxMessage.official_id, OutboxMessage.status)
                               .where(OutboxMessage.alert_id == alert_id)).all()
    assert kind == "initial_assessment"
    assert (alert_deadline, alert_kind, level) == (deadline_id, "overdue", "worker")
    assert alert_due == due_at == received + timedelta(hours=12)
    # The ladder moved on: the next step is the escalation to the head, 2 hours after the limit.
    assert next_alert_at == due_at + timedelta(hours=2)
    assert [tuple(m[1:]) for m in alert_msgs] == [(commune.officials[Role.CASE_WORKER], "pending")]
    pending = _count(db, OutboxMessage, OutboxMessage.status == "pending")
    assert pending >= 2  # the alert and the intake's new-report messages

    state = dispatch_notifications(return_state=True)
    assert state.is_completed(), state
    sent = state.result()
    assert sent["sent"] == pending and sent["failed"] == sent["dead"] == sent["retried"] == 0

    with db.read() as s:
        status, attempts, sent_at, provider_id = s.execute(
            select(OutboxMessage.status, OutboxMessage.attempts, OutboxMessage.sent_at, OutboxMessage.provider_id)
            .where(OutboxMessage.id == alert_msgs[0].id)).one()
    assert (status, attempts) == ("sent", 1) and sent_at is not None
    assert provider_id is not None and provider_id.startswith("console-")
    assert _count(db, OutboxMessage, OutboxMessage.status != "sent") == 0

    # A second sweep finds nothing more to raise, and enqueues nothing.
    outbox_rows = _count(db, OutboxMessage)
    state = deadline_sweep(return_state=True)
    assert state.is_completed(), state
    result = state.result()
    assert (result["deadlines"], result["alerts"], result["failed"]) == (0, 0, 0)
    assert _count(db, Alert) == 1
    assert _count(db, OutboxMessage) == outbox_rows


def test_a_flow_that_cannot_reach_its_database_ends_failed(
        flow_env: Database, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # The counterpart of the Completed checks above: a broken run is not reported as a success.
    monkeypatch.setenv("KIPTHOI_DB__URL", f"sqlite:///{tmp_path / 'missing-folder' / 'kipthoi.db'}")
    state = deadline_sweep(return_state=True)
    assert state.is_failed(), state

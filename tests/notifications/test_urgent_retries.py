"""Urgent messages against a 12-hour limit: overdue and escalation alerts and emergencies are
retried within seconds (never more than a minute apart); an alert that cannot reach its
official in time goes to the next level of the ladder, and the head hears the official is
unreachable. Sent through the real `twilio` client to the wire-level fake."""

import json
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest
from pydantic import TypeAdapter
from sqlalchemy import select

from flows.jobs import Dispatcher, run_sweep
from models import Alert, AuditEvent, Case, Database, OutboxMessage
from models.enums import RiskLevel, Role
from notifications.tokens import verify
from states.deadlines import ladder as deadlines
from states.intake import opening as intake
from states.intake.report_data import AnyReport
from states.kernel.clock import FrozenClock
from states.kernel.commune import CommunePolicy
from states.lifecycle import workflow
from states.lifecycle.commands import AssessData
from tests.conftest import T0, Commune, staff_report
from tests.fakes.twilio_server import FakeTwilio, provider_for
from tests.payloads import FACTORS

REPORT = TypeAdapter(AnyReport)
# The staff report is received at T0 - 1 h: its 12-hour initial assessment is due at T0 + 11 h.
DUE = T0 + timedelta(hours=11)


def dispatcher(db: Database, clock: FrozenClock, policy: CommunePolicy, fake: FakeTwilio) -> Dispatcher:
    return Dispatcher(db=db, clock=clock, policy=policy, sms=provider_for(fake))


def open_cases(db: Database, clock: FrozenClock, policy: CommunePolicy, commune: Commune, n: int) -> list[str]:
    codes = []
    for i in range(n):
        body = staff_report(child={"full_name": f"Trẻ Khẩn Cấp {i}", "birth_date": "2016-05-01", "sex": "male"})
        with db.write() as s:
            codes.append(intake.submit_report(s, clock, commune.actors[Role.INTAKE_OPERATOR], policy,
                                              REPORT.validate_python(body)).response["case_code"])
    return codes


def rows(db: Database, *where: Any) -> list[OutboxMessage]:
    with db.read() as s:
        out = list(s.execute(select(OutboxMessage).where(*where).order_by(OutboxMessage.id)).scalars())
        s.expunge_all()
        return out


def audit(db: Database, action: str) -> list[dict[str, Any]]:
    with db.read() as s:
        return [json.loads(a) for a in s.execute(
            select(AuditEvent.after).where(AuditEvent.action == action).order_by(AuditEvent.seq)).scalars()]


def overdue(db: Database, clock: FrozenClock, policy: CommunePolicy, fake: FakeTwilio, d: Dispatcher) -> None:
    """Send what intake enqueued, then let the initial assessment run out and raise its alert."""
    d.run()
    fake.requests.clear()
    clock.set(DUE)
    run_sweep(db, clock, policy)


def test_alerts_and_emergencies_are_urgent_and_reminders_and_news_are_not(
        db: Database, clock: FrozenClock, policy: CommunePolicy, commune: Commune) -> None:
    [code] = open_cases(db, clock, policy, commune, 1)
    with db.write() as s:
        workflow.advance(s, clock, commune.actors[Role.CASE_WORKER], code, "assess",
                         AssessData.model_validate({"risk_level": RiskLevel.HIGH, "factors": FACTORS["high"],
                                                    "emergency": True}), expected_version=1, policy=policy)
    clock.set(T0 + timedelta(hours=8))
    run_sweep(db, clock, policy)  # a reminder of the emergency protection limit (12 h from receipt)
    clock.set(T0 + timedelta(hours=11, minutes=1))
    run_sweep(db, clock, policy)  # ... and its overdue alert
    urgent = {(r.kind, r.urgent) for r in rows(db)}
    assert urgent == {("new_report", False), ("crime_report", False), ("emergency", True),
                      ("reminder", False), ("overdue", True)}, urgent


def test_an_urgent_alert_is_retried_within_seconds_never_a_minute_apart(
        db: Database, clock: FrozenClock, policy: CommunePolicy, commune: Commune, fake: FakeTwilio) -> None:
    open_cases(db, clock, policy, commune, 1)
    d = dispatcher(db, clock, policy, fake)
    overdue(db, clock, policy, fake, d)
    fake.script(["500"] * 5)
    waits = []
    for _ in range(5):
        assert d.run().retried == 1
        [alert] = rows(db, OutboxMessage.kind == "overdue")
        waits.append(alert.next_attempt_at - clock.now())
        clock.set(alert.next_attempt_at)
    assert d.run().sent == 1
    assert timedelta(seconds=1) <= waits[0] <= timedelta(seconds=2), waits
    assert all(w <= timedelta(seconds=60) for w in waits), waits
    assert clock.now() - DUE <= timedelta(seconds=62)  # 2 + 4 + 8 + 16 + 32 s at most


@pytest.mark.parametrize("failure", ["permanent", "out_of_attempts", "out_of_time"])
def test_an_alert_that_cannot_reach_the_worker_goes_to_the_head_who_hears_why(
        db: Database, clock: FrozenClock, policy: CommunePolicy, commune: Commune, fake: FakeTwilio,
        failure: str) -> None:
    worker, head, chair = (commune.officials[r] for r in (Role.CASE_WORKER, Role.HEAD, Role.CHAIR))
    open_cases(db, clock, policy, commune, 1)
    if failure == "out_of_time":  # SMS valid 1 s: the first retry would come too late to matter
        policy = replace(policy, notify=replace(policy.notify, sms_validity=timedelta(seconds=1)))
    d = dispatcher(db, clock, policy, fake)
    overdue(db, clock, policy, fake, d)
    fake.script({"permanent": ["21211"], "out_of_attempts": ["503"] * 6, "out_of_time": ["503"]}[failure])
    for _ in range(12):
        d.run()
        pending = rows(db, OutboxMessage.status == "pending")
        if not pending:
            break
        clock.set(max(clock.now(), min(r.next_attempt_at for r in pending)))
    [lost] = rows(db, OutboxMessage.kind == "overdue", OutboxMessage.official_id == worker)
    assert lost.status == {"permanent": "failed", "out_of_attempts": "dead", "out_of_time": "expired"}[failure]
    [handed] = rows(db, OutboxMessage.dedupe_key.like("handover:%"))  # type: ignore[attr-defined]
    assert (handed.official_id, handed.kind, handed.alert_id, handed.urgent, handed.status) == (
        head, "overdue", lost.alert_id, True, "sent")
    assert "QUÁ HẠN" in handed.body and "/a/" in handed.body
    [told] = rows(db, OutboxMessage.dedupe_key == f"unreachable:{lost.id}:{head}")
    assert told.status == "sent" and f"số {worker}" in told.body
    assert [(e["official"], e["level"], e["recipients"]) for e in audit(db, "notification.handed_over")] == [
        (worker, "head", [head])]
    assert audit(db, "notification.unreachable")[0]["recipients"] == [head]
    assert chair not in {r.official_id for r in rows(db)}  # the head was reachable: nobody further
    assert handed.sent_at is not None and handed.sent_at - DUE <= timedelta(seconds=65)


def test_the_official_an_alert_was_handed_over_to_may_acknowledge_it_by_its_link(
        db: Database, clock: FrozenClock, policy: CommunePolicy, commune: Commune, fake: FakeTwilio) -> None:
    """The head got the worker's overdue alert before the head's own escalation was raised: the
    link in that SMS must work for them (they are on the ladder), and stop the climb."""
    head = commune.officials[Role.HEAD]
    open_cases(db, clock, policy, commune, 1)
    d = dispatcher(db, clock, policy, fake)
    overdue(db, clock, policy, fake, d)
    fake.script(["21211"])
    d.run()
    [handed] = rows(db, OutboxMessage.dedupe_key.like("handover:%"))  # type: ignore[attr-defined]
    assert handed.official_id == head
    claim = verify(policy.notify.link_secret, handed.body.rsplit("/a/", 1)[1], clock.now())
    with db.write() as s:
        row = deadlines.acknowledge_by_link(s, clock.now(), claim.official_id, claim.deadline_id, policy.deadlines)
    assert row.acknowledged_by == f"official:{head}"
    clock.advance(timedelta(hours=6))
    assert run_sweep(db, clock, policy).alerts == 0  # the climb to the chair and the province stopped


def test_a_handed_over_alert_that_fails_again_climbs_once_more(
        db: Database, clock: FrozenClock, policy: CommunePolicy, commune: Commune, fake: FakeTwilio) -> None:
    head, chair = commune.officials[Role.HEAD], commune.officials[Role.CHAIR]
    open_cases(db, clock, policy, commune, 1)
    d = dispatcher(db, clock, policy, fake)
    overdue(db, clock, policy, fake, d)
    fake.script(["21211", "21211"])  # the worker's number, then the head's
    for _ in range(3):  # the worker's alert; the head's hand-over; the chair's
        d.run()
    handed = rows(db, OutboxMessage.dedupe_key.like("handover:%"))  # type: ignore[attr-defined]
    assert [(r.official_id, r.status) for r in handed] == [(head, "failed"), (chair, "sent")]
    with db.read() as s:
        assert s.execute(select(Alert.level)).scalars().all() == ["worker"]  # one alert, handed up


def test_one_request_in_three_failing_delays_an_alert_by_seconds_not_minutes(
        db: Database, clock: FrozenClock, policy: CommunePolicy, commune: Commune, fake: FakeTwilio) -> None:
    cases = 12
    open_cases(db, clock, policy, commune, cases)
    d = dispatcher(db, clock, policy, fake)
    overdue(db, clock, policy, fake, d)
    fake.script(["ok", "ok", "500"] * 100)
    for _ in range(200):
        d.run()
        pending = rows(db, OutboxMessage.status == "pending")
        if not pending:
            break
        clock.set(max(clock.now(), min(r.next_attempt_at for r in pending)))
    alerts = rows(db, OutboxMessage.alert_id.is_not(None))  # type: ignore[union-attr]
    first_sent: dict[int, datetime] = {}
    for r in alerts:
        if r.status == "sent" and r.sent_at is not None and r.alert_id is not None:
            first_sent[r.alert_id] = min(first_sent.get(r.alert_id, r.sent_at), r.sent_at)
    with db.read() as s:
        raised = {a.id: a.due_at for a in s.execute(select(Alert)).scalars()}
        assert len(s.execute(select(Case.id)).scalars().all()) == cases
    assert set(first_sent) == set(raised)  # every alert reached someone
    worst = max(first_sent[i] - raised[i] for i in raised)
    assert worst < timedelta(seconds=20), worst  # with the 30 s base backoff: 45 s and more

"""Every deadline rule end to end: cases driven through intake and `advance`, the sweep run
(`flows.jobs.run_sweep`) at chosen instants of the frozen clock.

The staff report of the fixtures is received Monday 2/3/2026 at 08:00 (Vietnam), recorded at
09:00 (T0). Its initial assessment is due at 20:00: reminders at 14:00 and 18:48, overdue at
20:00, then the head at 22:00, the chair at 00:00 and the province at 02:00."""

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import TypeAdapter
from sqlalchemy import select

from flows.jobs import SweepReport, run_sweep
from models import Alert, AuditEvent, Case, Database, Deadline, OutboxMessage
from models.enums import Role
from states.audit import chain as audit
from states.deadlines import ladder as deadlines
from states.identity.actors import SYSTEM
from states.intake.opening import submit_report
from states.intake.report_data import AnyReport
from states.kernel.clock import LOCAL_TZ, FrozenClock
from states.kernel.commune import CommunePolicy
from states.kernel.errors import Forbidden, GuardFailed, InvalidInput
from states.lifecycle.triggers import INPUTS
from states.lifecycle.workflow import advance, assign
from states.records import directory, statistics
from tests.conftest import T0, Commune, hotline_report, staff_report
from tests.payloads import CONSENT, DETAIL, FACTORS, MEASURES

W, HEAD, CHAIR = Role.CASE_WORKER, Role.HEAD, Role.CHAIR
REPORT = TypeAdapter(AnyReport)
PLAN = {"goals": "Trẻ được an toàn", "measures": MEASURES}
SERVICE = {"kind": "psychological", "agency_code": "TYT", "started_on": "2026-03-11", "measure_no": 1}


def at(day: int, hh: int, mm: int = 0, month: int = 3) -> datetime:
    return datetime(2026, month, day, hh, mm, tzinfo=LOCAL_TZ)


def action(done_at: datetime, separated: bool = False) -> dict[str, Any]:
    return {"action_taken": "Đưa trẻ đến nhà người thân (giả lập)", "who_was_called": "Công an xã",
            "done_at": done_at.isoformat(), "separated_from_carer": separated}


@dataclass
class World:
    db: Database
    clock: FrozenClock
    commune: Commune
    policy: CommunePolicy

    def open(self, role: Role = Role.INTAKE_OPERATOR, body: dict[str, Any] | None = None) -> str:
        with self.db.write() as s:
            result = submit_report(s, self.clock, self.commune.actors[role], self.policy,
                                   REPORT.validate_python(body or staff_report()))
        return str(result.response["case_code"])

    def fire(self, role: Role, code: str, trigger: str, **data: Any) -> None:
        with self.db.write() as s:
            version = s.execute(select(Case.version).where(Case.code == code)).scalar_one()
            advance(s, self.clock, self.commune.actors[role], code, trigger,
                    INPUTS[trigger].model_validate(data), version, policy=self.policy)

    def official(self, agency: str, position: str, phone: str) -> int:
        with self.db.write() as s:
            return directory.create_official(s, self.clock, SYSTEM, directory.OfficialIn(
                full_name="Cán bộ Giả Lập", agency_code=agency, title="Cán bộ", phone=phone,
                position=position)).id or 0

    def sweep(self, when: datetime | None = None) -> SweepReport:
        if when is not None:
            self.clock.set(when)
        return run_sweep(self.db, self.clock, self.policy)

    def _all(self, query: Any) -> list[Any]:
        with self.db.read() as s:
            rows = list(s.execute(query).scalars())
            s.expunge_all()
            return rows

    def case_id(self, code: str) -> int:
        return self._all(select(Case.id).where(Case.code == code))[0]

    def deadlines(self, code: str) -> list[Deadline]:
        return self._all(select(Deadline).where(Deadline.case_id == self.case_id(code)).order_by(Deadline.id))

    def deadline(self, code: str, kind: str) -> Deadline:
        return [d for d in self.deadlines(code) if d.kind == kind][-1]

    def alerts(self, code: str, kind: str | None = None) -> list[tuple[int, str, str]]:
        query = select(Alert).join(Deadline).where(Deadline.case_id == self.case_id(code))
        if kind is not None:
            query = query.where(Deadline.kind == kind)
        return [(a.stage, a.kind, a.level) for a in self._all(query.order_by(Alert.id))]

    def alert_sms(self, code: str) -> list[OutboxMessage]:
        return self._all(select(OutboxMessage).where(OutboxMessage.case_id == self.case_id(code),
                                                     OutboxMessage.alert_id.is_not(None))  # type: ignore[union-attr]
                         .order_by(OutboxMessage.id))

    def emergency_sms(self) -> list[OutboxMessage]:
        return self._all(select(OutboxMessage).where(
            OutboxMessage.dedupe_key.like("event:%:emergency:%")).order_by(OutboxMessage.id))  # type: ignore[attr-defined]

    def events(self, code: str, action: str) -> list[dict[str, Any]]:
        return [json.loads(e.after) for e in self._all(
            select(AuditEvent).where(AuditEvent.case_id == self.case_id(code), AuditEvent.action == action)
            .order_by(AuditEvent.seq))]


@pytest.fixture
def world(db: Database, clock: FrozenClock, commune: Commune, policy: CommunePolicy) -> World:
    return World(db, clock, commune, policy)


def summary(d: Deadline) -> tuple[str, str, datetime, datetime]:
    return d.kind, d.status, d.starts_at, d.due_at


# --- opening, meeting, cancelling -----------------------------------------------------------

def test_initial_assessment_opens_at_intake_counted_from_receipt(world: World) -> None:
    code = world.open()
    [d] = world.deadlines(code)
    assert summary(d) == ("initial_assessment", "open", at(2, 8), at(2, 20))
    assert (d.opened_at, d.stage, d.next_alert_at) == (T0, 0, at(2, 14))
    [opened] = world.events(code, "case.opened")
    assert [(o["kind"], datetime.fromisoformat(o["due_at"])) for o in opened["deadlines"]["opened"]] == [
        ("initial_assessment", at(2, 20))]


def test_a_111_report_counts_from_when_the_hotline_received_the_call(world: World) -> None:
    # Called in on Sunday 1/3 at 22:00, transferred and recorded Monday at 09:00.
    code = world.open(Role.HOTLINE, hotline_report(received_at=at(1, 22).isoformat()))
    assert summary(world.deadline(code, "initial_assessment"))[2:] == (at(1, 22), at(2, 10))
    world.fire(W, code, "assess", risk_level="high", factors=FACTORS["high"], emergency=False)
    # Sunday was the day of receipt: five working days are Monday to Friday.
    assert summary(world.deadline(code, "plan_submission")) == ("plan_submission", "open", at(1, 22), at(6, 17))


def test_plan_submission_counts_working_days_from_receipt_not_from_assessment(world: World) -> None:
    code = world.open()
    world.clock.set(at(4, 15))  # assessed late, on Wednesday
    world.fire(W, code, "assess", risk_level="medium", factors=FACTORS["medium"], emergency=False)
    initial, plan = world.deadlines(code)
    assert summary(initial) == ("initial_assessment", "met", at(2, 8), at(2, 20))
    assert (initial.closed_at, initial.next_alert_at) == (at(4, 15), None)
    assert summary(plan) == ("plan_submission", "open", at(2, 8), at(9, 17))
    [assessed] = world.events(code, "case.assess")
    assert assessed["deadlines"]["met"] == ["initial_assessment"]
    assert [(o["kind"], datetime.fromisoformat(o["due_at"])) for o in assessed["deadlines"]["opened"]] == [
        ("plan_submission", at(9, 17))]


def test_plan_submission_over_tet(world: World) -> None:
    world.clock.set(at(13, 11, month=2))  # the Friday before Tết
    code = world.open(body=staff_report(received_at=at(13, 10, month=2).isoformat()))
    world.fire(W, code, "assess", risk_level="medium", factors=FACTORS["medium"], emergency=False)
    assert world.deadline(code, "plan_submission").due_at == at(27, 17, month=2)


def test_the_plan_deadlines_through_return_approval_reviews_and_replanning(world: World) -> None:
    code = world.open()
    world.fire(W, code, "assess", risk_level="medium", factors=FACTORS["medium"], emergency=False)
    world.clock.set(at(4, 10))
    world.fire(W, code, "detail_assess", **DETAIL)
    world.clock.set(at(5, 10))  # Thursday
    world.fire(W, code, "submit_plan", **PLAN)
    world.clock.set(at(6, 10))
    world.fire(CHAIR, code, "return_plan", reason="Thiếu biện pháp")
    world.clock.set(at(9, 10))
    world.fire(W, code, "submit_plan", **PLAN)
    world.clock.set(at(10, 10))
    world.fire(CHAIR, code, "approve_plan")
    world.clock.set(at(11, 10))
    world.fire(W, code, "record_consent", **CONSENT)
    world.fire(W, code, "start_service", **SERVICE)
    world.clock.set(at(20, 10))
    world.fire(W, code, "review", findings="Ổn định", risk_level="medium", factors=FACTORS["medium"], outcome="replan")
    world.clock.set(at(21, 10))  # a Saturday
    world.fire(W, code, "replan", reason="Nguy cơ tăng")
    assert [summary(d) for d in world.deadlines(code)] == [
        ("initial_assessment", "met", at(2, 8), at(2, 20)),
        ("plan_submission", "met", at(2, 8), at(9, 17)),
        ("plan_approval", "met", at(5, 10), at(9, 17)),  # 2 working days: Friday, Monday
        ("plan_resubmission", "met", at(6, 10), at(13, 17)),
        ("plan_approval", "met", at(9, 10), at(11, 17)),
        ("periodic_review", "met", at(10, 10), at(9, 10, month=4)),  # 30 days
        ("periodic_review", "cancelled", at(20, 10), at(19, 10, month=4)),  # restarted by the review
        ("plan_resubmission", "open", at(21, 10), at(27, 17)),
    ]
    world.clock.set(at(23, 10))
    world.fire(CHAIR, code, "close", reason="transferred", transferred_to="Xã Giả Lập")
    assert [d.status for d in world.deadlines(code)][-1] == "cancelled"


def test_close_cancels_every_open_deadline_and_a_closed_case_raises_nothing_more(world: World) -> None:
    code = world.open()
    world.clock.set(at(2, 10))
    world.fire(W, code, "assess", risk_level="high", factors=FACTORS["high"], emergency=True)
    # Emergency protection and the chair's emergency decision: each its first reminder.
    assert world.sweep(at(2, 14)).alerts == 2
    world.clock.set(at(2, 15))
    world.fire(CHAIR, code, "close", reason="not_substantiated")
    rows = world.deadlines(code)
    assert {(d.kind, d.status) for d in rows} == {("initial_assessment", "met"), (
        "plan_submission", "cancelled"), ("emergency_protection", "cancelled"), ("emergency_decision", "cancelled")}
    assert all(d.next_alert_at is None for d in rows)
    alerts, sms = world.alerts(code), len(world.alert_sms(code))
    assert world.sweep(at(20, 9)).alerts == 0
    assert (world.alerts(code), len(world.alert_sms(code))) == (alerts, sms)
    [closed] = world.events(code, "case.close")
    assert sorted(closed["deadlines"]["cancelled"]) == ["emergency_decision", "emergency_protection",
                                                        "plan_submission"]


def test_reopen_opens_a_reassessment_counted_from_the_reopening(world: World) -> None:
    code = world.open()
    world.fire(CHAIR, code, "close", reason="duplicate")
    world.clock.set(at(1, 9, month=4))
    world.fire(HEAD, code, "reopen", reason="Có thông tin mới")
    d = world.deadline(code, "reassessment")
    assert summary(d) == ("reassessment", "open", at(1, 9, month=4), at(1, 21, month=4))
    world.clock.set(at(1, 11, month=4))
    world.fire(W, code, "assess", risk_level="low", factors=FACTORS["low"], emergency=False)
    assert world.deadline(code, "reassessment").status == "met"


def test_after_reopening_plan_submission_counts_from_the_reopening(world: World) -> None:
    code = world.open()
    world.fire(CHAIR, code, "close", reason="duplicate")
    world.clock.set(at(1, 9, month=4))
    world.fire(HEAD, code, "reopen", reason="Có thông tin mới")
    world.clock.set(at(1, 10, month=4))
    world.fire(W, code, "assess", risk_level="low", factors=FACTORS["low"], emergency=False)
    assert world.sweep().alerts == 0
    assert world.deadline(code, "plan_submission").due_at == at(8, 17, month=4)


def test_an_emergency_decided_after_reopening_is_chased_again(world: World) -> None:
    code = world.open()
    world.fire(W, code, "assess", risk_level="high", factors=FACTORS["high"], emergency=True,
               emergency_action=action(at(2, 8, 30)))
    world.fire(CHAIR, code, "close", reason="duplicate")
    world.clock.set(at(1, 9, month=4))
    world.fire(HEAD, code, "reopen", reason="Có thông tin mới")
    world.clock.set(at(1, 10, month=4))
    world.fire(W, code, "assess", risk_level="high", factors=FACTORS["high"], emergency=True)
    assert world.emergency_sms() != []
    assert world.deadline(code, "emergency_protection").due_at > world.clock.now()


# --- emergencies ----------------------------------------------------------------------------

def test_emergency_decided_opens_emergency_protection_and_tells_police_health_worker_chair(
        world: World) -> None:
    police, worker, chair = (world.commune.officials[r] for r in (Role.AGENCY_OFFICIAL, W, CHAIR))
    health = world.official("TYT", "agency_contact", "+84900009002")
    code = world.open()
    world.clock.set(at(2, 10))
    world.fire(W, code, "assess", risk_level="high", factors=FACTORS["high"], emergency=True)
    d = world.deadline(code, "emergency_protection")
    assert summary(d) == ("emergency_protection", "open", at(2, 8), at(2, 20))  # 12 h from receipt
    sms = world.emergency_sms()
    assert sorted(m.official_id for m in sms) == sorted([police, health, worker, chair])
    assert all(code in m.body and "KHẨN" in m.body and "20:00 02/03" in m.body for m in sms)
    world.clock.set(at(2, 11))
    world.fire(W, code, "record_emergency", **action(at(2, 10, 30)))
    assert world.deadline(code, "emergency_protection").status == "met"


def test_an_emergency_action_at_assessment_opens_no_protection_limit_to_chase(world: World) -> None:
    """The protection was done: nothing to chase for it, and no emergency SMS. The chair's own
    decision on it is still due within the 12 hours (Nghị định 56/2017 Art. 26(3))."""
    code = world.open()
    world.clock.set(at(2, 10))
    world.fire(W, code, "assess", risk_level="high", factors=FACTORS["high"], emergency=True,
               emergency_action=action(at(2, 9, 30)))
    assert [(d.kind, d.status) for d in world.deadlines(code)] == [
        ("initial_assessment", "met"), ("plan_submission", "open"), ("emergency_decision", "open")]
    assert world.emergency_sms() == []


def test_separation_from_the_carer_opens_the_15_day_limit(world: World) -> None:
    """Counted from when the child was separated (the action's done_at), not from its recording."""
    code = world.open()
    world.clock.set(at(2, 10))
    world.fire(W, code, "record_emergency", **action(at(2, 9, 30), separated=True))
    assert summary(world.deadline(code, "temporary_separation"))[1:] == ("open", at(2, 9, 30), at(17, 9, 30))
    world.sweep(at(14, 9, 29))
    assert world.alerts(code, "temporary_separation") == []
    world.sweep(at(14, 9, 30))  # 80 % of the 15 days
    assert world.alerts(code, "temporary_separation") == [(0, "reminder", "worker")]
    world.sweep(at(18, 10))
    assert world.alerts(code, "temporary_separation")[1:] == [(1, "overdue", "worker"), (2, "escalation", "head")]
    world.fire(CHAIR, code, "close", reason="transferred", transferred_to="Xã Giả Lập")
    assert world.deadline(code, "temporary_separation").status == "cancelled"
    assert world.sweep(at(30, 10)).alerts == 0


# --- the alert ladder -----------------------------------------------------------------------

def test_each_stage_fires_at_its_time_to_the_right_officials_exactly_once(world: World) -> None:
    province = world.official("UBND", "province_contact", "+84900009001")
    who = {"worker": world.commune.officials[W], "head": world.commune.officials[HEAD],
           "chair": world.commune.officials[CHAIR], "province": province}
    words = {"reminder": "Nhắc:", "overdue": "QUÁ HẠN:", "escalation": "QUÁ HẠN, chưa xử lý:"}
    code = world.open()
    steps = [(at(2, 13, 59), None), (at(2, 14), (0, "reminder", "worker")),
             (at(2, 18, 47), None), (at(2, 18, 48), (1, "reminder", "worker")),
             (at(2, 20), (2, "overdue", "worker")), (at(2, 21, 59), None),
             (at(2, 22), (3, "escalation", "head")), (at(3, 0), (4, "escalation", "chair")),
             (at(3, 2), (5, "escalation", "province")), (at(9, 2), None)]
    for when, expected in steps:
        before = world.alerts(code)
        n_sms = len(world.alert_sms(code))
        assert world.sweep(when).alerts == (expected is not None), when
        assert world.sweep(when).alerts == 0, when  # the same instant again: nothing more
        assert world.alerts(code) == before + ([expected] if expected else [])
        new = world.alert_sms(code)[n_sms:]
        if expected is None:
            assert new == []
            continue
        stage, kind, level = expected
        [message] = new
        assert message.official_id == who[level] and message.status == "pending"
        assert message.dedupe_key == f"alert:{world.deadline(code, 'initial_assessment').id}:{stage}:{who[level]}"
        assert message.body.startswith(f"[kipthoi] {words[kind]} {code} - Đánh giá ban đầu hạn 20:00 02/03")
        assert message.expires_at == (at(2, 20) if kind == "reminder" else when + timedelta(hours=4))
    assert world.deadline(code, "initial_assessment").next_alert_at is None
    events = world.events(code, "deadline.alert")
    assert [(e["stage"], e["alert"], e["level"], e["recipients"]) for e in events] == [
        (s, k, lv, [who[lv]]) for _, step in steps if step for s, k, lv in [step]]


def test_worker_alerts_go_to_the_assignee_only(world: World) -> None:
    other = world.official("VHXH", "case_worker", "+84900009003")
    code = world.open()
    with world.db.write() as s:
        assign(s, world.clock, world.commune.actors[HEAD], code, other, 1)
    world.sweep(at(2, 14))
    assert [m.official_id for m in world.alert_sms(code)] == [other]


def test_acknowledging_stops_the_climb(world: World) -> None:
    code = world.open()
    world.sweep(at(2, 20, 5))
    d = world.deadline(code, "initial_assessment")
    with world.db.write() as s:
        deadlines.acknowledge(s, world.clock.now(), world.commune.actors[W], d.id or 0, world.policy.deadlines)
    with world.db.write() as s:  # twice: nothing new
        deadlines.acknowledge(s, world.clock.now(), world.commune.actors[W], d.id or 0, world.policy.deadlines)
    assert world.sweep(at(3, 12)).alerts == 0
    assert world.alerts(code) == [(2, "overdue", "worker")]
    d = world.deadline(code, "initial_assessment")
    assert (d.status, d.acknowledged_at, d.acknowledged_by, d.next_alert_at) == (
        "open", at(2, 20, 5), world.commune.actors[W].ref, None)
    assert world.events(code, "deadline.acknowledged") == [
        {"deadline_id": d.id, "deadline": "initial_assessment", "stage": 3}]


def test_catch_up_after_downtime_raises_overdue_and_every_escalation_once_in_order(world: World) -> None:
    province = world.official("UBND", "province_contact", "+84900009001")
    code = world.open()
    report = world.sweep(at(3, 5))  # nine hours late: past the limit and the whole ladder
    assert (report.deadlines, report.alerts) == (1, 4)
    assert world.alerts(code) == [(2, "overdue", "worker"), (3, "escalation", "head"),
                                  (4, "escalation", "chair"), (5, "escalation", "province")]
    rows = world._all(select(Alert).order_by(Alert.id))
    assert [(a.due_at, a.raised_at) for a in rows] == [
        (t, at(3, 5)) for t in (at(2, 20), at(2, 22), at(3, 0), at(3, 2))]
    assert [(e["stage"], e["level"]) for e in world.events(code, "deadline.alert")] == [
        (2, "worker"), (3, "head"), (4, "chair"), (5, "province")]
    assert [m.official_id for m in world.alert_sms(code)] == [
        world.commune.officials[W], world.commune.officials[HEAD], world.commune.officials[CHAIR], province]
    assert "Nhắc" not in " ".join(m.body for m in world.alert_sms(code))
    assert world.sweep().alerts == 0


def test_catch_up_before_the_limit_sends_only_the_latest_reminder(world: World) -> None:
    code = world.open()
    assert world.sweep(at(2, 19)).alerts == 1
    assert world.alerts(code) == [(1, "reminder", "worker")]
    assert world.sweep(at(2, 23)).alerts == 2
    assert world.alerts(code)[1:] == [(2, "overdue", "worker"), (3, "escalation", "head")]


def test_a_reminder_whose_limit_has_passed_is_not_sent(world: World) -> None:
    # The hotline transferred a call received 12.5 hours ago: the limit passed before intake.
    code = world.open(Role.HOTLINE, hotline_report(received_at=(T0 - timedelta(hours=12, minutes=30)).isoformat()))
    assert world.sweep().alerts == 1
    assert world.alerts(code) == [(2, "overdue", "worker")]


def test_alert_messages_name_the_case_and_nothing_about_the_child(world: World) -> None:
    world.official("UBND", "province_contact", "+84900009001")
    body = staff_report(place_detail="Nhà số 7, ngõ Giả Lập", current_carer="Bà ngoại Giả Lập")
    code = world.open(body=body)
    world.sweep(at(2, 14))
    world.sweep(at(3, 5))
    messages = world.alert_sms(code)
    assert len(messages) == 5
    secret = ["Nguyễn", "Thử", "Người Báo Tin", "0900000999", "Đông An", "DONG-AN", "Giả Lập",
              "Hàng xóm", body["narrative"][:20]]
    for m in messages:
        assert code in m.body and "/a/" in m.body
        assert not [word for word in secret if word.lower() in m.body.lower()], m.body


def test_the_sweep_pages_through_many_due_deadlines(world: World) -> None:
    codes = [world.open(body=staff_report(child={"full_name": f"Trẻ Giả Lập {i}", "sex": "female",
                                                 "birth_date": f"201{i + 5}-01-01"})) for i in range(3)]
    world.clock.set(at(2, 14))
    report = run_sweep(world.db, world.clock, world.policy, batch=1)
    assert (report.deadlines, report.alerts) == (3, 3)
    assert all(world.alerts(c) == [(0, "reminder", "worker")] for c in codes)
    with world.db.read() as s:  # the scheduler's next wake-up: the second reminders
        assert deadlines.next_alert_at(s) == at(2, 18, 48)


def test_the_audit_chain_verifies_after_sweeps(world: World) -> None:
    code = world.open()
    world.fire(W, code, "assess", risk_level="high", factors=FACTORS["high"], emergency=True)
    for when in (at(2, 14), at(2, 19), at(3, 9), at(9, 9)):
        world.sweep(when)
    assert len(world.events(code, "deadline.alert")) == len(world.alerts(code)) > 6
    with world.db.read() as s:
        verdict = audit.verify(s)
    assert verdict.ok, verdict


def test_acknowledging_before_the_limit_stops_reminders_but_not_the_overdue_alert(world: World) -> None:
    code = world.open()
    world.sweep(at(2, 14, 5))  # the half-time reminder
    d = world.deadline(code, "initial_assessment")
    with world.db.write() as s:
        deadlines.acknowledge(s, world.clock.now(), world.commune.actors[W], d.id or 0, world.policy.deadlines)
    world.sweep(at(2, 19))  # the 90 % reminder time: silenced
    world.sweep(at(3, 12))  # past the limit and the whole ladder: only the overdue alert
    assert [kind for _, kind, _ in world.alerts(code)] == ["reminder", "overdue"]


# --- limits counted from when a step was done, not when it was recorded ---------------------

def limits_of(world: World, kind: str) -> dict[str, int]:
    auditor = world.commune.actors[Role.AUDITOR]
    with world.db.read() as s:
        return statistics.summary(s, auditor, world.clock.now())["time_limits"][kind]


def test_emergency_protection_is_met_when_it_was_done_not_when_it_was_recorded(world: World) -> None:
    """Received 08:00; protected at 19:00 (11 h: in time), typed in the next morning at 09:00."""
    code = world.open()
    world.clock.set(at(2, 10))
    world.fire(W, code, "assess", risk_level="high", factors=FACTORS["high"], emergency=True)
    assert world.deadline(code, "emergency_protection").due_at == at(2, 20)
    world.clock.set(at(3, 9))
    world.fire(W, code, "record_emergency", **action(at(2, 19)))
    d = world.deadline(code, "emergency_protection")
    assert (d.status, d.closed_at, d.next_alert_at) == ("met", at(2, 19), None)
    assert limits_of(world, "emergency_protection") == {"met_in_time": 1, "met_late": 0, "open_overdue": 0}


def test_emergency_protection_done_after_the_12_hours_is_met_late_whenever_recorded(world: World) -> None:
    code = world.open()
    world.clock.set(at(2, 10))
    world.fire(W, code, "assess", risk_level="high", factors=FACTORS["high"], emergency=True)
    world.clock.set(at(2, 21, 30))
    world.fire(W, code, "record_emergency", **action(at(2, 21)))  # 13 h after receipt
    assert world.deadline(code, "emergency_protection").closed_at == at(2, 21)
    assert limits_of(world, "emergency_protection") == {"met_in_time": 0, "met_late": 1, "open_overdue": 0}


@pytest.mark.parametrize("recorded", [at(2, 10, 5), at(3, 9), at(6, 16)])
def test_the_separation_limit_counts_15_days_from_the_separation_whatever_the_recording_time(
        world: World, recorded: datetime) -> None:
    code = world.open()
    world.clock.set(recorded)
    world.fire(W, code, "record_emergency", **action(at(2, 10), separated=True))
    d = world.deadline(code, "temporary_separation")
    assert (d.starts_at, d.due_at, d.opened_at) == (at(2, 10), at(17, 10), recorded)


def test_a_separation_recorded_at_assessment_counts_from_its_done_at(world: World) -> None:
    code = world.open()
    world.clock.set(at(3, 9))
    world.fire(W, code, "assess", risk_level="high", factors=FACTORS["high"], emergency=True,
               emergency_action=action(at(2, 10), separated=True))
    assert summary(world.deadline(code, "temporary_separation"))[1:] == ("open", at(2, 10), at(17, 10))


# --- the chair extends or ends a temporary separation ---------------------------------------

def separated(world: World) -> str:
    code = world.open()
    world.clock.set(at(2, 11))
    world.fire(W, code, "record_emergency", **action(at(2, 10), separated=True))
    return code


def test_the_chair_extends_a_separation_and_its_limit_moves(world: World) -> None:
    code = separated(world)
    world.sweep(at(14, 10))  # the reminder at 80 % of the first 15 days
    assert world.alerts(code, "temporary_separation") == [(0, "reminder", "worker")]
    world.clock.set(at(16, 9))
    world.fire(CHAIR, code, "extend_separation", reason="Gia đình chưa bảo đảm an toàn", ends_at=at(31, 10))
    d = world.deadline(code, "temporary_separation")
    assert (d.status, d.starts_at, d.due_at) == ("open", at(2, 10), at(31, 10))
    [event] = world.events(code, "case.extend_separation")
    assert event["deadlines"]["moved"] == [{"kind": "temporary_separation",
                                            "from": at(17, 10).astimezone(UTC).isoformat(),
                                            "due_at": at(31, 10).astimezone(UTC).isoformat()}]
    assert "Gia đình" not in json.dumps(event)  # the reason is a note, not in the audit trail
    world.sweep(at(18, 10))  # past the old limit: nothing
    assert world.alerts(code, "temporary_separation") == [(0, "reminder", "worker")]
    world.sweep(at(31, 10))  # the new limit
    assert world.alerts(code, "temporary_separation")[1:] == [(1, "overdue", "worker")]


def test_the_chair_ends_a_separation_and_the_limit_is_met_when_it_ended(world: World) -> None:
    code = separated(world)
    world.clock.set(at(20, 9))
    world.fire(CHAIR, code, "end_separation", outcome="alternative_care", ended_at=at(16, 15).isoformat())
    d = world.deadline(code, "temporary_separation")
    assert (d.status, d.closed_at, d.next_alert_at) == ("met", at(16, 15), None)
    assert limits_of(world, "temporary_separation")["met_in_time"] == 1
    [event] = world.events(code, "case.end_separation")
    assert event["separation_outcome"] == "alternative_care"
    assert event["deadlines"]["met"] == ["temporary_separation"]
    world.sweep(at(30, 10))
    assert world.alerts(code, "temporary_separation") == []


@pytest.mark.parametrize(("trigger", "data", "field", "rule"), [
    ("extend_separation", {"reason": "x", "ends_at": at(17, 10)}, "ends_at", "after_current_limit"),
    ("extend_separation", {"ends_at": at(31, 10)}, "reason", "required"),
    ("extend_separation", {"reason": "x"}, "ends_at", "required"),
    ("end_separation", {"ended_at": at(5, 10)}, "outcome", "required"),
    ("end_separation", {"outcome": "returned_to_family"}, "ended_at", "required"),
])
def test_a_separation_step_without_what_it_needs_is_refused_and_changes_nothing(
        world: World, trigger: str, data: dict[str, Any], field: str, rule: str) -> None:
    code = separated(world)
    world.clock.set(at(6, 9))
    with pytest.raises(GuardFailed) as err:
        world.fire(CHAIR, code, trigger, **data)
    assert (err.value.field, err.value.rule) == (field, rule)
    d = world.deadline(code, "temporary_separation")
    assert (d.status, d.due_at) == ("open", at(17, 10))


@pytest.mark.parametrize(("trigger", "data", "field", "rule"), [
    ("extend_separation", {"reason": "x", "ends_at": at(18, 10)}, "ends_at", "in_future"),  # now: the 20th
    ("end_separation", {"outcome": "returned_to_family", "ended_at": at(21, 10)}, "ended_at", "not_in_future"),
    ("end_separation", {"outcome": "returned_to_family", "ended_at": at(2, 9)}, "ended_at",
     "not_before_separation"),
])
def test_separation_times_out_of_order_are_refused(world: World, trigger: str, data: dict[str, Any],
                                                   field: str, rule: str) -> None:
    code = separated(world)
    world.clock.set(at(20, 9))
    with pytest.raises(InvalidInput) as err:
        world.fire(CHAIR, code, trigger, **data)
    assert (err.value.field, err.value.rule) == (field, rule)
    assert world.deadline(code, "temporary_separation").status == "open"


@pytest.mark.parametrize("trigger", ["extend_separation", "end_separation"])
def test_no_separation_to_extend_or_end_is_refused_naming_it(world: World, trigger: str) -> None:
    code = world.open()
    data = {"reason": "x", "ends_at": at(31, 10)} if trigger == "extend_separation" else {
        "outcome": "returned_to_family", "ended_at": at(2, 9)}
    with pytest.raises(GuardFailed) as err:
        world.fire(CHAIR, code, trigger, **data)
    assert (err.value.field, err.value.rule) == ("separation", "separation_ongoing")
    # ... nor a separation that has already ended
    code = separated(world)
    world.fire(CHAIR, code, "end_separation", outcome="returned_to_family", ended_at=at(2, 11).isoformat())
    with pytest.raises(GuardFailed) as err:
        world.fire(CHAIR, code, trigger, **data)
    assert err.value.field == "separation"


@pytest.mark.parametrize("role", [W, HEAD])
def test_only_the_chair_extends_or_ends_a_separation(world: World, role: Role) -> None:
    code = separated(world)
    with pytest.raises(Forbidden):
        world.fire(role, code, "extend_separation", reason="x", ends_at=at(31, 10))
    with pytest.raises(Forbidden):
        world.fire(role, code, "end_separation", outcome="returned_to_family", ended_at=at(2, 11))
    assert world.deadline(code, "temporary_separation").status == "open"

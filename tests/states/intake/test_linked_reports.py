"""A report about a child whose case is open joins that case (states/intake/opening.py `_link`),
and is told as a new case would be: the worker and the head hear of it, the crime and school
routes fire on its own forms of abuse, and an emergency starts its 12-hour window from its own
receipt. A replay of it writes nothing new.

The first report of the fixtures is received Monday 2/3/2026 at 08:00 (Vietnam) and recorded
at 09:00 (T0). With the shipped policy an emergency is decided at the assessment; a commune
whose policy opens the emergency window on receipt (`EMERGENCY_ON_RECEIPT`) treats every
report as one, and so every linked report too."""

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest
from pydantic import TypeAdapter
from sqlalchemy import func, select
from sqlmodel import col

from flows.jobs import run_sweep
from models import Alert, AuditEvent, Case, Database, Deadline, IdempotencyRecord, OutboxMessage, Report
from models.enums import AgencyKind, Role
from states.deadlines.policy import load_policy
from states.identity.actors import PUBLIC, SYSTEM
from states.intake.opening import IntakeResult, receive_now, submit_report
from states.intake.report_data import AnyReport
from states.kernel.clock import LOCAL_TZ, FrozenClock
from states.kernel.commune import CommunePolicy
from states.lifecycle.triggers import INPUTS
from states.lifecycle.workflow import advance, assign
from states.records import directory
from tests.conftest import Commune, hotline_report, staff_report
from tests.payloads import FACTORS

REPORT = TypeAdapter(AnyReport)
W, HEAD, POLICE = Role.CASE_WORKER, Role.HEAD, Role.AGENCY_OFFICIAL
EMERGENCY_ON_RECEIPT = {"emergency_protection": {"starts": ["case.opened", "emergency_decided"]}}


def at(day: int, hh: int, mm: int = 0) -> datetime:
    return datetime(2026, 3, day, hh, mm, tzinfo=LOCAL_TZ)


@dataclass
class Desk:
    db: Database
    clock: FrozenClock
    commune: Commune
    policy: CommunePolicy

    def report(self, body: dict[str, Any], role: Role | None = Role.INTAKE_OPERATOR,
               key: str | None = None) -> IntakeResult:
        """Through the one way in (`receive`: prepare on a read session, apply in the write).
        `role=None`: an anonymous citizen."""
        actor = PUBLIC if role is None else self.commune.actors[role]
        return receive_now(self.db, self.clock, actor, self.policy, REPORT.validate_python(body), key)

    def open(self, **overrides: Any) -> str:
        result = self.report(staff_report(**overrides))
        assert result.response["linked_to_existing_case"] is False
        return str(result.response["case_code"])

    def link(self, body: dict[str, Any], role: Role = Role.HOTLINE, key: str | None = None) -> IntakeResult:
        result = self.report(body, role, key)
        assert result.response["linked_to_existing_case"] is True, result.response
        return result

    def after(self, event: AuditEvent) -> dict[str, Any]:
        assert event.after is not None
        return dict(json.loads(event.after))

    def fire(self, role: Role, code: str, trigger: str, **data: Any) -> None:
        with self.db.write() as s:
            version = s.execute(select(col(Case.version)).where(col(Case.code) == code)).scalar_one()
            advance(s, self.clock, self.commune.actors[role], code, trigger,
                    INPUTS[trigger].model_validate(data), version, policy=self.policy)

    def _all(self, query: Any) -> list[Any]:
        with self.db.read() as s:
            rows = list(s.execute(query).scalars())
            s.expunge_all()
            return rows

    def sms(self, kind: str) -> list[OutboxMessage]:
        return self._all(select(OutboxMessage).where(col(OutboxMessage.kind) == kind).order_by(col(OutboxMessage.id)))

    def linked_events(self) -> list[AuditEvent]:
        return self._all(select(AuditEvent).where(col(AuditEvent.action) == "report.linked")
                         .order_by(col(AuditEvent.seq)))

    def deadlines(self, kind: str) -> list[Deadline]:
        return self._all(select(Deadline).where(col(Deadline.kind) == kind).order_by(col(Deadline.id)))

    def counts(self) -> dict[str, int]:
        with self.db.read() as s:
            return {str(m.__tablename__): s.execute(select(func.count()).select_from(m)).scalar_one()
                    for m in (Case, Report, AuditEvent, Deadline, OutboxMessage, IdempotencyRecord)}


@pytest.fixture
def desk(db: Database, clock: FrozenClock, commune: Commune, policy: CommunePolicy) -> Desk:
    return Desk(db, clock, commune, policy)


@pytest.fixture
def emergency_desk(db: Database, clock: FrozenClock, commune: Commune) -> Desk:
    policy = CommunePolicy(code_prefix="NH", match_secret=b"test-secret",
                           deadlines=load_policy(overrides=EMERGENCY_ON_RECEIPT))
    return Desk(db, clock, commune, policy)


def _recipients(rows: list[OutboxMessage]) -> list[int]:
    return sorted(m.official_id or 0 for m in rows)


# --- who hears of a linked report ------------------------------------------------------------


def test_a_linked_report_tells_the_worker_and_the_head_and_is_on_the_audit_trail(desk: Desk) -> None:
    code = desk.open()
    desk.clock.set(at(2, 11))
    linked = desk.link(hotline_report("111-LINK-1", abuse_forms=["neglect"],
                                      received_at=at(2, 10, 30).isoformat()))
    assert linked.response["case_code"] == code
    [event] = desk.linked_events()
    after = desk.after(event)
    assert (after["report_id"], after["case"], after["rule"]) == (
        linked.response["report_id"], code, "same_child_open_case")
    assert "deadlines" not in after
    rows = desk.sms("linked_report")
    officials = desk.commune.officials
    assert _recipients(rows) == sorted([officials[W], officials[HEAD]])  # unassigned: the workers
    for m in rows:
        assert m.dedupe_key == f"event:{event.seq}:linked_report:{m.official_id}"
        assert m.case_id is not None and m.status == "pending" and not m.urgent
        assert m.body.startswith(f"[kipthoi] Vụ việc {code} có thêm thông báo mới.")
        assert "Nguyễn" not in m.body and "Thử" not in m.body  # the code, never the child
    # A neglect report is no crime: the police heard of the case's violence once, at opening.
    assert len(desk.sms("crime_report")) == 1


def test_an_assigned_case_tells_its_worker_only(desk: Desk) -> None:
    code = desk.open()
    with desk.db.write() as s:
        other = directory.create_official(s, desk.clock, SYSTEM, directory.OfficialIn(
            full_name="Cán bộ Phụ Trách", agency_code="VHXH", title="Công chức", phone="+84900008001",
            position="case_worker")).id
        assert other is not None
        assign(s, desk.clock, desk.commune.actors[HEAD], code, other, expected_version=1)
    desk.link(staff_report(abuse_forms=["neglect"]), Role.INTAKE_OPERATOR)
    assert _recipients(desk.sms("linked_report")) == sorted([other, desk.commune.officials[HEAD]])


def test_a_linked_report_of_a_crime_reaches_the_police(desk: Desk) -> None:
    code = desk.open(abuse_forms=["neglect"])
    assert desk.sms("crime_report") == []  # neglect alone is no crime
    desk.link(hotline_report("111-LINK-2", abuse_forms=["sexual_abuse"]))
    [police] = desk.sms("crime_report")
    assert police.official_id == desk.commune.officials[POLICE] and code in police.body
    [event] = desk.linked_events()
    assert police.dedupe_key == f"event:{event.seq}:crime_report:{police.official_id}"


def test_a_linked_report_of_school_violence_tells_the_school_it_names(desk: Desk) -> None:
    with desk.db.write() as s:
        directory.create_agency(s, desk.clock, SYSTEM, directory.AgencyIn(
            code="THCS-A", name_vi="Trường THCS A", name_en="School A", kind=AgencyKind.SCHOOL))
        school = directory.create_official(s, desk.clock, SYSTEM, directory.OfficialIn(
            full_name="Cô Hiệu Trưởng", agency_code="THCS-A", title="Hiệu trưởng", phone="+84900008002",
            position="agency_contact")).id
    desk.open(abuse_forms=["neglect"])  # the first report names no school
    desk.link(staff_report(abuse_forms=["school_violence"], school_code="THCS-A"), Role.INTAKE_OPERATOR)
    assert _recipients(desk.sms("school_violence")) == [school]


def test_an_anonymous_linked_report_is_told_in_the_digest(desk: Desk) -> None:
    desk.open()
    online = {"channel": "online", "place_code": "DONG-AN", "narrative": "Trẻ bị bỏ đói (giả lập).",
              "abuse_forms": ["neglect"], "child": {"full_name": "Nguyễn Văn Thử", "birth_date": "2016-05-01"}}
    assert set(desk.report(online, None).response) == {"tracking_code"}  # linked, and not said so
    [event] = desk.linked_events()
    rows = desk.sms("linked_report")
    assert len(rows) == 2 and {m.status for m in rows} == {"held"}
    assert all(m.dedupe_key.startswith(f"event:{event.seq}:") for m in rows)


# --- the emergency window ----------------------------------------------------------------------


def test_the_shipped_policy_opens_no_window_for_a_linked_report(desk: Desk) -> None:
    desk.open()
    desk.link(hotline_report("111-LINK-3"))
    assert desk.deadlines("emergency_protection") == []
    [event] = desk.linked_events()
    assert "deadlines" not in desk.after(event)


def test_a_linked_emergency_opens_its_window_12_hours_from_its_own_receipt(emergency_desk: Desk) -> None:
    """Worked example. The case opens Monday 2/3 (received 08:00): its window runs to 20:00.
    The worker protects the child at 08:30 and says so at the assessment: the window is met.
    Tuesday 3/3 the hotline receives a new call about the child at 13:10 and passes it on at
    14:00: a new window runs from 13:10 to Wednesday 01:10 — not from the case's receipt, not
    from our recording. Its reminders fall at 19:10 (half) and 23:58 (nine tenths)."""
    desk = emergency_desk
    code = desk.open()
    [first] = desk.deadlines("emergency_protection")
    assert (first.starts_at, first.due_at) == (at(2, 8), at(2, 20))
    desk.clock.set(at(2, 10))
    desk.fire(W, code, "assess", risk_level="high", factors=FACTORS["high"], emergency=True, emergency_action={
        "action_taken": "Đưa trẻ đến nhà người thân (giả lập)", "who_was_called": "Công an xã",
        "done_at": at(2, 8, 30).isoformat(), "separated_from_carer": False})
    assert desk.deadlines("emergency_protection")[0].status == "met"

    desk.clock.set(at(3, 14))
    desk.link(hotline_report("111-LINK-4", received_at=at(3, 13, 10).isoformat()))
    met, new = desk.deadlines("emergency_protection")
    assert (new.status, new.case_id, new.opened_at) == ("open", met.case_id, at(3, 14))
    assert (new.starts_at, new.due_at, new.next_alert_at) == (at(3, 13, 10), at(4, 1, 10), at(3, 19, 10))
    [event] = desk.linked_events()
    [opened] = desk.after(event)["deadlines"]["opened"]
    assert opened["kind"] == "emergency_protection"
    assert datetime.fromisoformat(opened["due_at"]) == at(4, 1, 10)
    assert len(desk.sms("linked_report")) == 2
    assert desk.deadlines("initial_assessment")[-1].status == "met"  # no second assessment limit

    # Its ladder runs: the reminder at 19:10 goes to the worker, with its acknowledgement link.
    desk.clock.set(at(3, 19, 11))
    run_sweep(desk.db, desk.clock, desk.policy)
    alerts = desk._all(select(Alert).where(col(Alert.deadline_id) == new.id))
    assert [(a.kind, a.level) for a in alerts] == [("reminder", "worker")]
    [reminder] = [m for m in desk.sms("reminder") if m.alert_id == alerts[0].id]
    assert reminder.official_id == desk.commune.officials[W] and "01:10 04/03" in reminder.body


def test_an_open_emergency_window_is_not_doubled(emergency_desk: Desk) -> None:
    desk = emergency_desk
    desk.open()
    desk.clock.set(at(2, 11))
    desk.link(hotline_report("111-LINK-5", received_at=at(2, 10).isoformat()))
    [window] = desk.deadlines("emergency_protection")
    assert (window.status, window.starts_at, window.due_at) == ("open", at(2, 8), at(2, 20))  # the earlier
    [event] = desk.linked_events()
    assert "deadlines" not in desk.after(event)
    assert len(desk.sms("linked_report")) == 2  # told all the same


# --- replays ---------------------------------------------------------------------------------


def test_a_replayed_linked_report_writes_nothing_new(emergency_desk: Desk) -> None:
    desk = emergency_desk
    code = desk.open()
    desk.fire(W, code, "assess", risk_level="high", factors=FACTORS["high"], emergency=True, emergency_action={
        "action_taken": "Đưa trẻ đến nhà người thân (giả lập)", "who_was_called": "Công an xã",
        "done_at": at(2, 8, 30).isoformat(), "separated_from_carer": False})
    desk.clock.set(at(2, 12))
    body = hotline_report("111-LINK-6", abuse_forms=["violence"], received_at=at(2, 11).isoformat())
    first = desk.link(body)
    staff = staff_report(abuse_forms=["trafficking"], received_at=at(2, 11, 30).isoformat())
    keyed = desk.link(staff, Role.INTAKE_OPERATOR, key="req-linked-1")
    after = desk.counts()
    sms = {m.dedupe_key for m in desk._all(select(OutboxMessage))}
    assert len(desk.deadlines("emergency_protection")) == 2  # met at assessment, opened by the first link
    assert len(desk.sms("linked_report")) == 4 and len(desk.sms("crime_report")) == 3

    desk.clock.set(at(2, 12, 5))
    again = desk.report(body, Role.HOTLINE)
    again_keyed = desk.report(staff, Role.INTAKE_OPERATOR, key="req-linked-1")
    assert (again.replayed, again.response) == (True, first.response)
    assert (again_keyed.replayed, again_keyed.response) == (True, keyed.response)
    assert desk.counts() == after
    assert {m.dedupe_key for m in desk._all(select(OutboxMessage))} == sms


def test_replaying_inside_one_transaction_also_writes_nothing(desk: Desk) -> None:
    desk.open()
    body = REPORT.validate_python(hotline_report("111-LINK-7"))
    actor = desk.commune.actors[Role.HOTLINE]
    with desk.db.write() as s:
        first = submit_report(s, desk.clock, actor, desk.policy, body)
    after = desk.counts()
    with desk.db.write() as s:
        again = submit_report(s, desk.clock, actor, desk.policy, body)
    assert again.replayed and again.response == first.response and desk.counts() == after


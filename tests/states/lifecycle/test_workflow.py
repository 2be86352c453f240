"""`advance` against a real database: each trigger's effects, its version bump and audit event,
and that a refused trigger (stale, guarded, forbidden, invalid) leaves no trace."""

import json
from dataclasses import replace
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlmodel import Session

from kipthoi.settings import Settings
from models import (
    AuditEvent,
    Case,
    Consent,
    Database,
    Deadline,
    DetailedAssessment,
    EmergencyAction,
    EmergencyDecision,
    Note,
    OutboxMessage,
    Plan,
    PlanMeasure,
    Review,
    RiskRating,
    Service,
)
from models.enums import Role
from states.audit import chain as audit
from states.cases.desk import desk
from states.intake.opening import submit_report
from states.intake.report_data import StaffReport
from states.kernel.clock import FrozenClock
from states.kernel.commune import CommunePolicy
from states.kernel.errors import Forbidden, GuardFailed, IllegalTrigger, InvalidInput, NotFound, StaleVersion
from states.lifecycle.triggers import INPUTS
from states.lifecycle.workflow import advance
from tests.conftest import T0, Commune, staff_report
from tests.payloads import CONSENT, DETAIL, FACTORS, MEASURES, measures

W, HEAD, CHAIR = Role.CASE_WORKER, Role.HEAD, Role.CHAIR
RECEIVED_AT = T0 - timedelta(hours=1)  # staff_report()'s received_at
EMERGENCY = {"action_taken": "Đưa trẻ về nhà bà ngoại (giả lập)", "who_was_called": "Công an xã",
             "done_at": (T0 - timedelta(minutes=30)).isoformat()}
ASSESS = {"risk_level": "high", "factors": FACTORS["high"], "emergency": False}
PLAN = {"goals": "Trẻ được an toàn", "measures": MEASURES}
# The approved PLAN has one measure: a service names it.
SERVICE = {"kind": "psychological", "agency_code": "TYT", "started_on": "2026-03-03", "measure_no": 1}
DECISION = {"measures": "Đưa trẻ tới nhà người thân (giả lập)", "decided_at": T0.isoformat()}
# "assessed": assessed, and the detailed assessment (Mẫu 03) the plan is drafted from is recorded.
PATH: dict[str, list[tuple[Role, str, dict[str, Any]]]] = {
    "received": [],
    "assessed": [(W, "assess", ASSESS), (W, "detail_assess", DETAIL)],
    "intervened": [(W, "assess", ASSESS), (W, "detail_assess", DETAIL), (W, "submit_plan", PLAN),
                   (CHAIR, "approve_plan", {})],
    "supported": [(W, "assess", ASSESS), (W, "detail_assess", DETAIL), (W, "submit_plan", PLAN),
                  (CHAIR, "approve_plan", {}), (W, "record_consent", CONSENT), (W, "start_service", SERVICE)],
    "closed": [(CHAIR, "close", {"reason": "duplicate"})],
}


class Flow:
    def __init__(self, db: Database, clock: FrozenClock, commune: Commune, policy: CommunePolicy) -> None:
        self.db, self.clock, self.commune, self.policy = db, clock, commune, policy

    def open(self, path: list[tuple[Role, str, dict[str, Any]]] | None = None) -> str:
        """Open a case from a staff report and fire `path` on it, in one transaction."""
        with self.db.write() as s:
            result = submit_report(s, self.clock, self.commune.actors[Role.INTAKE_OPERATOR], self.policy,
                                   StaffReport.model_validate(staff_report()))
            code, version = str(result.response["case_code"]), 1
            for role, trigger, data in path or []:
                version = self._advance(s, role, code, trigger, data, version).version
        return code

    def _advance(self, s: Session, role: Role, code: str, trigger: str, data: dict[str, Any],
                 version: int) -> Case:
        model = INPUTS[trigger].model_validate(data)
        return advance(s, self.clock, self.commune.actors[role], code, trigger, model, version,
                       policy=self.policy)

    def fire(self, role: Role, code: str, trigger: str, data: dict[str, Any] | None = None,
             version: int | None = None) -> Case:
        with self.db.write() as s:
            v = self.case(code).version if version is None else version
            return self._advance(s, role, code, trigger, data or {}, v)

    def to(self, state: str) -> str:
        return self.open(PATH[state])

    def case(self, code: str) -> Case:
        with self.db.read() as s:
            case = s.execute(select(Case).where(Case.code == code)).scalar_one()  # type: ignore[arg-type]
            s.expunge_all()  # detached with its loaded values: usable after the session ends
            return case

    def rows(self, model: Any, code: str) -> list[Any]:
        case_id = self.case(code).id
        with self.db.read() as s:
            order: Any = model.seq if model is AuditEvent else model.id
            rows = list(s.execute(select(model).where(model.case_id == case_id).order_by(order)).scalars())
            s.expunge_all()
            return rows

    def events(self, code: str) -> list[AuditEvent]:
        return self.rows(AuditEvent, code)

    def world(self, code: str) -> dict[str, Any]:
        """Everything a refused trigger must leave as it was."""
        with self.db.read() as s:
            n_events = s.execute(select(func.count()).select_from(AuditEvent)).scalar_one()
            n_outbox = s.execute(select(func.count()).select_from(OutboxMessage)).scalar_one()
        return {"case": self.case(code).model_dump(), "events": n_events, "outbox": n_outbox,
                "deadlines": [d.model_dump() for d in self.rows(Deadline, code)],
                **{m.__name__: len(self.rows(m, code)) for m in (
                    Plan, PlanMeasure, Service, Review, EmergencyAction, EmergencyDecision, RiskRating,
                    DetailedAssessment, Consent)}}


@pytest.fixture
def flow(db: Database, clock: FrozenClock, commune: Commune, policy: CommunePolicy) -> Flow:
    return Flow(db, clock, commune, policy)


def _json(text: str) -> dict[str, Any]:
    return dict(json.loads(text))


# (role, trigger, data, state before, state after): every trigger at least once.
LIFECYCLE: list[tuple[Role, str, dict[str, Any], str, str]] = [
    (W, "propose_closure", {"reason": "not_substantiated"}, "received", "received"),
    (W, "record_emergency", EMERGENCY | {"separated_from_carer": True}, "received", "received"),
    (CHAIR, "decide_emergency", DECISION, "received", "received"),
    (CHAIR, "extend_separation", {"reason": "Chưa an toàn", "ends_at": (T0 + timedelta(days=30)).isoformat()},
     "received", "received"),
    (W, "assess", ASSESS, "received", "assessed"),
    (HEAD, "record_emergency", EMERGENCY, "assessed", "assessed"),
    (W, "detail_assess", DETAIL, "assessed", "assessed"),
    (W, "submit_plan", PLAN, "assessed", "assessed"),
    (CHAIR, "return_plan", {"reason": "Thiếu biện pháp"}, "assessed", "assessed"),
    (W, "submit_plan", PLAN, "assessed", "assessed"),
    (CHAIR, "approve_plan", {"note": "Đồng ý"}, "assessed", "intervened"),
    (W, "review", {"findings": "Chưa ổn", "factors": FACTORS["medium"], "outcome": "continue"},
     "intervened", "intervened"),
    (HEAD, "record_consent", CONSENT, "intervened", "intervened"),
    (W, "start_service", SERVICE, "intervened", "supported"),
    (HEAD, "start_service", SERVICE | {"kind": "medical"}, "supported", "supported"),
    (W, "review", {"findings": "Xấu đi", "risk_level": "high", "factors": FACTORS["medium"], "outcome": "replan"},
     "supported", "supported"),
    (W, "replan", {"reason": "Nguy cơ tăng"}, "supported", "assessed"),
    (W, "submit_plan", PLAN, "assessed", "assessed"),
    (CHAIR, "approve_plan", {}, "assessed", "intervened"),
    (W, "review", {"findings": "Ổn định", "factors": FACTORS["low"], "outcome": "close"},
     "intervened", "intervened"),
    (CHAIR, "end_separation", {"outcome": "returned_to_family", "ended_at": T0.isoformat()},
     "intervened", "intervened"),
    (CHAIR, "close", {"reason": "no_longer_at_risk"}, "intervened", "closed"),
    (HEAD, "reopen", {"reason": "Báo cáo mới"}, "closed", "received"),
]


def test_every_trigger_bumps_the_version_by_one_and_writes_one_audit_event(flow: Flow) -> None:
    code = flow.open()
    assert {t for _, t, _, _, _ in LIFECYCLE} == set(INPUTS)
    for role, trigger, data, before_state, after_state in LIFECYCLE:
        before, n_events = flow.case(code), len(flow.events(code))
        assert before.state == before_state
        flow.clock.advance(timedelta(minutes=5))
        returned = flow.fire(role, code, trigger, data)
        after = flow.case(code)
        assert (returned.state, after.state) == (after_state, after_state), trigger
        assert after.version == before.version + 1, trigger
        assert after.updated_at == flow.clock.now()
        events = flow.events(code)
        assert len(events) == n_events + 1, trigger
        event = events[-1]
        assert event.action == f"case.{trigger}" and event.actor == flow.commune.actors[role].ref
        assert event.at == flow.clock.now()
        b, a = _json(event.before), _json(event.after)
        assert (b["state"], b["version"]) == (before_state, before.version), trigger
        assert (a["state"], a["version"]) == (after_state, after.version), trigger
    with flow.db.read() as s:
        assert audit.verify(s).ok


def test_assess_records_risk_emergency_and_case_type(flow: Flow) -> None:
    code = flow.open()
    flow.fire(W, code, "assess", {"factors": FACTORS["medium"], "emergency": False, "case_type": "at_risk"})
    case = flow.case(code)
    assert (case.risk_level, case.emergency, case.case_type) == ("medium", False, "at_risk")
    assert _json(flow.events(code)[-1].after)["risk_level"] == "medium"
    assert flow.rows(EmergencyAction, code) == []


def test_assess_with_an_emergency_action_records_the_action(flow: Flow) -> None:
    code = flow.open()
    flow.fire(W, code, "assess", {"factors": FACTORS["high"], "emergency": True, "emergency_action": EMERGENCY})
    [row] = flow.rows(EmergencyAction, code)
    assert row.action_taken == EMERGENCY["action_taken"] and row.who_was_called == "Công an xã"
    assert row.done_at == T0 - timedelta(minutes=30)
    assert row.recorded_by == flow.commune.actors[W].ref
    assert flow.case(code).emergency is True
    assert _json(flow.events(code)[-1].after)["emergency_action_id"] == row.id


def test_record_emergency_adds_an_action_and_marks_the_case_emergency(flow: Flow) -> None:
    code = flow.to("assessed")
    assert flow.case(code).emergency is False
    flow.fire(W, code, "record_emergency", EMERGENCY | {"separated_from_carer": True})
    [row] = flow.rows(EmergencyAction, code)
    assert row.separated_from_carer is True
    assert (flow.case(code).state, flow.case(code).emergency) == ("assessed", True)


BAD_TIMES = [("future", T0 + timedelta(minutes=1), "not_in_future"),
             ("before_receipt", RECEIVED_AT - timedelta(minutes=1), "not_before_receipt")]


@pytest.mark.parametrize(("when", "done_at", "rule"), BAD_TIMES, ids=[b[0] for b in BAD_TIMES])
def test_emergency_done_at_in_the_future_or_before_receipt_is_refused_and_writes_nothing(
        flow: Flow, when: str, done_at: Any, rule: str) -> None:
    code = flow.open()
    before = flow.world(code)
    action = EMERGENCY | {"done_at": done_at.isoformat()}
    with pytest.raises(InvalidInput) as err:
        flow.fire(W, code, "record_emergency", action)
    assert (err.value.field, err.value.rule) == ("done_at", rule)
    with pytest.raises(InvalidInput) as err:
        flow.fire(W, code, "assess", {"factors": FACTORS["high"], "emergency": True, "emergency_action": action})
    assert (err.value.field, err.value.rule) == ("emergency_action.done_at", rule)
    assert flow.world(code) == before


def test_submit_plan_creates_a_submitted_plan(flow: Flow) -> None:
    code = flow.to("assessed")
    flow.fire(W, code, "submit_plan", PLAN)
    [plan] = flow.rows(Plan, code)
    assert (plan.status, plan.goals, plan.measures) == ("submitted", PLAN["goals"], None)  # no free text now
    assert (plan.submitted_at, plan.submitted_by, plan.decided_at) == (T0, flow.commune.actors[W].ref, None)
    [measure] = flow.rows(PlanMeasure, code)
    assert (measure.plan_id, measure.number, measure.kind, measure.description, measure.responsible) == (
        plan.id, 1, MEASURES[0]["kind"], MEASURES[0]["description"], MEASURES[0]["responsible"])
    assert (measure.agency_id, measure.starts_on, measure.ends_on) == (None, date(2026, 1, 5), date(2026, 3, 31))


def test_return_plan_marks_it_returned_with_the_reason_and_allows_a_new_plan(flow: Flow) -> None:
    code = flow.to("assessed")
    flow.fire(W, code, "submit_plan", PLAN)
    flow.fire(CHAIR, code, "return_plan", {"reason": "Thiếu mục tiêu"})
    [plan] = flow.rows(Plan, code)
    assert (plan.status, plan.decision_note) == ("returned", "Thiếu mục tiêu")
    assert (plan.decided_by, plan.decided_at) == (flow.commune.actors[CHAIR].ref, T0)
    assert flow.case(code).state == "assessed"
    flow.fire(W, code, "submit_plan", PLAN)
    assert [p.status for p in flow.rows(Plan, code)] == ["returned", "submitted"]


def test_approve_plan_marks_it_approved_and_moves_to_intervened(flow: Flow) -> None:
    code = flow.to("assessed")
    flow.fire(W, code, "submit_plan", PLAN)
    flow.fire(CHAIR, code, "approve_plan", {"note": "Đồng ý"})
    [plan] = flow.rows(Plan, code)
    assert (plan.status, plan.decision_note) == ("approved", "Đồng ý")
    assert plan.decided_by == flow.commune.actors[CHAIR].ref
    assert flow.case(code).state == "intervened"


def test_approve_without_submitted_plan_is_refused_naming_plan(flow: Flow) -> None:
    code = flow.to("assessed")
    before = flow.world(code)
    with pytest.raises(GuardFailed) as err:
        flow.fire(CHAIR, code, "approve_plan")
    assert (err.value.field, err.value.rule) == ("plan", "submitted_plan_required")
    assert flow.world(code) == before


def test_second_plan_while_one_waits_is_refused_and_not_stored(flow: Flow) -> None:
    code = flow.to("assessed")
    flow.fire(W, code, "submit_plan", PLAN)
    before = flow.world(code)
    with pytest.raises(GuardFailed) as err:
        flow.fire(W, code, "submit_plan", PLAN)
    assert (err.value.field, err.value.rule) == ("plan", "already_submitted")
    assert flow.world(code) == before


def test_start_service_stores_the_service_with_its_agency_and_a_second_keeps_supported(flow: Flow) -> None:
    code = flow.to("intervened")
    flow.fire(W, code, "record_consent", CONSENT)  # a service refers the case to its agency
    flow.fire(W, code, "start_service", SERVICE | {"note": "Hai buổi mỗi tuần"})
    flow.fire(W, code, "start_service", {"kind": "legal_aid", "agency_code": "CA",
                                         "started_on": "2026-03-04", "measure_no": 1})
    first, second = flow.rows(Service, code)
    assert (first.kind, first.started_on, first.note, first.ended_on) == (
        "psychological", date(2026, 3, 3), "Hai buổi mỗi tuần", None)
    assert second.kind == "legal_aid" and second.agency_id != first.agency_id
    after = _json(flow.events(code)[-2].after)
    assert (after["agency"], after["service_id"]) == ("TYT", first.id)
    assert flow.case(code).state == "supported"


def test_start_service_with_unknown_agency_is_refused_naming_agency_code(flow: Flow) -> None:
    code = flow.to("intervened")
    before = flow.world(code)
    with pytest.raises(InvalidInput) as err:
        flow.fire(W, code, "start_service", SERVICE | {"agency_code": "KHONG-CO"})
    assert (err.value.field, err.value.rule) == ("agency_code", "known_agency")
    assert flow.world(code) == before


def test_review_stores_the_review_and_updates_the_case_risk_level(flow: Flow) -> None:
    code = flow.to("supported")
    assert flow.case(code).risk_level == "high"
    flow.fire(HEAD, code, "review", {"findings": "Trẻ ổn định", "risk_level": "low", "factors": FACTORS["low"],
                                     "outcome": "continue"})
    [review] = flow.rows(Review, code)
    assert (review.findings, review.risk_level, review.outcome) == ("Trẻ ổn định", "low", "continue")
    assert (review.reviewed_at, review.reviewed_by) == (T0, flow.commune.actors[HEAD].ref)
    assert (flow.case(code).risk_level, flow.case(code).state) == ("low", "supported")
    event = flow.events(code)[-1]
    assert (_json(event.before)["risk_level"], _json(event.after)["risk_level"]) == ("high", "low")


def test_early_close_as_transferred_records_reason_commune_and_time(flow: Flow) -> None:
    code = flow.to("assessed")
    flow.fire(CHAIR, code, "close", {"reason": "transferred", "transferred_to": "Xã Bên Cạnh"})
    case = flow.case(code)
    assert (case.state, case.closure_reason, case.transferred_to, case.closed_at) == (
        "closed", "transferred", "Xã Bên Cạnh", T0)


def test_reopen_clears_the_closure_fields(flow: Flow) -> None:
    code = flow.open()
    flow.fire(CHAIR, code, "close", {"reason": "transferred", "transferred_to": "Xã Bên Cạnh"})
    flow.clock.advance(timedelta(days=3))
    flow.fire(CHAIR, code, "reopen", {"reason": "Trẻ quay về xã"})
    case = flow.case(code)
    assert case.state == "received"
    assert (case.closure_reason, case.transferred_to, case.closed_at) == (None, None, None)


@pytest.mark.parametrize(("path", "role", "trigger", "data", "label"), [
    ("received", W, "assess", ASSESS | {"note": "Đã gặp trẻ tại trường"}, "Ghi chú đánh giá"),
    ("received", CHAIR, "close", {"reason": "duplicate", "note": "Trùng vụ NH-2026-000001"},
     "Ghi chú khi đóng vụ việc"),
    ("closed", CHAIR, "reopen", {"reason": "Trẻ quay về xã"}, "Lý do mở lại"),
])
def test_free_text_of_a_trigger_is_kept_as_a_note_and_not_in_the_audit_event(
        flow: Flow, path: str, role: Role, trigger: str, data: dict[str, Any], label: str) -> None:
    code = flow.to(path)
    flow.fire(role, code, trigger, data)
    text = data.get("note") or data["reason"]
    [note] = [n for n in flow.rows(Note, code) if n.text.startswith(label)]
    assert note.text == f"{label}: {text}" and note.author == flow.commune.actors[role].ref
    event = flow.events(code)[-1]
    assert _json(event.after)["note_id"] == note.id and text not in event.after


def test_the_transferred_to_commune_stays_out_of_the_audit_trail(flow: Flow) -> None:
    code = flow.open()
    flow.fire(CHAIR, code, "close", {"reason": "transferred", "transferred_to": "Xã Bên Cạnh"})
    event = flow.events(code)[-1]
    assert "Bên Cạnh" not in event.after and _json(event.after)["transferred_to_recorded"] is True


def test_closing_as_safe_without_a_closing_review_is_refused_and_leaves_the_case_open(flow: Flow) -> None:
    code = flow.to("supported")
    flow.fire(W, code, "review", {"findings": "Còn nguy cơ", "factors": FACTORS["medium"], "outcome": "continue"})
    before = flow.world(code)
    with pytest.raises(GuardFailed) as err:
        flow.fire(CHAIR, code, "close", {"reason": "no_longer_at_risk"})
    assert (err.value.field, err.value.rule) == ("review", "closing_review_required")
    assert flow.world(code) == before


def test_closing_as_safe_uses_the_latest_review_not_an_earlier_one(flow: Flow) -> None:
    code = flow.to("supported")
    flow.fire(W, code, "review", {"findings": "Ổn", "factors": FACTORS["low"], "outcome": "close"})
    flow.fire(W, code, "review", {"findings": "Có dấu hiệu mới", "factors": FACTORS["high"], "outcome": "continue"})
    with pytest.raises(GuardFailed):
        flow.fire(CHAIR, code, "close", {"reason": "no_longer_at_risk"})


def test_stale_version_is_refused_and_changes_nothing(flow: Flow) -> None:
    code = flow.open()
    before = flow.world(code)
    for expected_version in (0, 2, 99):
        with pytest.raises(StaleVersion) as err:
            flow.fire(W, code, "assess", ASSESS, version=expected_version)
        assert err.value.extra == {"expected_version": expected_version, "current_version": 1}
    assert flow.world(code) == before


GUARD_FAILURES = [
    ("received", W, "assess", {"risk_level": "low", "emergency": False}, "factors.severity"),
    ("received", W, "assess", {"factors": FACTORS["low"], "emergency": True,
                               "emergency_action": {"action_taken": "x", "done_at": EMERGENCY["done_at"]}},
     "emergency_action.who_was_called"),
    ("received", CHAIR, "close", {"reason": "no_longer_at_risk"}, "reason"),
    ("assessed", CHAIR, "close", {"reason": "transferred"}, "transferred_to"),
    ("intervened", W, "review", {"findings": "x", "risk_level": "low"}, "factors.severity"),
    ("intervened", W, "review", {"findings": "x", "factors": FACTORS["low"]}, "outcome"),
    ("supported", W, "replan", {}, "reason"),
    ("closed", HEAD, "reopen", {}, "reason"),
]


@pytest.mark.parametrize(("state", "role", "trigger", "data", "field"), GUARD_FAILURES,
                         ids=[f"{f[2]}-{f[4]}" for f in GUARD_FAILURES])
def test_failed_guard_names_the_field_and_writes_nothing(flow: Flow, state: str, role: Role, trigger: str,
                                                         data: dict[str, Any], field: str) -> None:
    code = flow.to(state)
    before = flow.world(code)
    with pytest.raises(GuardFailed) as err:
        flow.fire(role, code, trigger, data)
    assert err.value.field == field
    assert flow.world(code) == before


WRONG_ROLES: dict[str, list[tuple[str, Role]]] = {
    "received": [("assess", r) for r in (Role.INTAKE_OPERATOR, Role.AGENCY_OFFICIAL, Role.AUDITOR,
                                         Role.ADMIN, Role.HOTLINE)] + [("close", W), ("close", HEAD)],
    "assessed": [("return_plan", HEAD), ("submit_plan", Role.INTAKE_OPERATOR)],
    "supported": [("close", HEAD), ("replan", Role.AGENCY_OFFICIAL)],
    "closed": [("reopen", W)],
}


@pytest.mark.parametrize("state", list(WRONG_ROLES))
def test_wrong_role_is_forbidden_and_writes_nothing(flow: Flow, state: str) -> None:
    code = flow.to(state)
    before = flow.world(code)
    for trigger, role in WRONG_ROLES[state]:
        with pytest.raises(Forbidden):
            flow.fire(role, code, trigger, {"reason": "duplicate"} if trigger == "close" else {})
    assert flow.world(code) == before


def test_approving_a_plan_needs_the_chair_even_when_a_plan_waits(flow: Flow) -> None:
    code = flow.to("assessed")
    flow.fire(W, code, "submit_plan", PLAN)
    for role in (W, HEAD):
        with pytest.raises(Forbidden):
            flow.fire(role, code, "approve_plan")
    assert flow.rows(Plan, code)[0].status == "submitted"


def test_illegal_trigger_lists_the_allowed_ones_and_writes_nothing(flow: Flow) -> None:
    code = flow.open()
    before = flow.world(code)
    with pytest.raises(IllegalTrigger) as err:
        flow.fire(CHAIR, code, "approve_plan")
    assert sorted(err.value.extra["allowed_triggers"]) == [
        "assess", "close", "decide_emergency", "end_separation", "extend_separation", "propose_closure",
        "record_consent", "record_emergency"]
    assert flow.world(code) == before


def test_unknown_case_is_not_found(flow: Flow) -> None:
    with pytest.raises(NotFound):
        flow.fire(W, "NH-2026-999999", "assess", ASSESS, version=1)


def test_a_plan_pending_at_early_closure_does_not_block_a_new_plan_after_reopening(flow: Flow) -> None:
    code = flow.to("assessed")
    flow.fire(W, code, "submit_plan", PLAN)
    flow.fire(CHAIR, code, "close", {"reason": "not_substantiated"})
    flow.fire(HEAD, code, "reopen", {"reason": "Có báo cáo mới"})
    flow.fire(W, code, "assess", ASSESS)
    flow.fire(W, code, "detail_assess", DETAIL | {"meeting_at": T0.isoformat()})  # not before the reopening
    flow.fire(W, code, "submit_plan", {"goals": "Mục tiêu mới", "measures": measures("Biện pháp mới")})
    assert [p.status for p in flow.rows(Plan, code)][-1] == "submitted"


# --- early closure: proposed by a worker or the head, decided by the chair -----------------

def test_a_closure_proposal_is_audited_kept_as_notes_and_waits_on_the_chairs_desk(flow: Flow) -> None:
    code = flow.to("assessed")
    assert code not in _waiting(flow, CHAIR)  # no proposal yet
    flow.fire(W, code, "propose_closure", {"reason": "transferred", "transferred_to": "Xã Bên Cạnh",
                                           "note": "Gia đình đã chuyển đi"})
    case = flow.case(code)
    assert (case.state, case.closure_reason, case.transferred_to) == ("assessed", None, None)
    event = flow.events(code)[-1]
    after = _json(event.after)
    assert event.action == "case.propose_closure" and after["proposed_closure_reason"] == "transferred"
    assert "Bên Cạnh" not in event.after and "chuyển đi" not in event.after
    notes = sorted(n.text for n in flow.rows(Note, code))
    assert notes == ["Ghi chú đề xuất đóng vụ việc: Gia đình đã chuyển đi",
                     "Đề xuất chuyển vụ việc đến: Xã Bên Cạnh"]
    for role in (CHAIR, HEAD):
        assert code in _waiting(flow, role), role
    flow.fire(CHAIR, code, "close", {"reason": "transferred", "transferred_to": "Xã Bên Cạnh"})
    assert code not in _waiting(flow, CHAIR)
    flow.fire(HEAD, code, "reopen", {"reason": "Trẻ quay về xã"})  # a proposal before reopening is spent
    assert code not in _waiting(flow, CHAIR)


def _waiting(flow: Flow, role: Role) -> list[str]:
    with flow.db.read() as s:
        found = desk(s, flow.commune.actors[role], flow.policy.deadlines, flow.clock.now())
    return [c.code for c in found.closures_waiting]


@pytest.mark.parametrize("role", [HEAD, W])
def test_by_default_a_head_or_worker_may_propose_an_early_closure_but_not_decide_it(flow: Flow, role: Role) -> None:
    code = flow.to("received")
    before = flow.world(code)
    with pytest.raises(Forbidden):
        flow.fire(role, code, "close", {"reason": "duplicate"})
    assert flow.world(code) == before
    flow.fire(role, code, "propose_closure", {"reason": "duplicate"})
    with pytest.raises(Forbidden):
        flow.fire(CHAIR, code, "propose_closure", {"reason": "duplicate"})  # the chair decides instead
    flow.fire(CHAIR, code, "close", {"reason": "duplicate"})
    assert flow.case(code).state == "closed"


def test_a_commune_may_let_the_head_decide_an_early_closure(flow: Flow) -> None:
    flow.policy = replace(flow.policy, early_closure_by="head")
    code = flow.to("assessed")
    with pytest.raises(Forbidden):
        flow.fire(W, code, "close", {"reason": "duplicate"})
    flow.fire(HEAD, code, "close", {"reason": "duplicate"})
    assert flow.case(code).state == "closed"
    # the closure after intervention stays the chair's
    code = flow.to("supported")
    with pytest.raises(Forbidden):
        flow.fire(HEAD, code, "close", {"reason": "child_turned_16"})


def test_the_early_closure_setting_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KIPTHOI_SECURITY__SECRET", "s" * 40)
    assert Settings().commune_policy().early_closure_by == "chair"  # the law's default
    monkeypatch.setenv("KIPTHOI_COMMUNE__EARLY_CLOSURE_BY", "head")
    assert Settings().commune_policy().early_closure_by == "head"
    monkeypatch.setenv("KIPTHOI_COMMUNE__EARLY_CLOSURE_BY", "worker")
    with pytest.raises(ValueError):
        Settings()

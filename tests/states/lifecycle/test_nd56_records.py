"""The Nghị định 56/2017 records, each through `advance` against a real database: the rated
risk factors (Mẫu 02, 03, 06), the detailed assessment and its meeting (Mẫu 03), the plan's
measures (Mẫu 04), the numbered decision (Mẫu 05), services that follow measures, the chair's
emergency decision and its 12-hour limit counted to when it was decided, consent before a
referral, and the special-circumstance groups — with what each refuses and what a refusal
leaves behind (nothing)."""

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text

from models import (
    Consent,
    Database,
    Deadline,
    DetailedAssessment,
    EmergencyDecision,
    Plan,
    PlanMeasure,
    Referral,
    RiskRating,
    Service,
)
from models.enums import Role
from states.cases import referrals
from states.cases.queries import get_case
from states.intake.opening import submit_report
from states.intake.report_data import StaffReport
from states.kernel.clock import FrozenClock
from states.kernel.commune import CommunePolicy
from states.kernel.errors import Forbidden, GuardFailed, InvalidInput
from tests.conftest import T0, Commune, staff_report
from tests.payloads import CONSENT, DETAIL, FACTORS, measures
from tests.states.lifecycle.test_workflow import Flow

W, HEAD, CHAIR = Role.CASE_WORKER, Role.HEAD, Role.CHAIR
RECEIVED_AT = T0 - timedelta(hours=1)
ASSESS = {"factors": FACTORS["medium"], "emergency": False}
PLAN = {"goals": "Trẻ được an toàn", "measures": measures("Thăm gia đình hằng tuần")}
TO_PLAN = [(W, "assess", ASSESS), (W, "detail_assess", DETAIL)]
TO_INTERVENED = [*TO_PLAN, (W, "submit_plan", PLAN), (CHAIR, "approve_plan", {})]


@pytest.fixture
def flow(db: Database, clock: FrozenClock, commune: Commune, policy: CommunePolicy) -> Flow:
    return Flow(db, clock, commune, policy)


def another(flow: Flow, name: str, path: list[tuple[Role, str, dict[str, Any]]] | None = None,
            **child: Any) -> str:
    """A case about another child (a second report about the same child would join the first)."""
    with flow.db.write() as s:
        result = submit_report(s, flow.clock, flow.commune.actors[Role.INTAKE_OPERATOR], flow.policy,
                               StaffReport.model_validate(staff_report(child={
                                   "full_name": name, "sex": "female"} | (child or {"birth_date": "2015-01-01"}))))
    code = str(result.response["case_code"])
    for role, trigger, data in path or []:
        flow.fire(role, code, trigger, data)
    return code


def refused(exc: pytest.ExceptionInfo[Any], field: str, rule: str | None = None) -> None:
    assert exc.value.field == field, exc.value.field
    if rule is not None:
        assert exc.value.rule == rule, exc.value.rule


def counts(flow: Flow, code: str) -> dict[str, int]:
    return {m.__name__: len(flow.rows(m, code)) for m in (RiskRating, DetailedAssessment, Plan, PlanMeasure,
                                                           EmergencyDecision, Consent, Service, Referral)}


# --- Mẫu 02: the four factors, the level derived or stated --------------------------------------

@pytest.mark.parametrize("missing", ["severity", "abuser_access", "safety_obstacles", "self_protection"])
def test_an_assessment_needs_all_four_factors_and_names_the_missing_one(flow: Flow, missing: str) -> None:
    code = flow.open()
    factors = {k: v for k, v in FACTORS["low"].items() if k != missing}
    before = flow.world(code)
    with pytest.raises(GuardFailed) as exc:
        flow.fire(W, code, "assess", {"factors": factors, "emergency": False, "risk_level": "low"})
    refused(exc, f"factors.{missing}", "required")
    assert flow.world(code) == before and flow.rows(RiskRating, code) == []


def test_the_level_is_the_highest_factor_unless_stated(flow: Flow) -> None:
    derived = flow.open()
    flow.fire(W, derived, "assess", {"factors": FACTORS["low"] | {"abuser_access": "high"}, "emergency": False})
    assert flow.case(derived).risk_level == "high"
    [rating] = flow.rows(RiskRating, derived)
    assert (rating.source, rating.abuser_access, rating.severity, rating.derived_level, rating.stated_level) == \
        ("initial", "high", "low", "high", None)

    stated = another(flow, "Lê Thị Thử")
    flow.fire(W, stated, "assess", {"factors": FACTORS["low"] | {"severity": "medium"}, "risk_level": "high",
                                    "emergency": False})
    [rating] = flow.rows(RiskRating, stated)
    assert flow.case(stated).risk_level == "high" and (rating.derived_level, rating.stated_level) == ("medium", "high")


def test_special_groups_are_required_for_a_child_in_special_circumstances_and_kept_encrypted(flow: Flow) -> None:
    code = flow.open()
    with pytest.raises(GuardFailed) as exc:
        flow.fire(W, code, "assess", ASSESS | {"case_type": "special_circumstances"})
    refused(exc, "special_groups", "required_for_special_circumstances")
    flow.fire(W, code, "assess", ASSESS | {"case_type": "special_circumstances",
                                           "special_groups": ["disabled", "hiv", "disabled"]})
    assert flow.case(code).special_groups == ["disabled", "hiv"]
    with flow.db.read() as s:
        raw = s.execute(text("SELECT special_groups FROM case_file WHERE code = :c"), {"c": code}).scalar_one()
        view = get_case(s, flow.clock, flow.commune.actors[HEAD], code)
    assert "hiv" not in raw and raw.startswith("v1.")
    assert view.special_groups == ["disabled", "hiv"]


def test_an_unknown_special_group_is_refused_by_the_model(flow: Flow) -> None:
    from pydantic import ValidationError

    from states.lifecycle.triggers import INPUTS

    with pytest.raises(ValidationError) as exc:
        INPUTS["assess"].model_validate(ASSESS | {"special_groups": ["astronaut"]})
    assert exc.value.errors()[0]["loc"] == ("special_groups", 0)


# --- Mẫu 03: the detailed assessment and its meeting, before the plan --------------------------

@pytest.mark.parametrize("missing", ["information", "needs", "meeting_at", "attendees", "agreed"])
def test_the_detailed_assessment_names_what_is_missing(flow: Flow, missing: str) -> None:
    code = flow.open([(W, "assess", ASSESS)])
    before = flow.world(code)
    with pytest.raises(GuardFailed) as exc:
        flow.fire(W, code, "detail_assess", {k: v for k, v in DETAIL.items() if k != missing})
    refused(exc, missing, "required")
    assert flow.world(code) == before and flow.rows(DetailedAssessment, code) == []


def test_a_plan_needs_the_detailed_assessment_first(flow: Flow) -> None:
    code = flow.open([(W, "assess", ASSESS)])
    with pytest.raises(GuardFailed) as exc:
        flow.fire(W, code, "submit_plan", PLAN)
    refused(exc, "detailed_assessment", "detailed_assessment_required")
    flow.fire(W, code, "detail_assess", DETAIL)
    flow.fire(W, code, "submit_plan", PLAN)
    assert [p.status for p in flow.rows(Plan, code)] == ["submitted"]


def test_the_detailed_assessment_keeps_its_minutes_encrypted_and_may_re_rate(flow: Flow) -> None:
    code = flow.open([(W, "assess", ASSESS)])
    with pytest.raises(GuardFailed) as exc:  # a re-rating is all four factors or none
        flow.fire(W, code, "detail_assess", DETAIL | {"factors": {"severity": "high"}})
    refused(exc, "factors.abuser_access")
    flow.fire(W, code, "detail_assess", DETAIL | {"factors": FACTORS["high"]})
    [row] = flow.rows(DetailedAssessment, code)
    assert (row.attendees, row.agreed) == (DETAIL["attendees"], DETAIL["agreed"])
    ratings = flow.rows(RiskRating, code)
    assert [(r.source, r.source_id) for r in ratings] == [("initial", None), ("detailed", row.id)]
    assert flow.case(code).risk_level == "high"
    with flow.db.read() as s:
        raw = s.execute(text("SELECT attendees FROM detailed_assessment WHERE id = :i"), {"i": row.id}).scalar_one()
    assert "Trạm Y tế" not in raw


def test_a_meeting_in_the_future_is_refused(flow: Flow) -> None:
    code = flow.open([(W, "assess", ASSESS)])
    with pytest.raises(InvalidInput) as exc:
        flow.fire(W, code, "detail_assess", DETAIL | {"meeting_at": (T0 + timedelta(hours=1)).isoformat()})
    refused(exc, "meeting_at", "not_in_future")
    assert flow.rows(DetailedAssessment, code) == []


def test_after_a_reopening_a_new_detailed_assessment_is_needed(flow: Flow) -> None:
    code = flow.open([*TO_PLAN, (CHAIR, "close", {"reason": "duplicate"})])
    flow.clock.advance(timedelta(days=2))
    flow.fire(HEAD, code, "reopen", {"reason": "Thông tin mới"})
    flow.fire(W, code, "assess", ASSESS)
    with pytest.raises(GuardFailed) as exc:
        flow.fire(W, code, "submit_plan", PLAN)
    refused(exc, "detailed_assessment")
    with pytest.raises(InvalidInput) as meeting:  # the old meeting's time: before the reopening
        flow.fire(W, code, "detail_assess", DETAIL)
    refused(meeting, "meeting_at", "not_before_receipt")
    flow.fire(W, code, "detail_assess", DETAIL | {"meeting_at": flow.clock.now().isoformat()})
    flow.fire(W, code, "submit_plan", PLAN)


# --- Mẫu 04: measures --------------------------------------------------------------------------

@pytest.mark.parametrize(("change", "field", "rule"), [
    ({"measures": []}, "measures", "required"),
    ({"measures": [measures()[0] | {"kind": None}]}, "measures.0.kind", "required"),
    ({"measures": [*measures(), measures()[0] | {"ends_on": None}]}, "measures.1.ends_on", "required"),
    ({"measures": [measures()[0] | {"responsible": None, "agency_code": None}]}, "measures.0.responsible",
     "agency_or_person_required"),
    ({"measures": [measures()[0] | {"starts_on": "2026-04-01", "ends_on": "2026-03-31"}]}, "measures.0.ends_on",
     "not_before_start"),
])
def test_each_measure_says_what_who_and_when(flow: Flow, change: dict[str, Any], field: str, rule: str) -> None:
    code = flow.open(TO_PLAN)
    before = flow.world(code)
    with pytest.raises(GuardFailed) as exc:
        flow.fire(W, code, "submit_plan", PLAN | change)
    refused(exc, field, rule)
    assert flow.world(code) == before and flow.rows(PlanMeasure, code) == []


def test_a_measure_with_an_unknown_agency_is_refused_and_nothing_is_written(flow: Flow) -> None:
    code = flow.open(TO_PLAN)
    before = counts(flow, code)
    with pytest.raises(InvalidInput) as exc:
        flow.fire(W, code, "submit_plan", PLAN | {"measures": [*measures(), *measures(agency_code="NOPE")]})
    refused(exc, "measures.1.agency_code", "known_agency")
    assert counts(flow, code) == before


def test_measures_are_numbered_rows_of_the_plan(flow: Flow) -> None:
    code = flow.open(TO_PLAN)
    flow.fire(W, code, "submit_plan", PLAN | {"measures": [*measures("Khám sức khoẻ", agency_code="TYT"),
                                                           *measures("Tư vấn gia đình")]})
    rows = flow.rows(PlanMeasure, code)
    assert [(m.number, m.description, m.kind) for m in rows] == [
        (1, "Khám sức khoẻ", "medical_psychological"), (2, "Tư vấn gia đình", "medical_psychological")]
    [plan] = flow.rows(Plan, code)
    assert plan.measures is None and {m.plan_id for m in rows} == {plan.id}


# --- Mẫu 05: the numbered decision; returned plans keep their history -------------------------

def test_approvals_are_numbered_per_year_and_a_return_takes_no_number(flow: Flow) -> None:
    first = flow.open([*TO_PLAN, (W, "submit_plan", PLAN)])
    flow.fire(CHAIR, first, "return_plan", {"reason": "Thiếu thời gian thực hiện"})
    flow.fire(W, first, "submit_plan", PLAN)
    flow.fire(CHAIR, first, "approve_plan", {"note": "Đồng ý"})
    second = another(flow, "Phạm Thị Thử", TO_INTERVENED)
    returned, approved = flow.rows(Plan, first)
    assert (returned.status, returned.decision_note, returned.decision_no) == ("returned", "Thiếu thời gian thực hiện",
                                                                               None)
    assert (approved.status, approved.decision_no, approved.decision_year) == ("approved", 1, 2026)
    assert flow.rows(Plan, second)[0].decision_no == 2
    with flow.db.read() as s:
        view = get_case(s, flow.clock, flow.commune.actors[HEAD], first)
    assert [(p.status, p.decision_no) for p in view.plans] == [("returned", None), ("approved", "1/QĐ-UBND")]
    assert view.plans[1].decided_by == flow.commune.actors[CHAIR].ref


# --- services follow measures -----------------------------------------------------------------

def test_a_service_names_the_measure_it_carries_out(flow: Flow) -> None:
    code = flow.open([*TO_INTERVENED, (W, "record_consent", CONSENT)])
    service = {"kind": "psychological", "agency_code": "TYT", "started_on": "2026-03-03"}
    with pytest.raises(GuardFailed) as exc:
        flow.fire(W, code, "start_service", service)
    refused(exc, "measure_no", "required")
    with pytest.raises(GuardFailed) as exc:
        flow.fire(W, code, "start_service", service | {"measure_no": 2})
    refused(exc, "measure_no", "known_measure")
    flow.fire(W, code, "start_service", service | {"measure_no": 1})
    [row] = flow.rows(Service, code)
    [measure] = flow.rows(PlanMeasure, code)
    assert row.measure_id == measure.id
    with flow.db.read() as s:
        assert get_case(s, flow.clock, flow.commune.actors[HEAD], code).services[0].measure_no == 1


# --- Mẫu 06: the review re-rates the four factors ---------------------------------------------

def test_a_review_re_rates_the_factors_and_derives_its_level(flow: Flow) -> None:
    code = flow.open(TO_INTERVENED)
    with pytest.raises(GuardFailed) as exc:
        flow.fire(W, code, "review", {"findings": "Ổn định", "risk_level": "low", "outcome": "continue"})
    refused(exc, "factors.severity", "required")
    flow.fire(W, code, "review", {"findings": "Ổn định", "factors": FACTORS["low"] | {"safety_obstacles": "medium"},
                                  "outcome": "close"})
    review_rating = flow.rows(RiskRating, code)[-1]
    assert (review_rating.source, review_rating.derived_level) == ("review", "medium")
    assert flow.case(code).risk_level == "medium"
    flow.fire(CHAIR, code, "close", {"reason": "no_longer_at_risk"})
    assert flow.case(code).state == "closed"


# --- the chair's emergency decision and its limit ----------------------------------------------

def _deadline(flow: Flow, code: str, kind: str) -> Deadline:
    [row] = [d for d in flow.rows(Deadline, code) if d.kind == kind]
    return row


def test_an_emergency_assessment_opens_the_chairs_decision_limit_12_hours_from_receipt(flow: Flow) -> None:
    """Worked example: received 08:00; the chair decided at 19:30 and it was typed in at 21:00
    the same day — the 12-hour limit (due 20:00) was met, at 19:30."""
    code = flow.open()
    flow.fire(W, code, "assess", ASSESS | {"emergency": True})
    limit = _deadline(flow, code, "emergency_decision")
    assert (limit.status, limit.due_at) == ("open", RECEIVED_AT + timedelta(hours=12))
    with pytest.raises(Forbidden):
        flow.fire(W, code, "decide_emergency", {"measures": "Cách ly trẻ", "decided_at": T0.isoformat()})
    decided = RECEIVED_AT + timedelta(hours=11, minutes=30)
    flow.clock.advance(timedelta(hours=13))
    flow.fire(CHAIR, code, "decide_emergency", {"measures": "Đưa trẻ đến nhà bà ngoại (giả lập)",
                                                "decided_at": decided.isoformat(), "separation": True,
                                                "alternative_care": "Nhà bà ngoại"})
    limit = _deadline(flow, code, "emergency_decision")
    assert (limit.status, limit.closed_at) == ("met", decided)
    [row] = flow.rows(EmergencyDecision, code)
    assert row.separation and row.decided_by == flow.commune.actors[CHAIR].ref and row.recorded_at == flow.clock.now()


def test_a_chairs_decision_already_recorded_opens_no_limit(flow: Flow) -> None:
    code = flow.open()
    flow.fire(CHAIR, code, "decide_emergency", {"measures": "Gọi Công an xã", "decided_at": T0.isoformat()})
    flow.fire(W, code, "assess", ASSESS | {"emergency": True})
    assert [d for d in flow.rows(Deadline, code) if d.kind == "emergency_decision"] == []


@pytest.mark.parametrize(("at", "rule"), [(RECEIVED_AT - timedelta(minutes=1), "not_before_receipt"),
                                          (T0 + timedelta(minutes=1), "not_in_future")])
def test_a_decision_time_before_receipt_or_in_the_future_is_refused(flow: Flow, at: Any, rule: str) -> None:
    code = flow.open()
    with pytest.raises(InvalidInput) as exc:
        flow.fire(CHAIR, code, "decide_emergency", {"measures": "Gọi Công an xã", "decided_at": at.isoformat()})
    refused(exc, "decided_at", rule)
    assert flow.rows(EmergencyDecision, code) == []


# --- consent before a referral -----------------------------------------------------------------

def _refer(flow: Flow, code: str, agency: str = "CA") -> Any:
    with flow.db.write() as s:
        return referrals.refer(s, flow.clock, flow.commune.actors[W], code, agency, flow.policy)


def test_a_referral_without_consent_or_a_legal_ground_is_refused(flow: Flow) -> None:
    code = flow.open([(W, "assess", ASSESS)])
    with pytest.raises(InvalidInput) as exc:
        _refer(flow, code)
    refused(exc, "consent", "consent_or_legal_ground_required")
    assert flow.rows(Referral, code) == []


def test_a_child_of_7_or_more_is_asked_too(flow: Flow) -> None:
    code = flow.open([(W, "assess", ASSESS)])  # born 2016-05-01: nine at T0
    with pytest.raises(GuardFailed) as exc:
        flow.fire(W, code, "record_consent", {"carer_answer": "given"})
    refused(exc, "child_answer", "required_from_age_7")
    with pytest.raises(GuardFailed) as exc:
        flow.fire(W, code, "record_consent", {"child_answer": "given"})
    refused(exc, "carer_answer", "consent_or_legal_ground")
    assert flow.rows(Consent, code) == []


def test_a_refusal_blocks_the_referral_until_a_legal_ground_is_recorded(flow: Flow) -> None:
    code = flow.open([(W, "assess", ASSESS)])
    flow.fire(W, code, "record_consent", {"child_answer": "refused", "carer_answer": "given"})
    with pytest.raises(InvalidInput) as exc:
        _refer(flow, code)
    refused(exc, "consent", "consent_refused")
    flow.fire(W, code, "record_consent", {"legal_ground": "criminal_procedure", "note": "Vụ việc có dấu hiệu tội phạm"})
    _refer(flow, code)
    assert len(flow.rows(Referral, code)) == 1


def test_consent_of_both_lets_the_referral_through(flow: Flow) -> None:
    code = flow.open([(W, "assess", ASSESS)])
    flow.fire(W, code, "record_consent", CONSENT)
    _refer(flow, code)
    assert len(flow.rows(Referral, code)) == 1


def test_a_child_under_7_is_not_asked(flow: Flow) -> None:
    code = another(flow, "Trần Thị Bé", estimated_age=5)
    flow.fire(W, code, "record_consent", {"carer_answer": "given"})
    _refer(flow, code)
    assert len(flow.rows(Referral, code)) == 1


def test_a_service_with_a_new_agency_needs_consent_and_writes_nothing_without_it(flow: Flow) -> None:
    code = flow.open(TO_INTERVENED)
    before = flow.world(code)
    with pytest.raises(InvalidInput) as exc:
        flow.fire(W, code, "start_service", {"kind": "medical", "agency_code": "TYT", "started_on": "2026-03-03",
                                             "measure_no": 1})
    refused(exc, "consent", "consent_or_legal_ground_required")
    assert flow.world(code) == before and flow.rows(Referral, code) == []


def test_consent_from_before_a_reopening_does_not_count(flow: Flow) -> None:
    code = flow.open([(W, "assess", ASSESS), (W, "record_consent", CONSENT),
                      (CHAIR, "close", {"reason": "duplicate"})])
    flow.clock.advance(timedelta(days=2))
    flow.fire(HEAD, code, "reopen", {"reason": "Thông tin mới"})
    with pytest.raises(InvalidInput) as exc:
        _refer(flow, code)
    refused(exc, "consent", "consent_or_legal_ground_required")


def test_the_records_are_in_the_staff_view_and_withheld_from_an_agency(flow: Flow) -> None:
    code = flow.open([*TO_INTERVENED, (W, "record_consent", CONSENT)])
    _refer(flow, code, "CA")
    with flow.db.read() as s:
        staff = get_case(s, flow.clock, flow.commune.actors[HEAD], code)
    assert [r.source for r in staff.risk_ratings] == ["initial"]
    assert staff.detailed_assessments[0].agreed == DETAIL["agreed"]
    assert staff.plans[0].measures[0].description == "Thăm gia đình hằng tuần"
    assert staff.consents[0].carer_answer == "given"
    police = flow.commune.actors[Role.AGENCY_OFFICIAL]
    with flow.db.read() as s:
        view = get_case(s, flow.clock, police, code)
    assert {"risk_ratings", "detailed_assessments", "plans", "consents", "special_groups",
            "emergency_decisions"} <= set(view.withheld)
    assert view.plans == [] and view.detailed_assessments == []


def test_retention_erases_the_new_records_private_text(flow: Flow) -> None:
    from states.records.retention import ERASED, anonymise_due

    code = flow.open([(W, "assess", ASSESS | {"case_type": "special_circumstances", "special_groups": ["hiv"]}),
                      (CHAIR, "decide_emergency", {"measures": "Cách ly trẻ (giả lập)", "decided_at": T0.isoformat(),
                                                   "alternative_care": "Nhà bà ngoại"}),
                      (W, "detail_assess", DETAIL), (W, "submit_plan", PLAN), (CHAIR, "approve_plan", {}),
                      (W, "record_consent", CONSENT | {"note": "Mẹ đồng ý (giả lập)"}),
                      (W, "review", {"findings": "Ổn định", "factors": FACTORS["low"], "outcome": "close"}),
                      (CHAIR, "close", {"reason": "no_longer_at_risk"})])
    flow.clock.advance(timedelta(days=366 * 5 + 2))
    with flow.db.write() as s:
        result = anonymise_due(s, flow.clock, flow.commune.actors[Role.ADMIN], 5)
    assert result.cases == [code]
    assert flow.case(code).special_groups is None
    [detail] = flow.rows(DetailedAssessment, code)
    assert (detail.information, detail.attendees, detail.agreed) == (ERASED, ERASED, ERASED)
    [measure] = flow.rows(PlanMeasure, code)
    assert (measure.description, measure.responsible) == (ERASED, None)
    [decision] = flow.rows(EmergencyDecision, code)
    assert (decision.measures, decision.alternative_care) == (ERASED, None)
    [consent] = flow.rows(Consent, code)
    assert (consent.carer_name, consent.note, consent.carer_answer) == (None, None, "given")
    assert [r.derived_level for r in flow.rows(RiskRating, code)] == ["medium", "low"]  # kept for statistics


def test_the_chairs_decision_to_separate_starts_the_15_days_from_its_decided_at(flow: Flow) -> None:
    """Worked example: decided 08:30 on 2/3; the child's separation may last until 08:30 on 17/3.
    An action recorded later that separates the child does not start a second limit."""
    code = flow.open()
    decided = RECEIVED_AT + timedelta(minutes=30)
    flow.fire(CHAIR, code, "decide_emergency", {"measures": "Tạm thời cách ly trẻ", "separation": True,
                                                "decided_at": decided.isoformat()})
    separation = _deadline(flow, code, "temporary_separation")
    assert (separation.starts_at, separation.due_at) == (decided, decided + timedelta(days=15))
    flow.fire(W, code, "record_emergency", {"action_taken": "Đưa trẻ đến nhà bà ngoại", "who_was_called": "Công an xã",
                                            "done_at": T0.isoformat(), "separated_from_carer": True})
    assert _deadline(flow, code, "temporary_separation").due_at == decided + timedelta(days=15)


def test_a_meeting_before_the_case_was_received_is_refused(flow: Flow) -> None:
    code = flow.open([(W, "assess", ASSESS)])
    with pytest.raises(InvalidInput) as exc:
        flow.fire(W, code, "detail_assess", DETAIL | {"meeting_at": (RECEIVED_AT - timedelta(minutes=1)).isoformat()})
    refused(exc, "meeting_at", "not_before_receipt")
    assert flow.rows(DetailedAssessment, code) == []

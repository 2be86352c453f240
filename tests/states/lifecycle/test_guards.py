"""Every guard of the lifecycle, bare: no database, no machine, just (facts, data) -> Violation."""

from datetime import datetime
from typing import Any

import pytest

from models.enums import CaseState, ClosureReason, ReviewOutcome
from states.lifecycle import guards as g
from states.lifecycle.machine import STEPS
from tests.payloads import CONSENT, DETAIL, FACTORS, LEGAL_GROUND, MEASURES, measures

FACTS = g.CaseFacts(state=CaseState.ASSESSED.value)
DONE_AT = datetime.fromisoformat("2026-03-02T08:30:00+07:00")
ACTION = {"action_taken": "Đưa trẻ đến nhà bà ngoại (giả lập)", "who_was_called": "Công an xã",
          "done_at": DONE_AT}

# (guard, the field it requires, a good value for that field)
REQUIRED: list[tuple[g.Guard, str, Any]] = [
    *[(guard, f"factors.{name}", "high") for guard, name in zip(g.factors_rated, g.FACTOR_NAMES, strict=True)],
    (g.emergency_decided, "emergency", True),
    (g.plan_goals_given, "goals", "Trẻ được an toàn"),
    (g.measures_given, "measures", MEASURES),
    (g.service_kind_given, "kind", "psychological"),
    (g.service_agency_given, "agency_code", "TYT"),
    (g.service_start_given, "started_on", "2026-03-03"),
    (g.review_findings_given, "findings", "Ổn định"),
    (g.review_outcome_given, "outcome", "continue"),
    (g.reason_given, "reason", "Có thông tin mới"),
    (g.action_taken_given, "action_taken", "Tách trẻ khỏi người gây hại"),
    (g.who_was_called_given, "who_was_called", "Trạm y tế"),
    (g.done_at_given, "done_at", DONE_AT),
    (g.detail_information_given, "information", DETAIL["information"]),
    (g.detail_needs_given, "needs", DETAIL["needs"]),
    (g.meeting_at_given, "meeting_at", DONE_AT),
    (g.attendees_given, "attendees", DETAIL["attendees"]),
    (g.agreed_given, "agreed", DETAIL["agreed"]),
    (g.decision_measures_given, "measures", "Đưa trẻ tới nhà người thân (giả lập)"),
    (g.decided_at_given, "decided_at", DONE_AT),
    (g.extension_end_given, "ends_at", DONE_AT),
    (g.separation_outcome_given, "outcome", "returned_to_family"),
    (g.separation_end_given, "ended_at", DONE_AT),
]
REQUIRED_IDS = [field + ":" + guard.__name__ for guard, field, _ in REQUIRED]

OTHER_GUARDS_TESTED_BELOW = {
    g.emergency_action_complete_if_given, g.no_plan_pending, g.plan_submitted,
    g.early_closure_reason, g.final_closure_reason, g.closing_review_if_safe,
    g.child_separated, g.extension_ends_later, g.factors_complete_if_given, g.special_groups_if_special,
    g.detailed_assessment_done, g.measures_complete, g.measure_named_if_planned, g.consent_or_ground,
}


def _given(field: str, value: Any) -> dict[str, Any]:
    """`{field: value}`, nested for a dotted field (factors.severity -> {"factors": {"severity": ...}})."""
    head, _, rest = field.partition(".")
    return {head: _given(rest, value) if rest else value}


def test_every_guard_the_lifecycle_uses_is_tested_here() -> None:
    used = {guard for step in STEPS for guard in step.guards}
    tested = {guard for guard, _, _ in REQUIRED} | OTHER_GUARDS_TESTED_BELOW
    assert used - tested == set(), "a guard was added to STEPS without a test in this file"


@pytest.mark.parametrize(("guard", "field", "value"), REQUIRED, ids=REQUIRED_IDS)
def test_required_field_guard_passes_when_the_field_is_given(guard: g.Guard, field: str, value: Any) -> None:
    assert guard(FACTS, _given(field, value)) is None


@pytest.mark.parametrize(("guard", "field", "value"), REQUIRED, ids=REQUIRED_IDS)
@pytest.mark.parametrize("data_kind", ["missing", "none", "only_other_fields"])
def test_required_field_guard_names_the_missing_field_with_rule_required(
        guard: g.Guard, field: str, value: Any, data_kind: str) -> None:
    data = {"missing": {}, "none": _given(field, None), "only_other_fields": {"note": "x", "zz": value}}[data_kind]
    violation = guard(FACTS, data)
    assert violation is not None
    assert (violation.field, violation.rule) == (field, "required")
    assert field in violation.message_en and violation.message_vi


@pytest.mark.parametrize("falsy", [False, 0])
def test_emergency_decided_accepts_false_as_a_decision(falsy: Any) -> None:
    # "No emergency needed" is a decision; only an absent answer is missing.
    assert g.emergency_decided(FACTS, {"emergency": falsy}) is None


# --- emergency action given at assessment --------------------------------------------------

def test_assessment_without_emergency_action_passes() -> None:
    assert g.emergency_action_complete_if_given(FACTS, {"emergency": False}) is None
    assert g.emergency_action_complete_if_given(FACTS, {"emergency": True, "emergency_action": None}) is None


def test_assessment_with_complete_emergency_action_and_emergency_true_passes() -> None:
    data = {"emergency": True, "emergency_action": ACTION}
    assert g.emergency_action_complete_if_given(FACTS, data) is None


@pytest.mark.parametrize("missing", ["action_taken", "who_was_called", "done_at"])
def test_incomplete_emergency_action_names_the_nested_field(missing: str) -> None:
    action = {k: v for k, v in ACTION.items() if k != missing}
    for given in (action, action | {missing: None}):
        data = {"emergency": True, "emergency_action": given}
        violation = g.emergency_action_complete_if_given(FACTS, data)
        assert violation is not None
        assert (violation.field, violation.rule) == (f"emergency_action.{missing}", "required")


def test_empty_emergency_action_names_its_first_field() -> None:
    violation = g.emergency_action_complete_if_given(FACTS, {"emergency": True, "emergency_action": {}})
    assert violation is not None and violation.field == "emergency_action.action_taken"


def test_emergency_action_with_emergency_false_is_refused_naming_emergency() -> None:
    violation = g.emergency_action_complete_if_given(FACTS, {"emergency": False, "emergency_action": ACTION})
    assert violation is not None
    assert (violation.field, violation.rule) == ("emergency", "must_be_true_with_emergency_action")


# --- plans ---------------------------------------------------------------------------------

def test_no_plan_pending_passes_without_a_submitted_plan() -> None:
    assert g.no_plan_pending(g.CaseFacts("assessed", has_submitted_plan=False), {}) is None


def test_submitting_while_a_plan_waits_is_refused_naming_plan() -> None:
    violation = g.no_plan_pending(g.CaseFacts("assessed", has_submitted_plan=True), {"goals": "x"})
    assert violation is not None
    assert (violation.field, violation.rule) == ("plan", "already_submitted")


def test_plan_submitted_passes_when_a_plan_waits() -> None:
    assert g.plan_submitted(g.CaseFacts("assessed", has_submitted_plan=True), {}) is None


def test_deciding_without_a_submitted_plan_is_refused_naming_plan() -> None:
    violation = g.plan_submitted(g.CaseFacts("assessed", has_submitted_plan=False), {"note": "ok"})
    assert violation is not None
    assert (violation.field, violation.rule) == ("plan", "submitted_plan_required")


# --- closure -------------------------------------------------------------------------------

EARLY_RULE = "one_of:duplicate, not_substantiated, transferred"
FINAL_RULE = "one_of:child_turned_16, no_longer_at_risk, transferred"


@pytest.mark.parametrize("reason", ["not_substantiated", "duplicate"])
def test_early_closure_accepts_its_reasons(reason: str) -> None:
    assert g.early_closure_reason(FACTS, {"reason": reason}) is None
    assert g.early_closure_reason(FACTS, {"reason": ClosureReason(reason)}) is None


@pytest.mark.parametrize("reason", ["no_longer_at_risk", "child_turned_16", "closed_because", ""])
def test_early_closure_refuses_other_reasons_listing_the_allowed_ones(reason: str) -> None:
    violation = g.early_closure_reason(FACTS, {"reason": reason})
    assert violation is not None
    assert (violation.field, violation.rule) == ("reason", EARLY_RULE)
    assert "not_substantiated" in violation.message_en and "duplicate" in violation.message_vi


@pytest.mark.parametrize("reason", ["no_longer_at_risk", "child_turned_16"])
def test_final_closure_accepts_its_reasons(reason: str) -> None:
    assert g.final_closure_reason(FACTS, {"reason": reason}) is None


@pytest.mark.parametrize("reason", ["not_substantiated", "duplicate", "closed_because"])
def test_final_closure_refuses_other_reasons_listing_the_allowed_ones(reason: str) -> None:
    violation = g.final_closure_reason(FACTS, {"reason": reason})
    assert violation is not None
    assert (violation.field, violation.rule) == ("reason", FINAL_RULE)


@pytest.mark.parametrize("guard", [g.early_closure_reason, g.final_closure_reason])
def test_closure_without_reason_is_refused_naming_reason(guard: g.Guard) -> None:
    for data in ({}, {"reason": None}, {"transferred_to": "Xã Bên Cạnh"}):
        violation = guard(FACTS, data)
        assert violation is not None
        assert (violation.field, violation.rule) == ("reason", "required")


@pytest.mark.parametrize("guard", [g.early_closure_reason, g.final_closure_reason])
def test_transfer_without_receiving_commune_is_refused_naming_transferred_to(guard: g.Guard) -> None:
    for data in ({"reason": "transferred"}, {"reason": "transferred", "transferred_to": None},
                 {"reason": "transferred", "transferred_to": ""}):
        violation = guard(FACTS, data)
        assert violation is not None
        assert (violation.field, violation.rule) == ("transferred_to", "required_when_transferred")


@pytest.mark.parametrize("guard", [g.early_closure_reason, g.final_closure_reason])
def test_transfer_with_receiving_commune_passes(guard: g.Guard) -> None:
    assert guard(FACTS, {"reason": "transferred", "transferred_to": "Xã Bên Cạnh"}) is None


def test_closing_as_safe_after_a_review_proposing_closure_passes() -> None:
    facts = g.CaseFacts("supported", last_review_outcome=ReviewOutcome.CLOSE.value)
    assert g.closing_review_if_safe(facts, {"reason": "no_longer_at_risk"}) is None


@pytest.mark.parametrize("last_outcome", [None, "continue", "replan"])
def test_closing_as_safe_without_a_closing_review_is_refused_naming_review(last_outcome: str | None) -> None:
    facts = g.CaseFacts("supported", last_review_outcome=last_outcome)
    violation = g.closing_review_if_safe(facts, {"reason": "no_longer_at_risk"})
    assert violation is not None
    assert (violation.field, violation.rule) == ("review", "closing_review_required")


@pytest.mark.parametrize("reason", ["child_turned_16", "transferred", None])
def test_closing_for_other_reasons_needs_no_closing_review(reason: str | None) -> None:
    facts = g.CaseFacts("supported", last_review_outcome=None)
    assert g.closing_review_if_safe(facts, {"reason": reason}) is None


SEPARATED = g.CaseFacts(state=CaseState.ASSESSED.value, separation_due_at=DONE_AT)


def test_extending_or_ending_a_separation_needs_one_going_on() -> None:
    violation = g.child_separated(FACTS, {})
    assert violation is not None and (violation.field, violation.rule) == ("separation", "separation_ongoing")
    assert g.child_separated(SEPARATED, {}) is None


@pytest.mark.parametrize(("minutes", "ok"), [(-1, False), (0, False), (1, True)])
def test_an_extension_must_end_after_the_current_limit(minutes: int, ok: bool) -> None:
    from datetime import timedelta

    violation = g.extension_ends_later(SEPARATED, {"ends_at": DONE_AT + timedelta(minutes=minutes)})
    assert (violation is None) is ok
    if violation is not None:
        assert (violation.field, violation.rule) == ("ends_at", "after_current_limit")
    assert g.extension_ends_later(SEPARATED, {}) is None  # a missing end is requires_ends_at's


# --- the risk factors (Mẫu 02, 03, 06) and special groups -------------------------------------

@pytest.mark.parametrize("name", list(g.FACTOR_NAMES))
def test_a_missing_factor_is_named_even_beside_the_others(name: str) -> None:
    data = {"factors": FACTORS["medium"] | {name: None}}
    violations = [v for guard in g.factors_rated if (v := guard(FACTS, data)) is not None]
    assert [(v.field, v.rule) for v in violations] == [(f"factors.{name}", "required")]


def test_a_re_rating_is_all_four_factors_or_none() -> None:
    assert g.factors_complete_if_given(FACTS, {}) is None
    assert g.factors_complete_if_given(FACTS, {"factors": None}) is None
    assert g.factors_complete_if_given(FACTS, {"factors": {name: None for name in g.FACTOR_NAMES}}) is None
    assert g.factors_complete_if_given(FACTS, {"factors": FACTORS["low"]}) is None
    violation = g.factors_complete_if_given(FACTS, {"factors": FACTORS["low"] | {"self_protection": None}})
    assert violation is not None
    assert (violation.field, violation.rule) == ("factors.self_protection", "required")


def test_a_child_in_special_circumstances_needs_a_group() -> None:
    for data in ({"case_type": "special_circumstances"}, {"case_type": "special_circumstances", "special_groups": []}):
        violation = g.special_groups_if_special(FACTS, data)
        assert violation is not None
        assert (violation.field, violation.rule) == ("special_groups", "required_for_special_circumstances")
    assert g.special_groups_if_special(FACTS, {"case_type": "special_circumstances",
                                               "special_groups": ["orphaned"]}) is None
    assert g.special_groups_if_special(FACTS, {"case_type": "abused"}) is None


# --- the detailed assessment (Mẫu 03) and the plan's measures (Mẫu 04) -------------------------

def test_the_plan_needs_a_detailed_assessment_first() -> None:
    violation = g.detailed_assessment_done(FACTS, {"goals": "x", "measures": MEASURES})
    assert violation is not None
    assert (violation.field, violation.rule) == ("detailed_assessment", "detailed_assessment_required")
    assert g.detailed_assessment_done(g.CaseFacts("assessed", has_detailed_assessment=True), {}) is None


def test_an_empty_list_of_measures_is_no_measure() -> None:
    violation = g.measures_given(FACTS, {"measures": []})
    assert violation is not None and (violation.field, violation.rule) == ("measures", "required")


def test_complete_measures_pass() -> None:
    assert g.measures_complete(FACTS, {"measures": MEASURES}) is None
    assert g.measures_complete(FACTS, {"measures": measures("x", agency_code="TYT") * 2}) is None
    assert g.measures_complete(FACTS, {"measures": [MEASURES[0] | {"responsible": None, "agency_code": "TYT"}]}) is None


@pytest.mark.parametrize("missing", ["kind", "description", "starts_on", "ends_on"])
def test_an_incomplete_measure_names_its_row_and_field(missing: str) -> None:
    data = {"measures": [MEASURES[0], MEASURES[0] | {missing: None}]}
    violation = g.measures_complete(FACTS, data)
    assert violation is not None
    assert (violation.field, violation.rule) == (f"measures.1.{missing}", "required")


def test_a_measure_names_an_agency_or_a_person() -> None:
    violation = g.measures_complete(FACTS, {"measures": [MEASURES[0] | {"responsible": None, "agency_code": None}]})
    assert violation is not None
    assert (violation.field, violation.rule) == ("measures.0.responsible", "agency_or_person_required")


def test_a_measure_ends_on_or_after_it_starts() -> None:
    violation = g.measures_complete(FACTS, {"measures": [MEASURES[0] | {"starts_on": "2026-03-02",
                                                                          "ends_on": "2026-03-01"}]})
    assert violation is not None
    assert (violation.field, violation.rule) == ("measures.0.ends_on", "not_before_start")
    assert g.measures_complete(FACTS, {"measures": [MEASURES[0] | {"starts_on": "2026-03-02",
                                                                     "ends_on": "2026-03-02"}]}) is None


def test_a_service_names_a_measure_of_the_approved_plan() -> None:
    planned = g.CaseFacts("intervened", approved_measures=2)
    violation = g.measure_named_if_planned(planned, {"kind": "medical"})
    assert violation is not None and (violation.field, violation.rule) == ("measure_no", "required")
    violation = g.measure_named_if_planned(planned, {"measure_no": 3})
    assert violation is not None and (violation.field, violation.rule) == ("measure_no", "known_measure")
    assert g.measure_named_if_planned(planned, {"measure_no": 2}) is None
    # A plan from before measures (none numbered): no measure to name, and none may be named.
    assert g.measure_named_if_planned(g.CaseFacts("intervened"), {}) is None
    violation = g.measure_named_if_planned(g.CaseFacts("intervened"), {"measure_no": 1})
    assert violation is not None and (violation.field, violation.rule) == ("measure_no", "known_measure")


# --- consent before sharing the child's data -------------------------------------------------

def test_consent_or_a_legal_ground_passes() -> None:
    assert g.consent_or_ground(FACTS, CONSENT) is None
    assert g.consent_or_ground(FACTS, LEGAL_GROUND) is None
    assert g.consent_or_ground(FACTS, CONSENT | {"child_answer": "refused", "carer_answer": "refused"}) is None


def test_consent_without_the_carers_answer_or_a_ground_is_refused_naming_carer_answer() -> None:
    for data in ({}, {"child_answer": "given"}, {"note": "x"}):
        violation = g.consent_or_ground(FACTS, data)
        assert violation is not None
        assert (violation.field, violation.rule) == ("carer_answer", "consent_or_legal_ground")


@pytest.mark.parametrize(("under_7", "needed"), [(False, True), (None, True), (True, False)])
def test_the_childs_answer_is_needed_from_age_7_or_when_the_age_is_unknown(under_7: bool | None,
                                                                            needed: bool) -> None:
    facts = g.CaseFacts("assessed", child_under_7=under_7)
    violation = g.consent_or_ground(facts, {"carer_answer": "given"})
    assert (violation is not None) is needed
    if violation is not None:
        assert (violation.field, violation.rule) == ("child_answer", "required_from_age_7")

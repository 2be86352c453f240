"""The lifecycle over every (state x trigger) pair, against a table written out by hand.

The expectations below are NOT read from `STEPS`: they restate the lifecycle (Nghị định 56
Art. 25-31 as this project models it), so a change to the machine that is not also made here
fails loudly."""

import re
from datetime import UTC, datetime
from typing import Any

import pytest

from models.enums import CaseState, Role
from states.access.permissions import authorize_trigger
from states.identity.actors import Actor
from states.kernel.commune import CommunePolicy
from states.kernel.errors import Forbidden, GuardFailed, IllegalTrigger
from states.lifecycle.diagram import mermaid
from states.lifecycle.guards import CaseFacts
from states.lifecycle.machine import TRIGGERS, allowed_triggers, fire
from tests.payloads import CONSENT, DETAIL, FACTORS, MEASURES

R, A, I, SU, C = "received", "assessed", "intervened", "supported", "closed"  # noqa: E741 (I: intervened)

# (state, trigger) -> state after the trigger. Every pair not listed here is illegal.
LEGAL: dict[tuple[str, str], str] = {
    (R, "assess"): A,
    (R, "record_emergency"): R,
    (R, "close"): C,
    (A, "record_emergency"): A,
    # The chair decides emergency protection (Nghị định 56 Art. 26(3)) before or after the assessment.
    (R, "decide_emergency"): R,
    (A, "decide_emergency"): A,
    # The detailed assessment and its meeting (Mẫu 03) come before the plan.
    (A, "detail_assess"): A,
    (A, "submit_plan"): A,
    (A, "return_plan"): A,
    (A, "approve_plan"): I,
    (A, "close"): C,
    (I, "start_service"): SU,
    (I, "review"): I,
    (I, "close"): C,
    (SU, "start_service"): SU,
    (SU, "review"): SU,
    (SU, "replan"): A,
    (SU, "close"): C,
    (C, "reopen"): R,
    # A worker or the head proposes an early closure; the chair decides it (`close`).
    (R, "propose_closure"): R,
    (A, "propose_closure"): A,
} | {
    # The chair extends or ends a temporary separation, whatever the case's open state.
    (state, trigger): state for state in (R, A, I, SU) for trigger in ("extend_separation", "end_separation")
} | {
    # Consent to share the child's data (or a legal ground) may be recorded in any open state.
    (state, "record_consent"): state for state in (R, A, I, SU)
}
ALL_TRIGGERS = {"assess", "record_emergency", "submit_plan", "return_plan", "approve_plan",
                "start_service", "review", "replan", "close", "reopen", "propose_closure",
                "extend_separation", "end_separation", "decide_emergency", "detail_assess", "record_consent"}
STATES = [s.value for s in CaseState]
PAIRS = [(s, t) for s in STATES for t in sorted(ALL_TRIGGERS)]

WORKERS = {Role.CASE_WORKER, Role.HEAD, Role.CHAIR}
LEADERS = {Role.HEAD, Role.CHAIR}
# (state, trigger) -> who may fire it there.
ROLES: dict[tuple[str, str], set[Role]] = {
    pair: WORKERS for pair in LEGAL
} | {
    (A, "return_plan"): {Role.CHAIR},
    (A, "approve_plan"): {Role.CHAIR},
    (R, "decide_emergency"): {Role.CHAIR},
    (A, "decide_emergency"): {Role.CHAIR},
    # Early closure: the chair decides (the default of `early_closure_by`), others propose.
    (R, "close"): {Role.CHAIR},
    (A, "close"): {Role.CHAIR},
    (R, "propose_closure"): {Role.CASE_WORKER, Role.HEAD},
    (A, "propose_closure"): {Role.CASE_WORKER, Role.HEAD},
    (I, "close"): {Role.CHAIR},
    (SU, "close"): {Role.CHAIR},
    (C, "reopen"): LEADERS,
} | {(state, trigger): {Role.CHAIR} for state in (R, A, I, SU)
     for trigger in ("extend_separation", "end_separation")}

EMERGENCY = {"action_taken": "Đưa trẻ tới nhà người thân (giả lập)", "who_was_called": "Công an xã",
             "done_at": "2026-03-02T08:30:00+07:00"}
VALID_DATA: dict[str, dict[str, Any]] = {
    "assess": {"risk_level": "high", "factors": FACTORS["high"], "emergency": False},
    "record_emergency": EMERGENCY,
    "decide_emergency": {"measures": "Đưa trẻ tới nhà người thân (giả lập)",
                         "decided_at": "2026-03-02T08:45:00+07:00"},
    "detail_assess": DETAIL,
    "submit_plan": {"goals": "Trẻ an toàn", "measures": MEASURES},
    "return_plan": {"reason": "Thiếu biện pháp"},
    "approve_plan": {},
    "start_service": {"kind": "medical", "agency_code": "TYT", "started_on": "2026-03-03"},
    "review": {"findings": "Ổn định", "risk_level": "low", "factors": FACTORS["low"], "outcome": "continue"},
    "record_consent": CONSENT,
    "replan": {"reason": "Nguy cơ tăng"},
    "close": {"reason": "duplicate"},
    "reopen": {"reason": "Báo cáo mới"},
    "propose_closure": {"reason": "not_substantiated"},
    "extend_separation": {"reason": "Gia đình chưa an toàn", "ends_at": datetime(2026, 4, 1, tzinfo=UTC)},
    "end_separation": {"outcome": "returned_to_family", "ended_at": "2026-03-10T08:00:00+07:00"},
}
SEPARATION_DUE = datetime(2026, 3, 17, 3, tzinfo=UTC)
FINAL_CLOSE = {"reason": "child_turned_16"}


def _facts(state: str, trigger: str) -> CaseFacts:
    separated = trigger in ("extend_separation", "end_separation")
    return CaseFacts(state=state, has_submitted_plan=trigger in ("return_plan", "approve_plan"),
                     separation_due_at=SEPARATION_DUE if separated else None,
                     has_detailed_assessment=trigger == "submit_plan")


def _data(state: str, trigger: str) -> dict[str, Any]:
    if trigger == "close" and state in (I, SU):
        return FINAL_CLOSE
    return VALID_DATA[trigger]


def test_the_machine_knows_exactly_the_expected_triggers() -> None:
    assert set(TRIGGERS) == ALL_TRIGGERS
    assert len(TRIGGERS) == len(ALL_TRIGGERS)


@pytest.mark.parametrize(("state", "trigger"), PAIRS)
def test_each_state_and_trigger_is_legal_or_illegal_as_expected(state: str, trigger: str) -> None:
    if (state, trigger) in LEGAL:
        assert fire(state, _facts(state, trigger), trigger, _data(state, trigger)) == LEGAL[(state, trigger)]
    else:
        with pytest.raises(IllegalTrigger) as err:
            fire(state, _facts(state, trigger), trigger, _data(state, trigger))
        allowed = err.value.extra["allowed_triggers"]
        assert sorted(allowed) == sorted(t for (s, t) in LEGAL if s == state)
        assert err.value.extra["state"] == state and err.value.extra["trigger"] == trigger


@pytest.mark.parametrize("state", STATES)
def test_allowed_triggers_lists_exactly_the_legal_ones_once(state: str) -> None:
    allowed = allowed_triggers(state)
    assert len(allowed) == len(set(allowed))
    assert set(allowed) == {t for (s, t) in LEGAL if s == state}


@pytest.mark.parametrize("state", STATES)
def test_an_unknown_trigger_is_illegal_everywhere(state: str) -> None:
    with pytest.raises(IllegalTrigger) as err:
        fire(state, CaseFacts(state), "delete_case", {})
    assert set(err.value.extra["allowed_triggers"]) == {t for (s, t) in LEGAL if s == state}


# Fired with no data (and no pending plan), each legal pair names the first thing it lacks.
FIRST_MISSING: dict[tuple[str, str], tuple[str, str]] = {
    (R, "assess"): ("factors.severity", "required"),
    (R, "decide_emergency"): ("measures", "required"),
    (A, "decide_emergency"): ("measures", "required"),
    (A, "detail_assess"): ("information", "required"),
    (R, "record_emergency"): ("action_taken", "required"),
    (R, "close"): ("reason", "required"),
    (A, "record_emergency"): ("action_taken", "required"),
    (A, "submit_plan"): ("goals", "required"),
    (A, "return_plan"): ("plan", "submitted_plan_required"),
    (A, "approve_plan"): ("plan", "submitted_plan_required"),
    (A, "close"): ("reason", "required"),
    (I, "start_service"): ("kind", "required"),
    (I, "review"): ("findings", "required"),
    (I, "close"): ("reason", "required"),
    (SU, "start_service"): ("kind", "required"),
    (SU, "review"): ("findings", "required"),
    (SU, "replan"): ("reason", "required"),
    (SU, "close"): ("reason", "required"),
    (C, "reopen"): ("reason", "required"),
    (R, "propose_closure"): ("reason", "required"),
    (A, "propose_closure"): ("reason", "required"),
} | {(state, trigger): ("separation", "separation_ongoing") for state in (R, A, I, SU)
     for trigger in ("extend_separation", "end_separation")
} | {(state, "record_consent"): ("carer_answer", "consent_or_legal_ground") for state in (R, A, I, SU)}


@pytest.mark.parametrize(("state", "trigger"), sorted(LEGAL))
def test_a_legal_trigger_without_its_data_fails_its_guard_naming_the_field(state: str, trigger: str) -> None:
    with pytest.raises(GuardFailed) as err:
        fire(state, CaseFacts(state), trigger, {})
    assert (err.value.field, err.value.rule) == FIRST_MISSING[(state, trigger)]
    assert err.value.extra["trigger"] == trigger


def test_close_from_received_refuses_a_final_reason_but_from_supported_accepts_it() -> None:
    with pytest.raises(GuardFailed) as err:
        fire(R, CaseFacts(R), "close", {"reason": "child_turned_16"})
    assert err.value.field == "reason"
    assert fire(SU, CaseFacts(SU), "close", {"reason": "child_turned_16"}) == C


def test_close_from_supported_refuses_an_early_reason() -> None:
    with pytest.raises(GuardFailed) as err:
        fire(SU, CaseFacts(SU), "close", {"reason": "duplicate"})
    assert err.value.field == "reason"


def test_closing_as_safe_needs_the_latest_review_to_propose_closure() -> None:
    with pytest.raises(GuardFailed) as err:
        fire(I, CaseFacts(I, last_review_outcome="continue"), "close", {"reason": "no_longer_at_risk"})
    assert (err.value.field, err.value.rule) == ("review", "closing_review_required")
    assert fire(I, CaseFacts(I, last_review_outcome="close"), "close", {"reason": "no_longer_at_risk"}) == C


def test_submitting_a_second_plan_while_one_waits_is_refused_naming_plan() -> None:
    with pytest.raises(GuardFailed) as err:
        fire(A, CaseFacts(A, has_submitted_plan=True, has_detailed_assessment=True), "submit_plan",
             VALID_DATA["submit_plan"])
    assert (err.value.field, err.value.rule) == ("plan", "already_submitted")


def test_assess_with_an_incomplete_emergency_action_names_the_nested_field() -> None:
    data = {"risk_level": "high", "factors": FACTORS["high"], "emergency": True,
            "emergency_action": {"action_taken": "x"}}
    with pytest.raises(GuardFailed) as err:
        fire(R, CaseFacts(R), "assess", data)
    assert err.value.field == "emergency_action.who_was_called"


@pytest.mark.parametrize(("state", "trigger"), sorted(LEGAL))
@pytest.mark.parametrize("role", list(Role))
def test_only_the_expected_roles_may_fire_each_legal_trigger(state: str, trigger: str, role: Role) -> None:
    actor = Actor(ref="user:1", role=role)
    if role in ROLES[(state, trigger)]:
        authorize_trigger(actor, trigger, state)
    else:
        with pytest.raises(Forbidden):
            authorize_trigger(actor, trigger, state)


@pytest.mark.parametrize(("state", "trigger"), sorted(LEGAL))
def test_the_public_may_fire_nothing(state: str, trigger: str) -> None:
    with pytest.raises(Forbidden):
        authorize_trigger(Actor(ref="public", role=None), trigger, state)


EDGE = re.compile(r"^\s*(\w+) --> (\w+): (.*)$")


def _diagram_edges() -> set[tuple[str, str, str]]:
    edges = set()
    for line in mermaid().splitlines():
        m = EDGE.match(line)
        if m:
            for label in m.group(3).split(" | "):
                edges.add((m.group(1), m.group(2), label.split(" ", 1)[0]))
    return edges


def test_the_diagram_draws_every_legal_transition_and_nothing_else() -> None:
    expected = {(s, d, t) for (s, t), d in LEGAL.items()}
    assert _diagram_edges() == expected


def test_the_diagram_names_each_transitions_guards() -> None:
    text = mermaid()
    assert ("received --> assessed: assess [requires_factors_severity & requires_factors_abuser_access & "
            "requires_factors_safety_obstacles & requires_factors_self_protection & requires_emergency") in text
    assert "submit_plan [internal] [requires_goals & measures_given & measures_complete & " \
        "detailed_assessment_done & no_plan_pending]" in text
    assert "assessed --> intervened: approve_plan [plan_submitted]" in text
    assert "supported --> closed: close [final_closure_reason & closing_review_if_safe]" in text
    assert "received --> closed: close [early_closure_reason]" in text


def test_extending_or_ending_a_separation_names_each_missing_field() -> None:
    separated = CaseFacts(A, separation_due_at=SEPARATION_DUE)
    cases = [
        ("extend_separation", {}, ("reason", "required")),
        ("extend_separation", {"reason": "x"}, ("ends_at", "required")),
        ("extend_separation", {"reason": "x", "ends_at": SEPARATION_DUE}, ("ends_at", "after_current_limit")),
        ("end_separation", {}, ("outcome", "required")),
        ("end_separation", {"outcome": "alternative_care"}, ("ended_at", "required")),
    ]
    for trigger, data, expected in cases:
        with pytest.raises(GuardFailed) as err:
            fire(A, separated, trigger, data)
        assert (err.value.field, err.value.rule) == expected, (trigger, data)
    assert fire(A, separated, "end_separation", {"outcome": "alternative_care", "ended_at": SEPARATION_DUE}) == A


def test_a_closure_proposal_takes_only_an_early_reason_and_names_the_receiving_commune() -> None:
    with pytest.raises(GuardFailed) as err:
        fire(R, CaseFacts(R), "propose_closure", {"reason": "no_longer_at_risk"})
    assert err.value.field == "reason"
    with pytest.raises(GuardFailed) as err:
        fire(A, CaseFacts(A), "propose_closure", {"reason": "transferred"})
    assert (err.value.field, err.value.rule) == ("transferred_to", "required_when_transferred")
    assert fire(A, CaseFacts(A), "propose_closure", {"reason": "transferred", "transferred_to": "Xã B"}) == A


@pytest.mark.parametrize("state", [R, A])
@pytest.mark.parametrize("role", list(Role))
def test_a_commune_may_let_the_head_decide_an_early_closure(state: str, role: Role) -> None:
    """KIPTHOI_COMMUNE__EARLY_CLOSURE_BY=head: the head closes too; the chair always may; the
    final closure (after intervention) stays the chair's."""
    head_decides = CommunePolicy(match_secret=b"k" * 32, early_closure_by="head")
    actor = Actor(ref="user:1", role=role)
    if role in LEADERS:
        authorize_trigger(actor, "close", state, head_decides)
    else:
        with pytest.raises(Forbidden):
            authorize_trigger(actor, "close", state, head_decides)
    law = CommunePolicy(match_secret=b"k" * 32)
    if role == Role.CHAIR:
        authorize_trigger(actor, "close", state, law)
    else:
        with pytest.raises(Forbidden):
            authorize_trigger(actor, "close", state, law)
    if role != Role.CHAIR:
        with pytest.raises(Forbidden):
            authorize_trigger(actor, "close", SU, head_decides)

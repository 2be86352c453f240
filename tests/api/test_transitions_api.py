"""Every trigger endpoint over HTTP: success, and each way it is refused, with the error shape."""

from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from models import Database
from models.enums import Role
from states.intake.opening import submit_report
from states.intake.report_data import StaffReport
from states.kernel.clock import FrozenClock
from states.kernel.commune import CommunePolicy
from states.lifecycle.triggers import INPUTS
from states.lifecycle.workflow import advance
from tests.conftest import Commune, staff_report
from tests.payloads import CONSENT, DETAIL, FACTORS, MEASURES

W, HEAD, CHAIR = Role.CASE_WORKER, Role.HEAD, Role.CHAIR
Steps = list[tuple[Role, str, dict[str, Any]]]
EMERGENCY = {"action_taken": "Đưa trẻ về nhà bà ngoại (giả lập)", "who_was_called": "Công an xã",
             "done_at": "2026-03-02T08:30:00+07:00"}
ASSESS = {"risk_level": "high", "factors": FACTORS["high"], "emergency": False}
PLAN = {"goals": "Trẻ được an toàn", "measures": MEASURES}
SERVICE = {"kind": "psychological", "agency_code": "TYT", "started_on": "2026-03-03", "measure_no": 1}
REVIEW = {"findings": "Ổn định", "risk_level": "low", "factors": FACTORS["low"], "outcome": "continue"}
DECISION = {"measures": "Đưa trẻ về nhà bà ngoại (giả lập)", "decided_at": "2026-03-02T08:45:00+07:00"}
PATH: dict[str, Steps] = {
    "received": [],
    "assessed": [(W, "assess", ASSESS)],
    "intervened": [(W, "assess", ASSESS), (W, "detail_assess", DETAIL), (W, "submit_plan", PLAN),
                   (CHAIR, "approve_plan", {})],
    "supported": [(W, "assess", ASSESS), (W, "detail_assess", DETAIL), (W, "submit_plan", PLAN),
                  (CHAIR, "approve_plan", {}), (W, "record_consent", CONSENT), (W, "start_service", SERVICE)],
    "closed": [(CHAIR, "close", {"reason": "duplicate"})],
}
# Written out by hand, not read from the machine.
ALLOWED = {
    "received": ["assess", "close", "decide_emergency", "end_separation", "extend_separation", "propose_closure",
                 "record_consent", "record_emergency"],
    "assessed": ["approve_plan", "close", "decide_emergency", "detail_assess", "end_separation", "extend_separation",
                 "propose_closure", "record_consent", "record_emergency", "return_plan", "submit_plan"],
    "intervened": ["close", "end_separation", "extend_separation", "record_consent", "review", "start_service"],
    "supported": ["close", "end_separation", "extend_separation", "record_consent", "replan", "review",
                  "start_service"],
    "closed": ["reopen"],
}
STATES = list(ALLOWED)


class Api:
    def __init__(self, client: TestClient, commune: Commune, db: Database, clock: FrozenClock,
                 policy: CommunePolicy) -> None:
        self.client, self.commune, self.db, self.clock, self.policy = client, commune, db, clock, policy

    def case_in(self, state: str, extra: Steps | None = None) -> tuple[str, int]:
        """Open a case from a staff report, drive it to `state` in one transaction: (code, version)."""
        with self.db.write() as s:
            result = submit_report(s, self.clock, self.commune.actors[Role.INTAKE_OPERATOR], self.policy,
                                   StaffReport.model_validate(staff_report()))
            code, version = str(result.response["case_code"]), 1
            for role, trigger, data in [*PATH[state], *(extra or [])]:
                model = INPUTS[trigger].model_validate(data)
                version = advance(s, self.clock, self.commune.actors[role], code, trigger, model, version,
                                  policy=self.policy).version
        return code, version

    def post(self, role: Role | None, code: str, trigger: str, version: int,
             data: dict[str, Any] | None = None) -> httpx.Response:
        headers = self.commune.headers(role) if role is not None else {}
        return self.client.post(f"/cases/{code}/transitions/{trigger}", headers=headers,
                                json={"expected_version": version, "data": data or {}})

    def detail(self, code: str) -> dict[str, Any]:
        r = self.client.get(f"/cases/{code}", headers=self.commune.headers(HEAD))
        assert r.status_code == 200, r.text
        return dict(r.json())


@pytest.fixture
def api(client: TestClient, commune: Commune, db: Database, clock: FrozenClock, policy: CommunePolicy) -> Api:
    return Api(client, commune, db, clock, policy)


DETAILED: Steps = [(W, "detail_assess", DETAIL)]  # Mẫu 03: the plan is drafted from it
SUBMIT: Steps = [*DETAILED, (W, "submit_plan", PLAN)]
CONSENTED: Steps = [(W, "record_consent", CONSENT)]  # a service's new agency is a referral
SEPARATED: Steps = [(W, "record_emergency", EMERGENCY | {"separated_from_carer": True})]
# trigger, from state, steps after reaching it, role, data, state after
SUCCESS: list[tuple[str, str, Steps, Role, dict[str, Any], str]] = [
    ("assess", "received", [], W, ASSESS | {"emergency": True, "emergency_action": EMERGENCY}, "assessed"),
    ("record_emergency", "received", [], HEAD, EMERGENCY, "received"),
    ("decide_emergency", "received", [], CHAIR, DECISION, "received"),
    ("detail_assess", "assessed", [], W, DETAIL, "assessed"),
    ("submit_plan", "assessed", DETAILED, W, PLAN, "assessed"),
    ("return_plan", "assessed", SUBMIT, CHAIR, {"reason": "Thiếu biện pháp"}, "assessed"),
    ("approve_plan", "assessed", SUBMIT, CHAIR, {"note": "Đồng ý"}, "intervened"),
    ("record_consent", "intervened", [], W, CONSENT, "intervened"),
    ("start_service", "intervened", CONSENTED, W, SERVICE, "supported"),
    ("review", "supported", [], W, REVIEW, "supported"),
    ("replan", "supported", [], W, {"reason": "Nguy cơ tăng"}, "assessed"),
    ("close", "supported", [], CHAIR, {"reason": "child_turned_16"}, "closed"),
    ("reopen", "closed", [], HEAD, {"reason": "Báo cáo mới"}, "received"),
    ("propose_closure", "assessed", [], W, {"reason": "not_substantiated"}, "assessed"),
    ("extend_separation", "assessed", SEPARATED, CHAIR,
     {"reason": "Gia đình chưa an toàn", "ends_at": "2026-04-01T10:00:00+07:00"}, "assessed"),
    ("end_separation", "received", SEPARATED, CHAIR,
     {"outcome": "returned_to_family", "ended_at": "2026-03-02T08:45:00+07:00"}, "received"),
]
TRIGGERS = sorted(s[0] for s in SUCCESS)


def test_every_trigger_endpoint_has_a_success_case_here(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    paths = {p for p in schema["paths"] if p.startswith("/cases/{code}/transitions/")}
    assert sorted(p.rsplit("/", 1)[1] for p in paths) == TRIGGERS


@pytest.mark.parametrize(("trigger", "start", "extra", "role", "data", "after"), SUCCESS,
                         ids=[s[0] for s in SUCCESS])
def test_trigger_succeeds_and_answers_new_state_version_and_allowed_triggers(
        api: Api, trigger: str, start: str, extra: Steps, role: Role, data: dict[str, Any],
        after: str) -> None:
    code, version = api.case_in(start, extra)
    r = api.post(role, code, trigger, version, data)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["code"], body["state"], body["version"]) == (code, after, version + 1)
    assert sorted(body["allowed_triggers"]) == ALLOWED[after]
    shown = api.detail(code)
    assert (shown["state"], shown["version"]) == (after, version + 1)
    assert shown["timeline"][-1]["action"] == f"case.{trigger}"


@pytest.mark.parametrize("state", STATES)
def test_every_illegal_trigger_is_409_listing_the_allowed_triggers(api: Api, state: str) -> None:
    code, version = api.case_in(state)
    illegal = [t for t in TRIGGERS if t not in ALLOWED[state]]
    assert illegal
    for trigger in illegal:
        r = api.post(CHAIR, code, trigger, version)
        assert r.status_code == 409, (trigger, r.text)
        assert r.json()["code"] == "illegal_trigger"
        assert sorted(r.json()["allowed_triggers"]) == ALLOWED[state], trigger
    assert api.detail(code)["version"] == version


# For each legal (state, trigger), fired with no data: the field its guard names.
FIRST_MISSING = {
    "received": {"assess": "factors.severity", "record_emergency": "action_taken", "close": "reason",
                 "propose_closure": "reason", "decide_emergency": "measures", "record_consent": "carer_answer"},
    "assessed": {"record_emergency": "action_taken", "submit_plan": "goals", "return_plan": "plan",
                 "approve_plan": "plan", "close": "reason", "propose_closure": "reason",
                 "decide_emergency": "measures", "detail_assess": "information", "record_consent": "carer_answer"},
    "intervened": {"start_service": "kind", "review": "findings", "close": "reason",
                   "record_consent": "carer_answer"},
    "supported": {"start_service": "kind", "review": "findings", "replan": "reason", "close": "reason",
                  "record_consent": "carer_answer"},
    "closed": {"reopen": "reason"},
}
for _state in ("received", "assessed", "intervened", "supported"):  # no separation going on
    FIRST_MISSING[_state] |= {"extend_separation": "separation", "end_separation": "separation"}


@pytest.mark.parametrize("state", STATES)
def test_every_legal_trigger_without_its_data_is_422_naming_the_field(api: Api, state: str) -> None:
    code, version = api.case_in(state)
    assert sorted(FIRST_MISSING[state]) == ALLOWED[state]
    for trigger, field in FIRST_MISSING[state].items():
        r = api.post(HEAD if trigger == "propose_closure" else CHAIR, code, trigger, version)
        assert r.status_code == 422, (trigger, r.text)
        body = r.json()
        assert (body["code"], body["field"]) == ("guard_failed", field), trigger
        assert body["rule"] and body["message"] and body["message_en"]
    after = api.detail(code)
    assert (after["state"], after["version"]) == (state, version)


def test_nested_emergency_action_field_is_named_in_the_422(api: Api) -> None:
    code, version = api.case_in("received")
    action = {"action_taken": "Tách trẻ khỏi người gây hại", "done_at": EMERGENCY["done_at"]}
    r = api.post(W, code, "assess", version, ASSESS | {"emergency": True, "emergency_action": action})
    assert r.status_code == 422
    assert (r.json()["field"], r.json()["rule"]) == ("emergency_action.who_was_called", "required")


def test_unknown_agency_is_422_naming_agency_code(api: Api) -> None:
    code, version = api.case_in("intervened")
    r = api.post(W, code, "start_service", version, SERVICE | {"agency_code": "KHONG-CO"})
    assert r.status_code == 422
    body = r.json()
    assert (body["code"], body["field"], body["rule"]) == ("invalid_input", "agency_code", "known_agency")


def test_a_service_with_an_agency_not_yet_referred_needs_consent_first(api: Api) -> None:
    code, version = api.case_in("intervened")
    r = api.post(W, code, "start_service", version, SERVICE)
    assert r.status_code == 422
    body = r.json()
    assert (body["code"], body["field"], body["rule"]) == ("invalid_input", "consent",
                                                           "consent_or_legal_ground_required")
    assert api.detail(code)["version"] == version and api.detail(code)["services"] == []


def test_a_service_after_an_approved_plan_with_measures_names_one(api: Api) -> None:
    code, version = api.case_in("intervened", CONSENTED)
    r = api.post(W, code, "start_service", version, SERVICE | {"measure_no": None})
    assert r.status_code == 422
    assert (r.json()["code"], r.json()["field"], r.json()["rule"]) == ("guard_failed", "measure_no", "required")
    r = api.post(W, code, "start_service", version, SERVICE)
    assert r.status_code == 200, r.text
    assert [s["measure_no"] for s in api.detail(code)["services"]] == [1]


def test_emergency_in_the_future_is_422_naming_done_at(api: Api) -> None:
    code, version = api.case_in("received")
    r = api.post(W, code, "record_emergency", version, EMERGENCY | {"done_at": "2026-03-02T10:00:00+07:00"})
    assert r.status_code == 422
    assert (r.json()["field"], r.json()["rule"]) == ("done_at", "not_in_future")


def test_stale_version_is_409_with_the_current_version(api: Api) -> None:
    code, version = api.case_in("received")
    for stale in (version + 1, 7):
        r = api.post(W, code, "assess", stale, ASSESS)
        assert r.status_code == 409, r.text
        assert (r.json()["code"], r.json()["current_version"]) == ("stale_version", version)
    assert api.detail(code)["state"] == "received"


def test_second_writer_with_the_same_version_loses(api: Api) -> None:
    code, version = api.case_in("supported")
    assert api.post(W, code, "review", version, REVIEW).status_code == 200
    r = api.post(HEAD, code, "replan", version, {"reason": "Nguy cơ tăng"})
    assert (r.status_code, r.json()["code"]) == (409, "stale_version")
    assert api.detail(code)["state"] == "supported"


WRONG_ROLE: dict[str, list[tuple[str, Role, dict[str, Any]]]] = {
    "received": [("assess", Role.INTAKE_OPERATOR, ASSESS), ("assess", Role.AGENCY_OFFICIAL, ASSESS),
                 ("record_emergency", Role.HOTLINE, EMERGENCY), ("close", W, {"reason": "duplicate"}),
                 # the chair decides an early closure (by default); a worker or the head proposes it
                 ("close", HEAD, {"reason": "duplicate"}), ("propose_closure", CHAIR, {"reason": "duplicate"}),
                 ("propose_closure", Role.AGENCY_OFFICIAL, {"reason": "duplicate"}),
                 ("extend_separation", W, {"reason": "x", "ends_at": "2026-04-01T10:00:00+07:00"}),
                 ("end_separation", HEAD, {"outcome": "returned_to_family", "ended_at": EMERGENCY["done_at"]})],
    "supported": [("close", HEAD, {"reason": "child_turned_16"}), ("review", Role.ADMIN, REVIEW)],
    "closed": [("reopen", Role.AUDITOR, {"reason": "x"}), ("reopen", W, {"reason": "x"})],
}


@pytest.mark.parametrize("state", list(WRONG_ROLE))
def test_wrong_role_is_403(api: Api, state: str) -> None:
    code, version = api.case_in(state)
    for trigger, role, data in WRONG_ROLE[state]:
        r = api.post(role, code, trigger, version, data)
        assert (r.status_code, r.json()["code"]) == (403, "forbidden"), (trigger, role)
    assert api.detail(code)["version"] == version


def test_approving_a_plan_is_403_for_a_case_worker(api: Api) -> None:
    code, version = api.case_in("assessed", SUBMIT)
    assert api.post(W, code, "approve_plan", version).status_code == 403


def test_no_api_key_is_401_and_an_unknown_key_is_401(api: Api) -> None:
    code, version = api.case_in("received")
    assert api.post(None, code, "assess", version, ASSESS).status_code == 401
    r = api.client.post(f"/cases/{code}/transitions/assess", headers={"Authorization": "Bearer kt_not-a-key"},
                        json={"expected_version": version, "data": ASSESS})
    assert r.status_code == 401
    assert api.detail(code)["state"] == "received"


def test_unknown_case_is_404(api: Api) -> None:
    r = api.post(W, "NH-2026-999999", "assess", 1, ASSESS)
    assert (r.status_code, r.json()["code"]) == (404, "not_found")


def test_unknown_trigger_is_404_listing_the_allowed_triggers(api: Api) -> None:
    code, version = api.case_in("intervened")
    r = api.post(W, code, "approve_everything", version)
    assert r.status_code == 404, r.text
    assert (r.json()["code"], r.json()["field"]) == ("unknown_trigger", "trigger")
    assert sorted(r.json()["allowed_triggers"]) == ALLOWED["intervened"]
    assert api.detail(code)["version"] == version


def test_unknown_trigger_on_unknown_case_is_404_not_found(api: Api) -> None:
    r = api.post(W, "NH-2026-999999", "approve_everything", 1)
    assert (r.status_code, r.json()["code"]) == (404, "not_found")


BAD_BODIES = [
    ("unknown_data_field", {"expected_version": 1, "data": ASSESS | {"priority": "urgent"}}, "data.priority"),
    ("unknown_top_field", {"expected_version": 1, "data": ASSESS, "force": True}, "force"),
    ("bad_enum", {"expected_version": 1, "data": {"risk_level": "extreme", "emergency": False}},
     "data.risk_level"),
    ("naive_datetime", {"expected_version": 1, "data": ASSESS | {
        "emergency": True, "emergency_action": EMERGENCY | {"done_at": "2026-03-02T08:30:00"}}},
     "data.emergency_action.done_at"),
    ("blank_text", {"expected_version": 1, "data": ASSESS | {"note": "   "}}, "data.note"),
    ("no_version", {"data": ASSESS}, "expected_version"),
    ("version_zero", {"expected_version": 0, "data": ASSESS}, "expected_version"),
    ("no_data", {"expected_version": 1}, "data"),
]


def test_malformed_body_is_422_validation_error_naming_the_field(api: Api) -> None:
    code, _ = api.case_in("received")
    for name, body, field in BAD_BODIES:
        r = api.client.post(f"/cases/{code}/transitions/assess", headers=api.commune.headers(W), json=body)
        assert r.status_code == 422, (name, r.text)
        assert (r.json()["code"], r.json()["field"]) == ("validation_error", field), name
    assert api.detail(code)["version"] == 1


def test_case_detail_shows_allowed_triggers_and_the_timeline(api: Api) -> None:
    code, _ = api.case_in("assessed", SUBMIT)
    shown = api.detail(code)
    assert shown["state"] == "assessed" and sorted(shown["allowed_triggers"]) == ALLOWED["assessed"]
    assert [e["action"] for e in shown["timeline"]] == ["case.opened", "case.assess", "case.detail_assess",
                                                        "case.submit_plan"]
    assert shown["timeline"][1]["actor"] == api.commune.actors[W].ref
    assert [p["status"] for p in shown["plans"]] == ["submitted"]
    assert shown["risk_level"] == "high" and shown["version"] == 4


def test_a_role_that_cannot_read_cases_learns_nothing_from_an_illegal_trigger(api: Api) -> None:
    code, version = api.case_in("received")
    assert api.client.get(f"/cases/{code}", headers=api.commune.headers(Role.HOTLINE)).status_code == 403
    r = api.post(Role.HOTLINE, code, "reopen", version, {"reason": "x"})
    assert r.status_code == 403, r.json()

"""The published contract holds under generated requests (issue 4): schemathesis sends every
operation of the OpenAPI document valid and invalid data, with valid credentials, and no answer
is a 5xx or breaks what the document promises (status code, content type, headers, body).

One pytest item per operation, each against its own fresh database seeded with a commune, cases
in every state, a referral, a service, a hotline report and a citizen's report, so that generated
path parameters and ids can hit real rows (schemathesis mixes in the known values below). Each
generated request is sent once per role that reaches the operation: the head (most routes) and
the role the route is for (administrator, auditor, hotline, chair, case worker, agency, the
public). Deterministic: fixed seed, `derandomize`, no example database; no rate limits (the
runtime's default; `test_rate_limits.py` covers them)."""

import tempfile
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import update

from api.app import create_app
from api.deps import Runtime
from models import Database, Report, open_database
from models.enums import Role
from states import referrals, workflow
from states.accounts import UserIn, create_user
from states.actors import PUBLIC, SYSTEM
from states.auth import AuthConfig
from states.clock import FrozenClock
from states.intake import submit_report
from states.passwords import HashCost, Passwords
from states.policy import CommunePolicy
from states.report_data import CitizenReport, HotlineReport, StaffReport
from states.workflow import TRIGGER_DATA
from tests.conftest import AGENCIES, PLACES, ROLE_AGENCY, T0, Commune, hotline_report, staff_report

# The argon2 cost is lowered (a setting), as in test_auth.py: logins are generated too.
CHEAP = Passwords(HashCost(time_cost=1, memory_kib=8, parallelism=1))
PERSON, PASSWORD = "head.person", "ngựa-pin-kẹp-giấy-đúng"
HOTLINE_REF, TRACKING_CODE = "111-2026-0001", "KTQM-4RZP-9CXT"

W, HEAD, CHAIR = Role.CASE_WORKER, Role.HEAD, Role.CHAIR
ASSESS = {"risk_level": "high", "emergency": False}
PLAN = {"goals": "Trẻ được an toàn", "measures": "Thăm gia đình hằng tuần"}
SERVICE = {"kind": "psychological", "agency_code": "TYT", "started_on": "2026-03-03"}
# One case per state, in this order: NH-2026-000001 … 000005; the hotline's is 000006.
STATES: list[tuple[str, list[tuple[Role, str, dict[str, Any]]]]] = [
    ("received", []),
    ("assessed", [(W, "assess", ASSESS)]),
    ("intervened", [(W, "assess", ASSESS), (W, "submit_plan", PLAN), (CHAIR, "approve_plan", {})]),
    ("supported", [(W, "assess", ASSESS), (W, "submit_plan", PLAN), (CHAIR, "approve_plan", {}),
                   (W, "start_service", SERVICE)]),
    ("closed", [(HEAD, "close", {"reason": "duplicate"})]),
]
CASE_CODES = [f"NH-2026-{n:06d}" for n in range(1, len(STATES) + 2)]
# The conftest commune makes one user per role in `Role` order, then `seeded` adds PERSON.
USER_IDS = {role: n + 1 for n, role in enumerate(Role)}
OFFICIAL_IDS = list(range(1, len(ROLE_AGENCY) + 1))


def _document() -> dict[str, Any]:
    """The OpenAPI document. It is made from the routes, not from the runtime, so the app that
    publishes it has a database it never opens (making an engine does not connect)."""
    with tempfile.TemporaryDirectory() as folder:
        db = open_database(f"sqlite:///{folder}/never-opened.db")
        try:
            runtime = Runtime(db=db, clock=FrozenClock(T0),
                              policy=CommunePolicy(code_prefix="NH", match_secret=b"unused"))
            return create_app(runtime).openapi()
        finally:
            db.dispose()


def _dictionary(values: list[Any]) -> dict[str, Any]:
    return {"values": values}


CONFIG = schemathesis.Config.from_dict({
    "seed": 20260302,
    # Credentials are ours (below), never generated: a generated token is only a 401.
    "generation": {"with-security-parameters": False},
    # Only these checks. Left out: positive_data_acceptance (a valid but unknown case code is
    # rightly 404, a valid trigger on a case in another state rightly 409), ignored_auth and
    # object_level_authorization (the role matrix, test_access_matrix.py, covers who may do
    # what), use_after_free / ensure_resource_availability (no DELETE routes), and
    # missing_required_header (no required request headers besides the credentials).
    "checks": {
        "enabled": False,
        "not_a_server_error": {"enabled": True},
        "status_code_conformance": {"enabled": True},
        "content_type_conformance": {"enabled": True},
        "response_headers_conformance": {"enabled": True},
        "response_schema_conformance": {"enabled": True},
        "negative_data_rejection": {"enabled": True},
        "unsupported_method": {"enabled": True},
    },
    # Real rows, mixed into half of the generated values of these parameters.
    "dictionaries": {
        "case_codes": _dictionary(CASE_CODES),
        "user_ids": _dictionary([i for r, i in USER_IDS.items() if r is not Role.ADMIN]),
        "small_ids": _dictionary(list(range(1, 13))),
        "versions": _dictionary(list(range(1, 7))),
        "official_ids": _dictionary(OFFICIAL_IDS),
        "agency_codes": _dictionary([code for code, _ in AGENCIES]),
        "place_codes": _dictionary([code for code, _ in PLACES]),
        "hotline_refs": _dictionary([HOTLINE_REF]),
        "tracking_codes": _dictionary([TRACKING_CODE]),
        "usernames": _dictionary([PERSON]),
        "passwords": _dictionary([PASSWORD]),
    },
    "parameters": {
        "path.code": {"dictionary": "case_codes", "probability": 0.5},
        "query.case": {"dictionary": "case_codes", "probability": 0.5},
        "path.user_id": {"dictionary": "user_ids", "probability": 0.5},
        "path.deadline_id": {"dictionary": "small_ids", "probability": 0.5},
        "path.service_id": {"dictionary": "small_ids", "probability": 0.5},
        "path.referral_id": {"dictionary": "small_ids", "probability": 0.5},
        "path.hotline_ref": {"dictionary": "hotline_refs", "probability": 0.5},
        "path.tracking_code": {"dictionary": "tracking_codes", "probability": 0.5},
        "query.place": {"dictionary": "place_codes", "probability": 0.5},
        "query.agency": {"dictionary": "agency_codes", "probability": 0.5},
        "query.assignee_id": {"dictionary": "official_ids", "probability": 0.5},
        "body.expected_version": {"dictionary": "versions", "probability": 0.5},
        "body.official_id": {"dictionary": "official_ids", "probability": 0.5},
        "body.agency_code": {"dictionary": "agency_codes", "probability": 0.5},
        "body.data.agency_code": {"dictionary": "agency_codes", "probability": 0.5},
        "body.place_code": {"dictionary": "place_codes", "probability": 0.5},
        "body.username": {"dictionary": "usernames", "probability": 0.5},
        "body.password": {"dictionary": "passwords", "probability": 0.5},
    },
})
schema = schemathesis.openapi.from_dict(_document(), config=CONFIG)

# Who sends each request, besides the head. `None` is the public (no credentials); "person"
# is the head logged in with a password (an access token, not an API key).
Sender = Role | str | None
EXTRA: list[tuple[str, str, tuple[Sender, ...]]] = [
    # (method, path prefix, senders); the first matching row wins.
    ("POST", "/reports", (Role.HOTLINE, Role.INTAKE_OPERATOR, None)),
    ("GET", "/public/", (None,)),
    ("GET", "/hotline/", (Role.HOTLINE,)),
    ("GET", "/cases/", (Role.CASE_WORKER, Role.AGENCY_OFFICIAL)),
    ("POST", "/cases/", (Role.CHAIR, Role.CASE_WORKER)),
    ("GET", "/cases", (Role.AGENCY_OFFICIAL,)),
    ("GET", "/audit/", (Role.AUDITOR,)),
    ("GET", "/stats", (Role.AUDITOR,)),
    ("POST", "/deadlines/", (Role.CASE_WORKER,)),
    ("GET", "/exports/", (Role.CHAIR,)),
    ("POST", "/places", (Role.ADMIN,)),
    ("POST", "/agencies", (Role.ADMIN,)),
    ("POST", "/officials", (Role.ADMIN,)),
    ("GET", "/users", (Role.ADMIN,)),
    ("POST", "/users", (Role.ADMIN,)),
    ("GET", "/auth/", ("person",)),
    ("POST", "/auth/", ("person",)),
]


def senders(method: str, path: str) -> tuple[Sender, ...]:
    for m, prefix, extra in EXTRA:
        if method.upper() == m and path.startswith(prefix):
            return (HEAD, *extra)
    return (HEAD,)


def _seed(db: Database, clock: FrozenClock, policy: CommunePolicy, commune: Commune) -> None:
    """Cases in every state (one referred to the police, whose official is the agency role;
    one assigned to the case worker; one with a service), a hotline report, a citizen's report
    with a known tracking code, and a person who logs in with a password."""
    operator = commune.actors[Role.INTAKE_OPERATOR]
    with db.write() as s:
        for n, (state, steps) in enumerate(STATES):
            body = staff_report(child={"full_name": f"Trẻ Thử {state}", "birth_date": f"201{n}-05-01",
                                       "sex": "female"},
                                reporter={"full_name": f"Người Báo {n}", "phone": f"090000{n:04d}"})
            code = str(submit_report(s, clock, operator, policy,
                                     StaffReport.model_validate(body)).response["case_code"])
            assert code == CASE_CODES[n], code
            version = 1
            for role, trigger, data in steps:
                version = workflow.advance(s, clock, commune.actors[role], code, trigger,
                                           TRIGGER_DATA[trigger].model_validate(data), version,
                                           policy=policy).version
            if state == "received":
                workflow.assign(s, clock, commune.actors[HEAD], code, commune.officials[W], version)
                workflow.add_note(s, clock, commune.actors[W], code, "Đã gọi điện cho gia đình.")
            if state == "assessed":
                referrals.refer(s, clock, commune.actors[HEAD], code, "CA")
        hotline = hotline_report(HOTLINE_REF, child={"full_name": "Trẻ Thử 111", "birth_date": "2015-01-01",
                                                     "sex": "male"})
        result = submit_report(s, clock, commune.actors[Role.HOTLINE], policy,
                               HotlineReport.model_validate(hotline))
        assert result.response["case_code"] == CASE_CODES[-1], result.response
        citizen = CitizenReport.model_validate({
            "channel": "online", "place_code": "DONG-AN", "abuse_forms": ["neglect"],
            "narrative": "Trẻ hàng xóm thường bị bỏ đói (dữ liệu giả lập)."})
        tracking = submit_report(s, clock, PUBLIC, policy, citizen).response["tracking_code"]
        s.execute(update(Report).where(Report.tracking_code == tracking)  # type: ignore[arg-type]
                  .values(tracking_code=TRACKING_CODE))
        create_user(s, clock, SYSTEM, UserIn(username=PERSON, display_name="Trưởng phòng Thử",
                                             role=HEAD, official_id=commune.officials[HEAD],
                                             password=SecretStr(PASSWORD)), CHEAP)


@pytest.fixture
def runtime(db: Database, clock: FrozenClock, policy: CommunePolicy) -> Runtime:
    return Runtime(db=db, clock=clock, policy=policy, auth=AuthConfig(passwords=CHEAP))


@pytest.fixture
def app(runtime: Runtime, db: Database, clock: FrozenClock, policy: CommunePolicy,
        commune: Commune) -> FastAPI:
    _seed(db, clock, policy, commune)
    return create_app(runtime)


@pytest.fixture
def credentials(app: FastAPI, commune: Commune) -> dict[Sender, dict[str, str]]:
    with TestClient(app) as client:
        r = client.post("/auth/token", data={"grant_type": "password", "username": PERSON,
                                             "password": PASSWORD})
        assert r.status_code == 200, r.text
    out: dict[Sender, dict[str, str]] = {role: commune.headers(role) for role in Role}
    out["person"] = {"Authorization": f"Bearer {r.json()['access_token']}"}
    out[None] = {}
    return out


@schema.parametrize()
# Bounded and repeatable: the same examples on every run, nothing replayed from or written to a
# .hypothesis folder. The fixtures are per operation, not per example: examples of one operation
# share its database, which is what a client's successive requests do too.
@settings(max_examples=30, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_no_5xx_and_every_answer_matches_the_document(
        case: schemathesis.Case, app: FastAPI, credentials: dict[Sender, dict[str, str]]) -> None:
    for sender in senders(case.method, case.path):
        case.call_and_validate(app=app, headers=credentials[sender])

"""The role matrix: every role (and the public) × every case endpoint × every kind of case.

Four cases are built for each test: OWN (assigned to the case worker's official), OTHER
(assigned to the head's official), REFERRED (assigned to the head's official and referred to
the police, agency CA, where the agency official sits) and UNASSIGNED. Each test is one role
and one group of endpoints (reading a case; its export and access log; its handover package;
the changes; the deadlines; the endpoints over all cases) and checks every endpoint on all four
kinds, so the matrix costs 54 fixtures (9 × 6), not hundreds. The expected status of every cell
is written out below, by hand, from the rules — not read from `states/access/permissions.py`.

Every response a role gets is also searched for the reporter's identity: only the head and
the worker assigned to the case may ever see who reported (Luật Tố cáo 2018).
"""

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlmodel import Session, col

from api.schemas import CaseSummary
from models import Agency, Case, Database, Deadline, Note, Referral
from models.enums import Role
from states.cases import referrals
from states.intake.opening import submit_report
from states.intake.report_data import StaffReport
from states.kernel.clock import FrozenClock
from states.kernel.commune import CommunePolicy
from states.lifecycle import workflow
from states.lifecycle.triggers import INPUTS
from tests.conftest import Commune, hotline_report, staff_report
from tests.payloads import FACTORS

OWN, OTHER, REFERRED, UNASSIGNED = "own", "other", "referred", "unassigned"
KINDS = (OWN, OTHER, REFERRED, UNASSIGNED)
PUBLIC = None  # no credentials at all
EVERYONE: list[Role | None] = [*Role, PUBLIC]
IDS = [r.value if r else "public" for r in EVERYONE]

REPORTER_SECRETS = ("Người Báo Tin", "900000999")  # "+84900000999" and "0900000999"
NARRATIVE = "Hàng xóm nghe thấy trẻ bị đánh"
CHILD_NAMES = {OWN: "Trẻ Ma Trận Một", OTHER: "Trẻ Ma Trận Hai", REFERRED: "Trẻ Ma Trận Ba",
               UNASSIGNED: "Trẻ Ma Trận Bốn"}


@dataclass
class Kinds:
    codes: dict[str, str]
    versions: dict[str, int]


def headers(commune: Commune, role: Role | None) -> dict[str, str]:
    return commune.headers(role) if role is not None else {}


def open_case(session: Session, clock: FrozenClock, policy: CommunePolicy, commune: Commune,
              name: str) -> str:
    body = staff_report(child={"full_name": name, "birth_date": "2016-05-01"})
    result = submit_report(session, clock, commune.actors[Role.INTAKE_OPERATOR], policy,
                           StaffReport.model_validate(body))
    assert result.response["linked_to_existing_case"] is False
    return str(result.response["case_code"])


@pytest.fixture
def kinds(db: Database, clock: FrozenClock, policy: CommunePolicy, commune: Commune) -> Kinds:
    """The four kinds of case, built in one transaction by the same domain functions the
    endpoints call (faster than 8 requests, and the matrix builds them for every test)."""
    head = commune.actors[Role.HEAD]
    with db.write() as s:
        codes = {kind: open_case(s, clock, policy, commune, CHILD_NAMES[kind]) for kind in KINDS}
        versions = dict.fromkeys(KINDS, 1)
        for kind, official in ((OWN, Role.CASE_WORKER), (OTHER, Role.HEAD), (REFERRED, Role.HEAD)):
            case = workflow.assign(s, clock, head, codes[kind], commune.officials[official], 1)
            versions[kind] = case.version
        # Referring needs consent or a legal ground (states/cases/referrals.py): the child's safety.
        ground = INPUTS["record_consent"].model_validate({"legal_ground": "child_safety"})
        for kind in KINDS:
            versions[kind] = workflow.advance(s, clock, head, codes[kind], "record_consent", ground,
                                              versions[kind], policy).version
        referrals.refer(s, clock, head, codes[REFERRED], "CA", policy)
    return Kinds(codes=codes, versions=versions)


def may_see_reporter(role: Role | None, kind: str | None) -> bool:
    return role == Role.HEAD or (role == Role.CASE_WORKER and kind == OWN)


def assert_no_reporter_identity(r: httpx.Response, role: Role | None, kind: str | None = None) -> None:
    if may_see_reporter(role, kind):
        return
    for secret in REPORTER_SECRETS:
        assert secret not in r.text, (role, kind, r.request.url)


# --- expected statuses, cell by cell ---------------------------------------------------------

LEADERS = (Role.HEAD, Role.CHAIR)


def hidden(role: Role | None, kind: str) -> bool:
    """A role that reads cases, on a case it has no view of: answered as a missing case (404),
    so that guessing codes tells nobody which cases exist."""
    return ((role == Role.CASE_WORKER and kind in (OTHER, REFERRED))
            or (role == Role.AGENCY_OFFICIAL and kind != REFERRED))


def detail_expected(role: Role | None, kind: str) -> tuple[int, str | None]:
    """(status, view) of GET /cases/{code}."""
    if role is PUBLIC:
        return 401, None
    if role == Role.HEAD:
        return 200, "full"
    if role == Role.CHAIR:
        return 200, "content"
    if role == Role.CASE_WORKER:
        return {OWN: (200, "full"), UNASSIGNED: (200, "content")}.get(kind, (404, None))
    if role == Role.AGENCY_OFFICIAL:
        return (200, "agency") if kind == REFERRED else (404, None)
    return 403, None


def worker_write(role: Role | None, kind: str, ok: int) -> int:
    """Head and chair on every case, the case worker on their own and unassigned ones; the
    worker on a case they cannot see gets the missing case's 404; other roles 403 before any
    lookup."""
    if role is PUBLIC:
        return 401
    if role in LEADERS or (role == Role.CASE_WORKER and kind in (OWN, UNASSIGNED)):
        return ok
    return 404 if role == Role.CASE_WORKER and hidden(role, kind) else 403


def assign_expected(role: Role | None, kind: str) -> int:
    return 401 if role is PUBLIC else 200 if role in LEADERS else 403


def note_expected(role: Role | None, kind: str) -> int:
    if role == Role.AGENCY_OFFICIAL:
        return 201 if kind == REFERRED else 404
    return worker_write(role, kind, 201)


def only(*roles: Role) -> Callable[[Role | None, str], int]:
    def expected(role: Role | None, kind: str) -> int:
        return 401 if role is PUBLIC else 200 if role in roles else 403
    return expected


# --- reading one case: GET /cases/{code}, GET /exports/child/{code}, GET /audit/access/{code} --


@pytest.mark.parametrize("role", EVERYONE, ids=IDS)
def test_read_one_case(client: TestClient, commune: Commune, kinds: Kinds, role: Role | None) -> None:
    for kind in KINDS:
        r = client.get(f"/cases/{kinds.codes[kind]}", headers=headers(commune, role))
        status, view = detail_expected(role, kind)
        assert r.status_code == status, (kind, r.text)
        assert_no_reporter_identity(r, role, kind)
        if status != 200:
            assert NARRATIVE not in r.text and CHILD_NAMES[kind] not in r.text
            continue
        body = r.json()
        assert body["code"] == kinds.codes[kind] and body["view"] == view, kind
        assert body["child"]["full_name"] == CHILD_NAMES[kind]
        if view == "full":
            assert body["withheld"] == []
            assert [(p["full_name"], p["phone"]) for p in body["reporters"]] == [
                ("Người Báo Tin", "+84900000999")]
        else:
            assert "reporters" in body["withheld"] and body["reporters"] == []


@pytest.mark.parametrize("role", EVERYONE, ids=IDS)
def test_export_and_access_log_of_one_case(client: TestClient, commune: Commune, kinds: Kinds,
                                           role: Role | None) -> None:
    for kind in KINDS:
        r = client.get(f"/exports/child/{kinds.codes[kind]}", headers=headers(commune, role))
        assert r.status_code == only(*LEADERS)(role, kind), ("export", kind, r.text)
        # Not even the head finds the reporter in an export: it is handed to the family.
        for secret in REPORTER_SECRETS:
            assert secret not in r.text, ("export", kind, secret)
        if r.status_code == 200:
            assert r.json()["child"]["full_name"] == CHILD_NAMES[kind]
            assert [c["code"] for c in r.json()["cases"]] == [kinds.codes[kind]]
        else:
            assert CHILD_NAMES[kind] not in r.text

        r = client.get(f"/audit/access/{kinds.codes[kind]}", headers=headers(commune, role))
        assert r.status_code == only(Role.HEAD, Role.AUDITOR)(role, kind), ("access log", kind, r.text)
        assert_no_reporter_identity(r, role)
        if r.status_code == 200:
            # The head's own export of this child a moment ago is the one read on record.
            expected = [("child.exported", commune.actors[Role.HEAD].ref)] if role == Role.HEAD else []
            assert [(e["action"], e["actor"]) for e in r.json()] == expected, kind


# --- handing a transferred case over to the receiving commune: GET /cases/{code}/handover -----


@pytest.mark.parametrize("role", EVERYONE, ids=IDS)
def test_handover_of_one_case(client: TestClient, commune: Commune, db: Database, clock: FrozenClock,
                              policy: CommunePolicy, kinds: Kinds, role: Role | None) -> None:
    """Those who change a case, on the cases they may change; 422 while it is not closed as
    transferred, whatever else. The package is handed to another commune: nobody's, not even the
    head's, holds who reported."""
    h = headers(commune, role)
    for kind in KINDS:
        r = client.get(f"/cases/{kinds.codes[kind]}/handover", headers=h)
        assert r.status_code == worker_write(role, kind, 422), ("not transferred", kind, r.text)
        assert CHILD_NAMES[kind] not in r.text
    transfer = INPUTS["close"].model_validate({"reason": "transferred", "transferred_to": "Xã Ma Trận"})
    with db.write() as s:
        for kind in KINDS:
            workflow.advance(s, clock, commune.actors[Role.CHAIR], kinds.codes[kind], "close", transfer,
                             kinds.versions[kind], policy)
    for kind in KINDS:
        r = client.get(f"/cases/{kinds.codes[kind]}/handover", headers=h)
        assert r.status_code == worker_write(role, kind, 200), ("handover", kind, r.text)
        for secret in REPORTER_SECRETS:
            assert secret not in r.text, ("handover", kind, secret)
        if r.status_code == 200:
            assert r.json()["case"]["child"]["full_name"] == CHILD_NAMES[kind]
            assert r.json()["receiving_commune"] == "Xã Ma Trận" and r.json()["view"] == "content"
        else:
            assert CHILD_NAMES[kind] not in r.text and NARRATIVE not in r.text


# --- changing a case: notes, referrals, a trigger, assignment -------------------------------


def counts(db: Database, model: Any, **where: Any) -> dict[str, int]:
    """Rows of `model` per case code, e.g. notes or referrals to one agency."""
    with db.read() as s:
        query = select(col(Case.code), func.count()).join(model, model.case_id == col(Case.id))
        for name, value in where.items():
            query = query.where(getattr(model, name) == value)
        return {code: n for code, n in s.execute(query.group_by(col(Case.code))).all()}


@pytest.mark.parametrize("role", EVERYONE, ids=IDS)
def test_change_cases(client: TestClient, commune: Commune, db: Database, kinds: Kinds,
                      role: Role | None) -> None:
    """Each change, on each kind of case, in an order where one does not hide another: a note,
    a referral to the health station (neither moves the version), the `assess` trigger, then
    assignment (with the version `assess` left)."""
    h, versions = headers(commune, role), dict(kinds.versions)
    with db.read() as s:
        tyt = s.execute(select(col(Agency.id)).where(col(Agency.code) == "TYT")).scalar_one()
    for kind in KINDS:
        code = kinds.codes[kind]
        r = client.post(f"/cases/{code}/notes", headers=h, json={"text": f"Ghi chú ma trận {kind}"})
        assert r.status_code == note_expected(role, kind), ("note", kind, r.text)
        assert_no_reporter_identity(r, role, kind)

        r = client.post(f"/cases/{code}/referrals", headers=h, json={"agency_code": "TYT"})
        assert r.status_code == worker_write(role, kind, 201), ("refer", kind, r.text)
        assert_no_reporter_identity(r, role, kind)

        r = client.post(f"/cases/{code}/transitions/assess", headers=h,
                        json={"expected_version": versions[kind],
                              "data": {"risk_level": "medium", "factors": FACTORS["medium"], "emergency": False}})
        assert r.status_code == worker_write(role, kind, 200), ("assess", kind, r.text)
        assert_no_reporter_identity(r, role, kind)
        if r.status_code == 200:
            assert r.json()["state"] == "assessed"
            versions[kind] = r.json()["version"]

        chair = commune.officials[Role.CHAIR]
        r = client.post(f"/cases/{code}/assign", headers=h,
                        json={"expected_version": versions[kind], "official_id": chair})
        assert r.status_code == assign_expected(role, kind), ("assign", kind, r.text)
        assert_no_reporter_identity(r, role, kind)

    # What was refused changed nothing; what was accepted is in the database.
    notes, to_tyt = counts(db, Note), counts(db, Referral, agency_id=tyt)
    with db.read() as s:
        cases = {c.code: c for c in s.execute(select(Case)).scalars()}
    for kind in KINDS:
        code = kinds.codes[kind]
        assert notes.get(code, 0) == (1 if note_expected(role, kind) == 201 else 0), ("note", kind)
        assert to_tyt.get(code, 0) == (1 if worker_write(role, kind, 201) == 201 else 0), ("refer", kind)
        assessed = worker_write(role, kind, 200) == 200
        assert cases[code].state == ("assessed" if assessed else "received"), ("assess", kind)
        assigned = assign_expected(role, kind) == 200
        assert (cases[code].assignee_id == commune.officials[Role.CHAIR]) is assigned, ("assign", kind)


# --- acknowledging a case's deadline (stops its alerts climbing to the head, chair, province) --


def deadline_ids(db: Database, kinds: Kinds) -> dict[str, int]:
    with db.read() as s:
        rows = s.execute(select(col(Case.code), col(Deadline.id)).join(Deadline, col(Deadline.case_id) == col(Case.id))
                         .where(col(Deadline.kind) == "initial_assessment")).all()
    by_code = dict(rows)
    return {kind: by_code[code] for kind, code in kinds.codes.items()}


@pytest.mark.parametrize("role", EVERYONE, ids=IDS)
def test_acknowledge_a_deadline(client: TestClient, commune: Commune, db: Database, kinds: Kinds,
                                role: Role | None) -> None:
    """The right to change the case, nothing less: an agency official (with or without a
    referral) or a worker on another worker's case could otherwise silence a case's alerts
    by trying sequential ids. A deadline of a case the caller cannot see answers exactly as
    an id that does not exist."""
    ids = deadline_ids(db, kinds)
    missing = max(ids.values()) + 1000
    absent = client.post(f"/deadlines/{missing}/acknowledge", headers=headers(commune, role))
    for kind in KINDS:
        r = client.post(f"/deadlines/{ids[kind]}/acknowledge", headers=headers(commune, role))
        expected = worker_write(role, kind, 200)
        if role == Role.AGENCY_OFFICIAL:
            expected = 403  # no agency official is on any deadline's ladder: refused before lookup
        assert r.status_code == expected, ("ack", kind, r.text)
        if expected == 404:
            assert r.json() == {**absent.json(), "message": absent.json()["message"].replace(
                str(missing), str(ids[kind])), "message_en": absent.json()["message_en"].replace(
                str(missing), str(ids[kind]))}, kind
        if expected != 404:
            assert absent.status_code == (404 if expected == 200 else expected), absent.text
        assert_no_reporter_identity(r, role, kind)
    with db.read() as s:
        acked = {row.id: row for row in s.execute(select(Deadline)).scalars()}
    for kind in KINDS:
        row = acked[ids[kind]]
        if worker_write(role, kind, 200) == 200 and role != Role.AGENCY_OFFICIAL:
            # Reminders and the climb stopped; only the overdue alert is still to come.
            assert role is not None and row.acknowledged_by == commune.actors[role].ref, kind
            assert row.next_alert_at == row.due_at, kind
        else:
            assert row.acknowledged_at is None and row.next_alert_at is not None, kind
            assert row.next_alert_at < row.due_at, kind  # the first reminder is still due


# --- everything that spans all cases: the worklist, its CSV, the audit trail, statistics ----

LIST_SCOPE: dict[Role, set[str]] = {
    Role.HEAD: set(KINDS), Role.CHAIR: set(KINDS), Role.CASE_WORKER: {OWN, UNASSIGNED},
    Role.AGENCY_OFFICIAL: {REFERRED}}


@pytest.mark.parametrize("role", EVERYONE, ids=IDS)
def test_endpoints_over_all_cases(client: TestClient, commune: Commune, kinds: Kinds,
                                  role: Role | None) -> None:
    h = headers(commune, role)
    names = {code: kind for kind, code in kinds.codes.items()}
    private = (*REPORTER_SECRETS, NARRATIVE, "Trẻ Ma Trận", "2016-05-01")

    # GET /cases: lists never carry narrative or identity, whoever reads them (the head too).
    r = client.get("/cases", headers=h, params={"page_size": 100})
    if role in LIST_SCOPE:
        assert r.status_code == 200, r.text
        assert {names[item["code"]] for item in r.json()["items"]} == LIST_SCOPE[role]
        assert r.json()["total"] == len(LIST_SCOPE[role])
        assert all(set(item) == set(CaseSummary.model_fields) for item in r.json()["items"])
    else:
        assert r.status_code == (401 if role is PUBLIC else 403), r.text
        assert not any(code in r.text for code in kinds.codes.values())
    for secret in private:
        assert secret not in r.text, ("list", secret)

    # GET /exports/worklist.csv: the same rows as the list, for those who work cases.
    r = client.get("/exports/worklist.csv", headers=h)
    expected = 401 if role is PUBLIC else 200 if role in (Role.CASE_WORKER, *LEADERS) else 403
    assert r.status_code == expected, ("csv", r.text)
    if expected == 200:
        assert r.headers["content-type"].startswith("text/csv")
        rows = list(csv.reader(io.StringIO(r.text.removeprefix("\ufeff"))))
        assert role is not None and {names[row[0]] for row in rows[1:]} == LIST_SCOPE[role]
    else:
        assert not any(code in r.text for code in kinds.codes.values())
    for secret in private:
        assert secret not in r.text, ("csv", secret)

    # GET /audit/events: the auditor only; events name cases but carry no private data.
    r = client.get("/audit/events", headers=h, params={"limit": 500})
    assert r.status_code == only(Role.AUDITOR)(role, ""), ("events", r.text)
    if r.status_code == 200:
        assert {e["case"] for e in r.json() if e["case"]} == set(kinds.codes.values())
    for secret in private:
        assert secret not in r.text, ("events", secret)

    # GET /stats: counts only.
    r = client.get("/stats", headers=h)
    assert r.status_code == only(Role.AUDITOR, Role.HEAD, Role.CHAIR)(role, ""), ("stats", r.text)
    if r.status_code == 200:
        assert r.json()["cases"] == 4 and r.json()["cases_by_state"] == {"received": 4}
    for secret in private:
        assert secret not in r.text, ("stats", secret)

    # GET /hotline/reports/{ref}: the 111 key reads its own report's status; nobody else may ask.
    sent = client.post("/reports", json=hotline_report("111-MATRIX-1"), headers=commune.headers(Role.HOTLINE))
    assert sent.status_code == 201, sent.text
    r = client.get("/hotline/reports/111-MATRIX-1", headers=h)
    assert r.status_code == only(Role.HOTLINE)(role, ""), ("hotline", r.text)
    if r.status_code == 200:
        assert r.json()["case_code"] == sent.json()["case_code"]
    else:
        assert sent.json()["case_code"] not in r.text

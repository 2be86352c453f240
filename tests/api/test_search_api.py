"""`GET /search/cases`: finding a case by the child's name or the reporter's phone through the
blind indexes, who may search by what, and what the audit trail keeps of a search.

- A name finds the case whatever its case and spacing, not without its diacritics; a phone finds
  it in any usual form. Nothing is found by a name or phone that was never recorded.
- By name: case worker, head, chair; by phone: the head only; others 403. A case worker finds
  only the cases they may see (their own and unassigned ones).
- Answers are worklist rows: no narrative, no identity.
- Each search is an audit event holding the HMAC of the term and the codes found, never the term.
"""

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from models import AuditEvent, Database
from models.enums import Role
from tests.conftest import Commune, staff_report

NAME = "Lương Thị Tìmthấy"
PHONE = "0912 777 888"
SEARCHERS_BY_NAME = [Role.CASE_WORKER, Role.HEAD, Role.CHAIR]
NOT_BY_NAME = [r for r in Role if r not in SEARCHERS_BY_NAME]


def _report(client: TestClient, commune: Commune, name: str = NAME, phone: str = PHONE) -> str:
    r = client.post("/reports", headers=commune.headers(Role.INTAKE_OPERATOR), json=staff_report(
        child={"full_name": name, "birth_date": "2015-06-01", "sex": "female"},
        reporter={"full_name": "Người Gọi Điện", "phone": phone}))
    assert r.status_code == 201, r.text
    return str(r.json()["case_code"])


def _search(client: TestClient, commune: Commune, role: Role, **params: str) -> Any:
    return client.get("/search/cases", params=params, headers=commune.headers(role))


def _codes(r: Any) -> list[str]:
    assert r.status_code == 200, r.text
    return [item["code"] for item in r.json()["items"]]


@pytest.mark.parametrize("role", SEARCHERS_BY_NAME)
def test_a_name_finds_the_case_whatever_its_case_and_spacing(client: TestClient, commune: Commune,
                                                             role: Role) -> None:
    code = _report(client, commune)
    _report(client, commune, name="Lương Thị Khác")
    for term in (NAME, NAME.upper(), "  lương   thị  tìmthấy "):
        assert _codes(_search(client, commune, role, child_name=term)) == [code]
    assert _codes(_search(client, commune, role, child_name="Luong Thi Timthay")) == []  # diacritics count
    assert _codes(_search(client, commune, role, child_name="Lương Thị")) == []  # whole names only


def test_the_head_finds_cases_by_the_reporters_phone_in_any_usual_form(client: TestClient,
                                                                       commune: Commune) -> None:
    first = _report(client, commune)
    second = _report(client, commune, name="Lương Văn Thứhai")
    _report(client, commune, name="Lương Văn Khác", phone="0912 000 111")
    for term in ("0912777888", "+84 912 777 888", "84912777888"):
        assert sorted(_codes(_search(client, commune, Role.HEAD, reporter_phone=term))) == sorted([first, second])
    assert _codes(_search(client, commune, Role.HEAD, reporter_phone="0912 999 999")) == []


@pytest.mark.parametrize("role", NOT_BY_NAME)
def test_other_roles_may_not_search_by_name(client: TestClient, commune: Commune, role: Role) -> None:
    _report(client, commune)
    r = _search(client, commune, role, child_name=NAME)
    assert r.status_code == 403 and r.json()["code"] == "forbidden"


@pytest.mark.parametrize("role", [r for r in Role if r != Role.HEAD])
def test_only_the_head_may_search_by_phone(client: TestClient, commune: Commune, role: Role) -> None:
    _report(client, commune)
    r = _search(client, commune, role, reporter_phone=PHONE)
    assert r.status_code == 403 and r.json()["code"] == "forbidden"
    assert NAME not in r.text


def test_a_case_worker_finds_only_cases_they_may_see(client: TestClient, commune: Commune) -> None:
    code = _report(client, commune)
    assert _codes(_search(client, commune, Role.CASE_WORKER, child_name=NAME)) == [code]  # unassigned
    r = client.post(f"/cases/{code}/assign", headers=commune.headers(Role.HEAD),
                    json={"official_id": commune.officials[Role.CHAIR], "expected_version": 1})
    assert r.status_code == 200, r.text
    assert _codes(_search(client, commune, Role.CASE_WORKER, child_name=NAME)) == []
    assert _codes(_search(client, commune, Role.HEAD, child_name=NAME)) == [code]


def test_results_are_worklist_rows_without_narrative_or_identity(client: TestClient, commune: Commune) -> None:
    code = _report(client, commune)
    body = _search(client, commune, Role.HEAD, child_name=NAME).json()
    assert body["truncated"] is False
    [item] = body["items"]
    assert item["code"] == code and item["state"] == "received" and item["place_code"] == "DONG-AN"
    assert item["abuse_forms"] == ["violence"]
    assert set(item) == {"code", "state", "risk_level", "emergency", "assignee_id", "place_code",
                         "abuse_forms", "received_at", "updated_at", "flags", "version"}
    text_ = json.dumps(body, ensure_ascii=False)
    assert NAME not in text_ and "Người Gọi Điện" not in text_ and "+84912777888" not in text_


def test_each_search_is_audited_with_the_hmac_of_the_term_never_the_term(
        client: TestClient, commune: Commune, db: Database) -> None:
    code = _report(client, commune)
    _codes(_search(client, commune, Role.CASE_WORKER, child_name=NAME))
    _codes(_search(client, commune, Role.HEAD, reporter_phone=PHONE))
    with db.read() as s:
        events = s.execute(select(AuditEvent).where(AuditEvent.action == "case.searched")
                           .order_by(AuditEvent.seq)).scalars().all()
        stored_name_index = s.execute(text("SELECT name_index FROM child")).scalar_one()
        raw = " ".join(str(v) for row in s.execute(text("SELECT * FROM audit_event")) for v in row)
    assert [e.actor for e in events] == [commune.actors[Role.CASE_WORKER].ref, commune.actors[Role.HEAD].ref]
    by_name, by_phone = (json.loads(e.after) for e in events)
    assert by_name == {"by": "child_name", "term_hmac": stored_name_index, "results": [code]}
    assert by_phone["by"] == "reporter_phone" and by_phone["results"] == [code]
    for term in (NAME, NAME.casefold(), "0912777888", "+84912777888", "912777888"):
        assert term not in raw


@pytest.mark.parametrize(("params", "field", "rule"), [
    ({}, "child_name", "exactly_one_term"),
    ({"child_name": NAME, "reporter_phone": PHONE}, "child_name", "exactly_one_term"),
    ({"child_name": "   "}, "child_name", "not_blank"),
    ({"reporter_phone": "12"}, "reporter_phone", "valid_phone"),
])
def test_a_bad_search_names_the_field_and_the_rule(client: TestClient, commune: Commune,
                                                   params: dict[str, str], field: str, rule: str) -> None:
    r = _search(client, commune, Role.HEAD, **params)
    assert r.status_code == 422, r.text
    assert (r.json()["field"], r.json()["rule"]) == (field, rule)


def test_search_needs_credentials(client: TestClient) -> None:
    assert client.get("/search/cases", params={"child_name": NAME}).status_code == 401

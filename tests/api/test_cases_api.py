"""The case endpoints: the worklist and its filters, one case, assignment, notes, ending a service."""

import unicodedata
from datetime import UTC, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from api.schemas import CaseDetail, CaseSummary
from models import Database, Official
from models.enums import Role
from tests.conftest import T0, Commune, staff_report
from tests.payloads import CONSENT, DETAIL, FACTORS, measures


def report(client: TestClient, commune: Commune, **overrides: Any) -> str:
    r = client.post("/reports", json=staff_report(**overrides), headers=commune.headers(Role.INTAKE_OPERATOR))
    assert r.status_code == 201, r.json()
    return str(r.json()["case_code"])


def fire(client: TestClient, commune: Commune, role: Role, code: str, trigger: str, version: int,
         **data: Any) -> int:
    r = client.post(f"/cases/{code}/transitions/{trigger}", headers=commune.headers(role),
                    json={"expected_version": version, "data": data})
    assert r.status_code == 200, r.json()
    return int(r.json()["version"])


def assign(client: TestClient, commune: Commune, code: str, version: int, official_id: int,
           role: Role = Role.HEAD) -> Any:
    return client.post(f"/cases/{code}/assign", headers=commune.headers(role),
                       json={"expected_version": version, "official_id": official_id})


def detail(client: TestClient, commune: Commune, code: str) -> dict[str, Any]:
    r = client.get(f"/cases/{code}", headers=commune.headers(Role.HEAD))
    assert r.status_code == 200, r.json()
    return r.json()


def at(delta: timedelta) -> str:
    return (T0 + delta).isoformat()


@pytest.fixture
def three(client: TestClient, commune: Commune) -> dict[str, str]:
    """A: assessed, assigned to the case worker, DONG-AN, violence, an hour ago.
    B: received, TAY-BINH, neglect + sexual abuse, a day ago.
    C: received, assigned to the head, TAY-BINH, violence, two days ago."""
    a = report(client, commune, child={"full_name": "Trẻ Danh Sách A"})
    b = report(client, commune, place_code="TAY-BINH", abuse_forms=["neglect", "sexual_abuse"],
               received_at=at(-timedelta(days=1)), child={"full_name": "Trẻ Danh Sách B"})
    c = report(client, commune, place_code="TAY-BINH", received_at=at(-timedelta(days=2)),
               child={"full_name": "Trẻ Danh Sách C"})
    v = fire(client, commune, Role.CASE_WORKER, a, "assess", 1, risk_level="medium", factors=FACTORS["medium"],
             emergency=False)
    assert assign(client, commune, a, v, commune.officials[Role.CASE_WORKER]).status_code == 200
    assert assign(client, commune, c, 1, commune.officials[Role.HEAD]).status_code == 200
    return {"A": a, "B": b, "C": c}


def listed(client: TestClient, commune: Commune, three: dict[str, str], **params: Any) -> list[str]:
    r = client.get("/cases", params=params, headers=commune.headers(Role.HEAD))
    assert r.status_code == 200, r.json()
    names = {v: k for k, v in three.items()}
    assert r.json()["total"] == len(r.json()["items"])
    return [names[item["code"]] for item in r.json()["items"]]


# --- the worklist --------------------------------------------------------------------------


def test_list_without_filters_is_newest_received_first(client: TestClient, commune: Commune,
                                                       three: dict[str, str]) -> None:
    assert listed(client, commune, three) == ["A", "B", "C"]


SINGLE_FILTERS: list[tuple[dict[str, Any], list[str]]] = [
    ({"state": "assessed"}, ["A"]),
    ({"state": "received"}, ["B", "C"]),
    ({"state": "closed"}, []),
    ({"place": "TAY-BINH"}, ["B", "C"]),
    ({"place": "DONG-AN"}, ["A"]),
    ({"place": "NOWHERE"}, []),
    ({"abuse_form": "violence"}, ["A", "C"]),
    ({"abuse_form": "sexual_abuse"}, ["B"]),
    ({"received_from": at(-timedelta(hours=36))}, ["A", "B"]),
    ({"received_to": at(-timedelta(days=1))}, ["C"]),  # the upper bound is exclusive
    # The same instant written in UTC selects the same cases.
    ({"received_from": (T0 - timedelta(hours=36)).astimezone(UTC).isoformat()}, ["A", "B"]),
]

COMBINED_FILTERS: list[tuple[dict[str, Any], list[str]]] = [
    ({"place": "TAY-BINH", "abuse_form": "violence"}, ["C"]),
    ({"state": "received", "received_from": at(-timedelta(hours=36))}, ["B"]),
    ({"abuse_form": "violence", "received_from": at(-timedelta(days=3)),
      "received_to": at(-timedelta(hours=2))}, ["C"]),
    ({"state": "assessed", "place": "TAY-BINH"}, []),
]


def test_each_filter_alone(client: TestClient, commune: Commune, three: dict[str, str]) -> None:
    for params, expected in SINGLE_FILTERS:
        assert listed(client, commune, three, **params) == expected, params


def test_assignee_filter(client: TestClient, commune: Commune, three: dict[str, str]) -> None:
    assert listed(client, commune, three, assignee_id=commune.officials[Role.CASE_WORKER]) == ["A"]
    assert listed(client, commune, three, assignee_id=commune.officials[Role.HEAD]) == ["C"]
    assert listed(client, commune, three, assignee_id=commune.officials[Role.CHAIR]) == []


def test_filters_combine_with_and(client: TestClient, commune: Commune, three: dict[str, str]) -> None:
    for params, expected in COMBINED_FILTERS:
        assert listed(client, commune, three, **params) == expected, params
    assert listed(client, commune, three, place="TAY-BINH",
                  assignee_id=commune.officials[Role.HEAD]) == ["C"]


def test_paging_reports_the_total_and_slices_in_order(client: TestClient, commune: Commune,
                                                      three: dict[str, str]) -> None:
    h = commune.headers(Role.HEAD)
    pages = [client.get("/cases", params={"page": p, "page_size": 2}, headers=h).json() for p in (1, 2, 3)]
    assert [[i["code"] for i in page["items"]] for page in pages] == [
        [three["A"], three["B"]], [three["C"]], []]
    assert {(p["total"], p["page_size"]) for p in pages} == {(3, 2)}
    assert [p["page"] for p in pages] == [1, 2, 3]


BAD_PARAMS: list[tuple[dict[str, Any], str, str]] = [
    ({"page_size": 101}, "page_size", "less_than_equal"),
    ({"page_size": 0}, "page_size", "greater_than_equal"),
    ({"page": 0}, "page", "greater_than_equal"),
    ({"state": "lost"}, "state", "enum"),
    ({"abuse_form": "beating"}, "abuse_form", "enum"),
    ({"received_from": "2026-03-01T00:00:00"}, "received_from", "timezone_aware"),
    ({"received_to": "yesterday"}, "received_to", "datetime_from_date_parsing"),
    ({"assignee_id": "me"}, "assignee_id", "int_parsing"),
]


def test_bad_list_parameters_are_422_naming_the_parameter(client: TestClient, commune: Commune) -> None:
    for params, field, rule in BAD_PARAMS:
        r = client.get("/cases", params=params, headers=commune.headers(Role.HEAD))
        assert r.status_code == 422, (params, r.json())
        assert r.json()["code"] == "validation_error"
        assert (r.json()["field"], r.json()["rule"]) == (f"query.{field}", rule), params


def test_page_size_of_100_is_allowed(client: TestClient, commune: Commune, three: dict[str, str]) -> None:
    r = client.get("/cases", params={"page_size": 100}, headers=commune.headers(Role.HEAD))
    assert r.status_code == 200 and r.json()["total"] == 3


def test_list_items_carry_no_narrative_and_no_identity(client: TestClient, commune: Commune,
                                                       three: dict[str, str]) -> None:
    r = client.get("/cases", headers=commune.headers(Role.HEAD))
    for item in r.json()["items"]:
        assert set(item) == set(CaseSummary.model_fields)
    for secret in ("Trẻ Danh Sách", "Hàng xóm nghe thấy", "Người Báo Tin", "900000999", "2016-05-01"):
        assert secret not in r.text


def test_who_may_not_read_cases(client: TestClient, commune: Commune) -> None:
    code = report(client, commune)
    for role, status in ((Role.INTAKE_OPERATOR, 403), (Role.HOTLINE, 403), (Role.AUDITOR, 403),
                         (Role.ADMIN, 403), (None, 401)):
        h = commune.headers(role) if role else {}
        assert client.get("/cases", headers=h).status_code == status, role
        assert client.get(f"/cases/{code}", headers=h).status_code == status, role
    # An agency official reads only what is referred to their agency: nothing yet.
    h = commune.headers(Role.AGENCY_OFFICIAL)
    assert client.get("/cases", headers=h).json()["items"] == []
    assert client.get(f"/cases/{code}", headers=h).status_code == 404  # as a missing case
    assert client.get("/cases", headers={"Authorization": "Bearer kt_unknown"}).status_code == 401


# --- one case ------------------------------------------------------------------------------


def test_detail_shape(client: TestClient, commune: Commune) -> None:
    code = report(client, commune)
    case = detail(client, commune, code)
    assert set(case) == set(CaseDetail.model_fields)
    assert case["code"] == code and case["state"] == "received" and case["version"] == 1
    assert case["child"] == {"full_name": "Nguyễn Văn Thử", "birth_date": "2016-05-01",
                             "estimated_age": None, "sex": "male"}
    assert case["place_code"] == "DONG-AN" and case["abuse_forms"] == ["violence"]
    [rep] = case["reports"]
    assert rep["narrative"].startswith("Hàng xóm") and rep["has_reporter"] is True
    assert "phone" not in rep  # the reporter is not part of the report section
    # The head sees who reported (Luật Tố cáo: only those who must contact them do).
    assert case["view"] == "full" and case["withheld"] == []
    assert case["reporters"] == [{"report_id": rep["id"], "full_name": "Người Báo Tin",
                                  "phone": "+84900000999", "address": None, "relation": "hàng xóm"}]
    assert case["allowed_triggers"] == ["assess", "decide_emergency", "record_emergency", "record_consent", "close",
                                      "propose_closure", "extend_separation", "end_separation"]
    assert [(e["seq"], e["action"]) for e in case["timeline"]][-1][1] == "case.opened"


@pytest.mark.parametrize(("code", "status"), [("NH-2026-999999", 404), ("nh-2026-000001", 422),
                                              ("X" * 33, 422)])
def test_unknown_or_malformed_case_code(client: TestClient, commune: Commune, code: str, status: int) -> None:
    report(client, commune)
    r = client.get(f"/cases/{code}", headers=commune.headers(Role.HEAD))
    assert r.status_code == status and "code" in r.json()


# --- assignment ----------------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.HEAD, Role.CHAIR])
def test_head_or_chair_assigns_and_the_version_moves(client: TestClient, commune: Commune,
                                                     role: Role) -> None:
    code = report(client, commune)
    worker = commune.officials[Role.CASE_WORKER]
    r = assign(client, commune, code, 1, worker, role)
    assert r.status_code == 200, r.json()
    assert r.json()["version"] == 2
    case = detail(client, commune, code)
    assert case["assignee_id"] == worker and case["timeline"][-1]["action"] == "case.assigned"


def test_assign_with_a_stale_version_is_409_and_changes_nothing(client: TestClient, commune: Commune) -> None:
    code = report(client, commune)
    assert assign(client, commune, code, 1, commune.officials[Role.CASE_WORKER]).status_code == 200
    r = assign(client, commune, code, 1, commune.officials[Role.HEAD])
    assert r.status_code == 409 and r.json()["code"] == "stale_version"
    assert r.json()["current_version"] == 2
    assert detail(client, commune, code)["assignee_id"] == commune.officials[Role.CASE_WORKER]


def test_assign_to_an_unknown_or_inactive_official_is_422(client: TestClient, commune: Commune,
                                                         db: Database) -> None:
    code = report(client, commune)
    gone = commune.officials[Role.AGENCY_OFFICIAL]
    with db.write() as s:
        s.execute(update(Official).where(Official.id == gone).values(active=False))  # type: ignore[arg-type]
    for official_id in (9999, gone):
        r = assign(client, commune, code, 1, official_id)
        assert r.status_code == 422, r.json()
        assert (r.json()["field"], r.json()["rule"]) == ("official_id", "active_official")
    case = detail(client, commune, code)
    assert case["assignee_id"] is None and case["version"] == 1


@pytest.mark.parametrize("role", [Role.CASE_WORKER, Role.INTAKE_OPERATOR, Role.AGENCY_OFFICIAL])
def test_only_head_or_chair_may_assign(client: TestClient, commune: Commune, role: Role) -> None:
    code = report(client, commune)
    r = assign(client, commune, code, 1, commune.officials[Role.CASE_WORKER], role)
    assert r.status_code == 403 and r.json()["code"] == "forbidden"
    assert detail(client, commune, code)["assignee_id"] is None


def test_assign_unknown_case_is_404(client: TestClient, commune: Commune) -> None:
    assert assign(client, commune, "NH-2026-000404", 1, commune.officials[Role.HEAD]).status_code == 404


# --- notes ---------------------------------------------------------------------------------


def test_note_is_stored_as_nfc_audited_and_leaves_the_version(client: TestClient, commune: Commune) -> None:
    code = report(client, commune)
    text = "Đã gặp mẹ của trẻ; gia đình hợp tác."
    nfd = unicodedata.normalize("NFD", text)
    assert nfd != text
    r = client.post(f"/cases/{code}/notes", json={"text": nfd}, headers=commune.headers(Role.CASE_WORKER))
    assert r.status_code == 201, r.json()
    assert set(r.json()) == {"id", "written_at"}
    case = detail(client, commune, code)
    assert [n["text"] for n in case["notes"]] == [text]
    assert case["notes"][0]["id"] == r.json()["id"]
    assert case["timeline"][-1]["action"] == "case.note_added" and case["version"] == 1


@pytest.mark.parametrize(("text", "rule"), [("x" * 5001, "string_too_long"), (" \n ", "string_too_short"),
                                            ("ghi chú\x07", "value_error")])
def test_bad_note_is_422_and_not_stored(client: TestClient, commune: Commune, text: str, rule: str) -> None:
    code = report(client, commune)
    r = client.post(f"/cases/{code}/notes", json={"text": text}, headers=commune.headers(Role.CASE_WORKER))
    assert r.status_code == 422 and (r.json()["field"], r.json()["rule"]) == ("text", rule)
    case = detail(client, commune, code)
    assert case["notes"] == [] and [e["action"] for e in case["timeline"]] == ["case.opened"]


def test_note_of_5000_characters_is_accepted(client: TestClient, commune: Commune) -> None:
    code = report(client, commune)
    r = client.post(f"/cases/{code}/notes", json={"text": "ồ" * 5000}, headers=commune.headers(Role.HEAD))
    assert r.status_code == 201, r.json()


def test_intake_operator_may_not_write_notes(client: TestClient, commune: Commune) -> None:
    code = report(client, commune)
    r = client.post(f"/cases/{code}/notes", json={"text": "x"}, headers=commune.headers(Role.INTAKE_OPERATOR))
    assert r.status_code == 403


# --- ending a service ----------------------------------------------------------------------


def supported_case(client: TestClient, commune: Commune, name: str) -> tuple[str, int]:
    code = report(client, commune, child={"full_name": name})
    v = fire(client, commune, Role.CASE_WORKER, code, "assess", 1, risk_level="high", factors=FACTORS["high"],
             emergency=False)
    v = fire(client, commune, Role.CASE_WORKER, code, "detail_assess", v, **DETAIL)
    v = fire(client, commune, Role.CASE_WORKER, code, "submit_plan", v, goals="An toàn", measures=measures("Tư vấn"))
    v = fire(client, commune, Role.CHAIR, code, "approve_plan", v)
    v = fire(client, commune, Role.CASE_WORKER, code, "record_consent", v, **CONSENT)
    fire(client, commune, Role.CASE_WORKER, code, "start_service", v,
         kind="psychological", agency_code="TYT", started_on="2026-03-03", measure_no=1)
    [service] = detail(client, commune, code)["services"]
    return code, int(service["id"])


def end(client: TestClient, commune: Commune, code: str, service_id: int, ended_on: str,
        role: Role = Role.CASE_WORKER) -> Any:
    return client.post(f"/cases/{code}/services/{service_id}/end", json={"ended_on": ended_on},
                       headers=commune.headers(role))


def test_end_service_once_then_422(client: TestClient, commune: Commune) -> None:
    code, sid = supported_case(client, commune, "Trẻ Dịch Vụ")
    r = end(client, commune, code, sid, "2026-03-03")  # the day it started is allowed
    assert r.status_code == 204, r.text
    case = detail(client, commune, code)
    assert case["services"][0]["ended_on"] == "2026-03-03"
    assert case["timeline"][-1]["action"] == "case.service_ended"
    again = end(client, commune, code, sid, "2026-03-20")
    assert again.status_code == 422 and again.json()["rule"] == "not_already_ended"
    assert detail(client, commune, code)["services"][0]["ended_on"] == "2026-03-03"


def test_end_service_before_it_started_is_422(client: TestClient, commune: Commune) -> None:
    code, sid = supported_case(client, commune, "Trẻ Dịch Vụ")
    r = end(client, commune, code, sid, "2026-03-02")
    assert r.status_code == 422 and (r.json()["field"], r.json()["rule"]) == ("ended_on", "not_before_start")
    assert detail(client, commune, code)["services"][0]["ended_on"] is None


def test_end_service_of_another_case_is_404(client: TestClient, commune: Commune) -> None:
    code, sid = supported_case(client, commune, "Trẻ Dịch Vụ Một")
    other, other_sid = supported_case(client, commune, "Trẻ Dịch Vụ Hai")
    assert end(client, commune, code, other_sid, "2026-03-10").status_code == 404
    assert end(client, commune, code, 9999, "2026-03-10").status_code == 404
    assert detail(client, commune, other)["services"][0]["ended_on"] is None


def test_end_service_needs_a_case_writer(client: TestClient, commune: Commune) -> None:
    code, sid = supported_case(client, commune, "Trẻ Dịch Vụ")
    assert end(client, commune, code, sid, "2026-03-10", Role.INTAKE_OPERATOR).status_code == 403
    r = client.post(f"/cases/{code}/services/{sid}/end", json={"ended_on": "10/03/2026"},
                    headers=commune.headers(Role.CASE_WORKER))
    assert r.status_code == 422 and r.json()["field"] == "ended_on"

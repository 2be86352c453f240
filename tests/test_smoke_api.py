"""The whole lifecycle through the HTTP API, received to closed, as a case worker lives it."""

from fastapi.testclient import TestClient

from models.enums import Role
from tests.conftest import Commune, staff_report
from tests.payloads import CONSENT, DETAIL, FACTORS, measures


def fire(client: TestClient, commune: Commune, role: Role, code: str, trigger: str,
         version: int, **data: object) -> dict:
    r = client.post(f"/cases/{code}/transitions/{trigger}", headers=commune.headers(role),
                    json={"expected_version": version, "data": data})
    assert r.status_code == 200, r.json()
    return r.json()


def test_case_goes_from_received_to_closed_through_the_api(client: TestClient, commune: Commune) -> None:
    r = client.post("/reports", json=staff_report(), headers=commune.headers(Role.INTAKE_OPERATOR))
    assert r.status_code == 201, r.json()
    code = r.json()["case_code"]
    assert code == "NH-2026-000001"
    v = fire(client, commune, Role.CASE_WORKER, code, "assess", 1, risk_level="high", factors=FACTORS["high"],
             emergency=False)
    assert v["state"] == "assessed"
    v = fire(client, commune, Role.CASE_WORKER, code, "detail_assess", v["version"], **DETAIL)
    v = fire(client, commune, Role.CASE_WORKER, code, "submit_plan", v["version"], goals="An toàn",
             measures=measures("Tư vấn"))
    v = fire(client, commune, Role.CHAIR, code, "approve_plan", v["version"])
    assert v["state"] == "intervened"
    v = fire(client, commune, Role.CASE_WORKER, code, "record_consent", v["version"], **CONSENT)
    v = fire(client, commune, Role.CASE_WORKER, code, "start_service", v["version"],
             kind="psychological", agency_code="TYT", started_on="2026-03-03", measure_no=1)
    assert v["state"] == "supported"
    v = fire(client, commune, Role.CASE_WORKER, code, "review", v["version"],
             findings="Ổn định", risk_level="low", factors=FACTORS["low"], outcome="close")
    v = fire(client, commune, Role.CHAIR, code, "close", v["version"], reason="no_longer_at_risk")
    assert v["state"] == "closed" and v["allowed_triggers"] == ["reopen"]
    detail = client.get(f"/cases/{code}", headers=commune.headers(Role.HEAD)).json()
    assert [e["action"] for e in detail["timeline"]] == [
        "case.opened", "case.assess", "case.detail_assess", "case.submit_plan", "case.approve_plan",
        "case.record_consent", "case.start_service", "case.review", "case.close"]

"""The commune's directory through the API: thôn, agencies, officials. Admins write; staff read."""

import unicodedata
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.schemas import AgencyOut, OfficialOut, PlaceOut
from models import AuditEvent, Database
from models.enums import Role
from tests.conftest import Commune, staff_report

NEW_PLACE = {"code": "BAC-SON", "name": "Thôn Bắc Sơn"}
NEW_AGENCY = {"code": "THCS", "name_vi": "Trường THCS xã", "name_en": "Lower secondary school",
              "kind": "school"}
NEW_OFFICIAL = {"full_name": "Phạm Thị Thử", "agency_code": "TYT", "title": "Y sĩ",
                "phone": "0900004321"}


def create(client: TestClient, commune: Commune, path: str, body: dict[str, Any],
           role: Role = Role.ADMIN) -> Any:
    return client.post(path, json=body, headers=commune.headers(role))


def read(client: TestClient, commune: Commune, path: str, role: Role = Role.CASE_WORKER) -> Any:
    r = client.get(path, headers=commune.headers(role))
    assert r.status_code == 200, r.json()
    return r.json()


def audit_actions(db: Database) -> list[str]:
    with db.read() as s:
        return list(s.execute(select(AuditEvent.action).order_by(AuditEvent.seq)).scalars())


# --- places --------------------------------------------------------------------------------


def test_admin_creates_a_place_and_staff_see_it(client: TestClient, commune: Commune, db: Database) -> None:
    nfd = {**NEW_PLACE, "name": unicodedata.normalize("NFD", NEW_PLACE["name"])}
    r = create(client, commune, "/places", nfd)
    assert r.status_code == 201, r.json()
    assert {k: r.json()[k] for k in NEW_PLACE} == NEW_PLACE  # name stored as NFC
    assert set(r.json()) == set(PlaceOut.model_fields)
    places = read(client, commune, "/places")
    assert [p["code"] for p in places] == ["BAC-SON", "DONG-AN", "TAY-BINH"]
    assert audit_actions(db)[-1] == "place.created"


def test_a_new_place_can_be_named_in_a_report(client: TestClient, commune: Commune) -> None:
    body = staff_report(place_code="BAC-SON")
    intake = commune.headers(Role.INTAKE_OPERATOR)
    assert client.post("/reports", json=body, headers=intake).json()["rule"] == "known_place"
    assert create(client, commune, "/places", NEW_PLACE).status_code == 201
    assert client.post("/reports", json=body, headers=intake).status_code == 201


@pytest.mark.parametrize(("body", "field", "rule"), [
    ({"code": "DONG-AN", "name": "Trùng mã"}, "code", "unique"),
    ({"code": " DONG-AN ", "name": "Trùng mã có khoảng trắng"}, "code", "unique"),
    ({"code": "BAC SON", "name": "Mã có dấu cách"}, "code", "string_pattern_mismatch"),
    ({"code": "BẮC-SƠN", "name": "Mã có dấu"}, "code", "string_pattern_mismatch"),
    ({"code": "X" * 33, "name": "Mã dài"}, "code", "string_too_long"),
    ({"code": "BAC-SON"}, "name", "missing"),
    ({"code": "BAC-SON", "name": "  "}, "name", "string_too_short"),
    ({"code": "BAC-SON", "name": "Bắc Sơn", "district": "X"}, "district", "extra_forbidden"),
])
def test_bad_place_is_422_naming_the_field(client: TestClient, commune: Commune, body: dict[str, Any],
                                           field: str, rule: str) -> None:
    r = create(client, commune, "/places", body)
    assert r.status_code == 422, r.json()
    assert (r.json()["field"], r.json()["rule"]) == (field, rule)
    assert [p["code"] for p in read(client, commune, "/places")] == ["DONG-AN", "TAY-BINH"]


# --- agencies ------------------------------------------------------------------------------


def test_admin_creates_an_agency_and_staff_see_it(client: TestClient, commune: Commune, db: Database) -> None:
    r = create(client, commune, "/agencies", NEW_AGENCY)
    assert r.status_code == 201, r.json()
    assert {k: r.json()[k] for k in NEW_AGENCY} == NEW_AGENCY
    agencies = read(client, commune, "/agencies", Role.AGENCY_OFFICIAL)
    assert [a["code"] for a in agencies] == ["CA", "THCS", "TYT", "UBND", "VHXH"]
    assert set(agencies[0]) == set(AgencyOut.model_fields)
    assert audit_actions(db)[-1] == "agency.created"


@pytest.mark.parametrize(("override", "field", "rule"), [
    ({"code": "TYT"}, "code", "unique"),
    ({"kind": "army"}, "kind", "enum"),
    ({"name_en": None}, "name_en", "string_type"),
])
def test_bad_agency_is_422(client: TestClient, commune: Commune, override: dict[str, Any],
                           field: str, rule: str) -> None:
    r = create(client, commune, "/agencies", {**NEW_AGENCY, **override})
    assert r.status_code == 422, r.json()
    assert (r.json()["field"], r.json()["rule"]) == (field, rule)
    assert len(read(client, commune, "/agencies")) == 4


# --- officials -----------------------------------------------------------------------------


def test_admin_creates_an_official_with_an_e164_phone(client: TestClient, commune: Commune,
                                                      db: Database) -> None:
    r = create(client, commune, "/officials", NEW_OFFICIAL)
    assert r.status_code == 201, r.json()
    expected = {"full_name": "Phạm Thị Thử", "agency_code": "TYT", "title": "Y sĩ",
                "phone": "+84900004321", "language": "vi", "active": True}
    assert {k: r.json()[k] for k in expected} == expected
    assert set(r.json()) == set(OfficialOut.model_fields)
    listed = read(client, commune, "/officials", Role.HEAD)
    assert r.json() in listed
    assert len(listed) == len(commune.officials) + 1
    assert audit_actions(db)[-1] == "official.created"


def test_officials_can_be_listed_by_agency(client: TestClient, commune: Commune) -> None:
    create(client, commune, "/officials", NEW_OFFICIAL)
    tyt = read(client, commune, "/officials?agency=TYT")
    assert [o["full_name"] for o in tyt] == ["Phạm Thị Thử"]
    vhxh = read(client, commune, "/officials?agency=VHXH")
    assert {o["id"] for o in vhxh} == {commune.officials[Role.CASE_WORKER], commune.officials[Role.HEAD]}
    assert read(client, commune, "/officials?agency=NOPE") == []


@pytest.mark.parametrize(("override", "field", "rule"), [
    ({"phone": "12345"}, "phone", "value_error"),
    ({"phone": "điện thoại"}, "phone", "value_error"),
    ({"phone": "+8490000" + "1" * 20}, "phone", "string_too_long"),
    ({"agency_code": "NOPE"}, "agency_code", "known_agency"),
    ({"language": "fr"}, "language", "enum"),
    ({"full_name": "A" * 121}, "full_name", "string_too_long"),
])
def test_bad_official_is_422_naming_the_field(client: TestClient, commune: Commune,
                                              override: dict[str, Any], field: str, rule: str) -> None:
    r = create(client, commune, "/officials", {**NEW_OFFICIAL, **override})
    assert r.status_code == 422, r.json()
    assert (r.json()["field"], r.json()["rule"]) == (field, rule)
    assert len(read(client, commune, "/officials")) == len(commune.officials)


# --- who may -------------------------------------------------------------------------------


WRITES = [("/places", NEW_PLACE), ("/agencies", NEW_AGENCY), ("/officials", NEW_OFFICIAL)]


@pytest.mark.parametrize(("path", "body"), WRITES)
def test_only_an_admin_may_write_the_directory(client: TestClient, commune: Commune, path: str,
                                               body: dict[str, Any]) -> None:
    before = read(client, commune, path)
    for role in Role:
        if role is Role.ADMIN:
            continue
        r = create(client, commune, path, body, role)
        assert r.status_code == 403, (role, r.json())
        assert r.json()["code"] == "forbidden"
    assert read(client, commune, path) == before


@pytest.mark.parametrize(("path", "body"), WRITES)
def test_directory_without_a_key_is_401(client: TestClient, commune: Commune, path: str,
                                        body: dict[str, Any]) -> None:
    for r in (client.get(path), client.post(path, json=body),
              client.get(path, headers={"Authorization": "Bearer kt_revoked-or-made-up"})):
        assert r.status_code == 401 and r.json()["code"] == "http_401"
        assert r.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize("path", ["/places", "/agencies", "/officials"])
def test_the_hotline_machine_client_cannot_read_the_directory(client: TestClient, commune: Commune,
                                                              path: str) -> None:
    assert client.get(path, headers=commune.headers(Role.HOTLINE)).status_code == 403
    for role in (Role.INTAKE_OPERATOR, Role.AUDITOR, Role.AGENCY_OFFICIAL, Role.ADMIN):
        assert client.get(path, headers=commune.headers(role)).status_code == 200, role

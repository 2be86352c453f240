"""Typed views of a case: the OpenAPI document types every section of `GET /cases/{code}`, and the
access log names exactly the private fields an answer holds with a value.

The expected fields are worked out from the JSON answer and the encrypted columns of the database
(`report.narrative` is the column `narrative` of `report`, encrypted because it is private), not
from the `Private` markers the log is derived from: so a marker missing, misnamed, or a log written
from something other than what was answered, fails here."""

from typing import Any, get_args

import pytest
from fastapi.testclient import TestClient
from pydantic import BaseModel
from sqlmodel import SQLModel

from models import Database
from models.crypto import Encrypted
from models.enums import Role
from states.cases.case_views import (
    WITHHOLDABLE_REPORT_FIELDS,
    CaseView,
    NoteView,
    ReportView,
    Section,
    fields_read,
    private_marker,
)
from states.records.evidence import AttachmentInfo
from tests.api import test_confidentiality as conf
from tests.conftest import Commune, staff_report

# The rich case of test_confidentiality (a marker in every private field) and the health station.
rich = conf.rich
health = conf.health

ENCRYPTED = {c.type.context for t in SQLModel.metadata.tables.values() for c in t.columns
             if isinstance(c.type, Encrypted)}
# The table whose rows each section of the answer shows.
SECTION_TABLE = {"reports": "report", "reporters": "reporter", "emergency_actions": "emergency_action",
                 "emergency_decisions": "emergency_decision", "risk_ratings": "risk_rating",
                 "detailed_assessments": "detailed_assessment", "plans": "plan", "services": "service",
                 "reviews": "review", "consents": "consent", "notes": "note"}
# Rows shown inside an item of a section: (table, key) -> the inner rows' table.
NESTED = {("plan", "measures"): "plan_measure"}
# An answer key that is not its column's name: (table, key) -> column.
COLUMN = {("plan", "measures_text"): "measures"}
# A section that is a column of the case itself (a list of names, not rows): section -> table.
CASE_COLUMNS = {"special_groups": "case_file"}


def empty(value: Any) -> bool:
    if isinstance(value, dict):
        return all(empty(v) for v in value.values())
    if isinstance(value, list):
        return all(empty(v) for v in value)
    return value is None or value == ""


def private_in_answer(body: dict[str, Any]) -> set[str]:
    """The encrypted columns whose value the JSON answer holds (not empty)."""
    items = [("child", body["child"] or {})]
    items += [(SECTION_TABLE[s], item) for s in SECTION_TABLE for item in body[s]]
    items += [(inner, row) for table, item in list(items) for (outer, key), inner in NESTED.items()
              if outer == table for row in item.get(key, [])]
    items += [(table, {section: body[section]}) for section, table in CASE_COLUMNS.items()]
    named = [(f"{table}.{COLUMN.get((table, key), key)}", value) for table, item in items
             for key, value in item.items() if (table, key) not in NESTED]
    return {name for name, value in named if name in ENCRYPTED and not empty(value)}


def private_names(model: type[BaseModel]) -> set[str]:
    """Every access-log name marked on `model` and the models its fields hold."""
    out: set[str] = set()
    for name, info in model.model_fields.items():
        marker = private_marker(model, name)
        out |= {marker.name} if marker else set()
        for inner in view_models(info.annotation):
            out |= private_names(inner)
    return out


def view_models(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in get_args(annotation) for m in view_models(arg)]


def last_read(db: Database) -> dict[str, Any]:
    return conf.events(db, "case.viewed")[-1][1]


def models_in(schema: dict[str, Any], doc: dict[str, Any], seen: set[str]) -> None:
    """Every component schema reachable from `schema`, into `seen` (by name)."""
    if isinstance(schema, dict):
        ref = schema.get("$ref")
        if ref is not None and ref.rsplit("/", 1)[1] not in seen:
            name = ref.rsplit("/", 1)[1]
            seen.add(name)
            models_in(doc["components"]["schemas"][name], doc, seen)
        for value in schema.values():
            models_in(value, doc, seen)
    elif isinstance(schema, list):
        for value in schema:
            models_in(value, doc, seen)


# --- the OpenAPI document --------------------------------------------------------------------


def test_every_section_of_the_case_detail_is_a_typed_model_in_the_openapi(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    schemas = doc["components"]["schemas"]
    ok = doc["paths"]["/cases/{code}"]["get"]["responses"]["200"]["content"]["application/json"]
    assert ok["schema"] == {"$ref": "#/components/schemas/CaseDetail"}
    detail = schemas["CaseDetail"]
    for section in get_args(Section):
        prop = detail["properties"][section]
        assert prop["type"] == "array", section
        if section in CASE_COLUMNS:  # the special-circumstance groups: names
            assert prop["items"]["type"] == "string", section
            continue
        item = schemas[prop["items"]["$ref"].rsplit("/", 1)[1]]
        assert item["type"] == "object" and item["properties"], section
    reachable: set[str] = set()
    models_in(detail, doc, reachable)
    assert {"ReportView", "ReporterView", "PlanView", "NoteView", "ChildView", "ParentView", "MeasureView",
            "EmergencyDecisionView", "RiskRatingView", "DetailedAssessmentView", "ConsentView"} <= reachable
    # No free-form object anywhere in the answer: every object names its fields.
    for name in reachable | {"CaseDetail"}:
        assert "additionalProperties" not in schemas[name], name
        for field, prop in schemas[name]["properties"].items():
            assert prop.get("additionalProperties") is not True, (name, field)
            for variant in prop.get("anyOf", []):
                assert variant.get("additionalProperties") is not True, (name, field)
    # A report's view-dependent fields may be absent (withheld, and then listed); the rest may not.
    report = schemas["ReportView"]
    assert set(report["required"]) == {"id", "channel", "received_at", "recorded_at", "abuse_forms",
                                       "case_type", "withheld"}
    assert set(WITHHOLDABLE_REPORT_FIELDS) == set(report["properties"]) - set(report["required"])
    assert set(get_args(Section)) == set(detail["properties"]["withheld"]["items"]["enum"])


def test_every_encrypted_column_is_marked_private_on_the_view_that_shows_it() -> None:
    """The access-log names are the encrypted columns: a private field added to the database
    and shown without a marker, or a marker naming no column, fails here."""
    assert private_names(CaseView) | private_names(AttachmentInfo) == ENCRYPTED


# --- the access log follows the answer --------------------------------------------------------


@pytest.mark.parametrize("reader", ["head", "worker", "chair", "police", "health"])
def test_fields_logged_are_exactly_the_private_fields_answered(
        client: TestClient, commune: Commune, db: Database, rich: str, health: conf.Health,
        reader: str) -> None:
    headers = {"head": commune.headers(Role.HEAD), "worker": commune.headers(Role.CASE_WORKER),
               "chair": commune.headers(Role.CHAIR), "police": commune.headers(Role.AGENCY_OFFICIAL),
               "health": health.headers}[reader]
    r = conf.read(client, headers, rich)
    assert r.status_code == 200, r.text
    body = r.json()
    logged = last_read(db)
    assert logged["view"] == body["view"]
    assert set(logged["fields"]) == private_in_answer(body)
    assert logged["fields"] == sorted(logged["fields"])
    # A report field the view does not give is absent and named, never null.
    for report in body["reports"]:
        assert set(report["withheld"]) == set(WITHHOLDABLE_REPORT_FIELDS) - set(report)
        assert report["withheld"] == [f for f in WITHHOLDABLE_REPORT_FIELDS if f in report["withheld"]]


def test_the_agencies_are_logged_reading_only_their_part(client: TestClient, commune: Commune,
                                                        db: Database, rich: str, health: conf.Health) -> None:
    conf.read(client, commune.headers(Role.AGENCY_OFFICIAL), rich)
    police = set(last_read(db)["fields"])
    conf.read(client, health.headers, rich)
    tyt = set(last_read(db)["fields"])
    assert police == {"child.full_name", "child.birth_date", "report.narrative", "report.place_detail",
                      "report.actions_taken", "emergency_action.action_taken",
                      "emergency_action.who_was_called", "note.text"}
    assert tyt == {"child.full_name", "child.birth_date", "report.child_condition",
                   "emergency_action.action_taken", "emergency_action.who_was_called", "service.note",
                   "note.text"}


def test_an_empty_private_field_is_not_logged_as_read(client: TestClient, commune: Commune,
                                                      db: Database) -> None:
    """A report without the child's condition, parents, carer…, no reporter address, no plan,
    no note: the head is answered those fields as empty and is not logged reading them."""
    code = conf.open_case(client, commune, staff_report())
    body = conf.read(client, commune.headers(Role.HEAD), code).json()
    [report] = body["reports"]
    assert report["child_condition"] is None and report["parents"] == {} and report["withheld"] == []
    assert body["reporters"][0]["address"] is None and body["plans"] == body["notes"] == []
    assert last_read(db)["fields"] == [
        "child.birth_date", "child.full_name", "report.narrative", "reporter.full_name",
        "reporter.phone", "reporter.relation"]


def test_an_agency_given_an_empty_field_is_not_logged_reading_it(client: TestClient, commune: Commune,
                                                                 db: Database, health: conf.Health) -> None:
    """The health station is given the child's condition, which this report leaves empty: it is
    answered as null (given, nothing recorded), not withheld, and not logged as read."""
    code = conf.open_case(client, commune, staff_report(child={"full_name": "Trẻ Thử Trạm", "sex": "male"}))
    conf.consent(client, commune, code)
    conf.post(client, f"/cases/{code}/referrals", commune.headers(Role.HEAD), {"agency_code": "TYT"}, 201)
    [report] = conf.read(client, health.headers, code).json()["reports"]
    assert report["child_condition"] is None and "child_condition" not in report["withheld"]
    assert "narrative" in report["withheld"] and "narrative" not in report
    assert last_read(db)["fields"] == ["child.full_name"]  # no birth date given either


# --- the walk itself, without a database ------------------------------------------------------


def test_fields_read_skips_withheld_and_empty_values() -> None:
    base = {"id": 1, "channel": "phone", "received_at": "2026-03-02T08:00:00+07:00",
            "recorded_at": "2026-03-02T08:00:00+07:00", "abuse_forms": [], "case_type": None}
    withheld = ReportView.model_validate(base)
    empties = ReportView.model_validate(base | {"narrative": "", "child_condition": None,
                                                "parents": {"father": {}}})
    given = ReportView.model_validate(base | {"narrative": "x", "parents": {"mother": {"age": 30}}})
    assert fields_read(withheld) == fields_read(empties) == []
    assert fields_read(given) == ["report.narrative", "report.parents"]
    assert withheld.withheld == list(WITHHOLDABLE_REPORT_FIELDS)
    assert "narrative" not in withheld.model_dump() and "narrative" not in empties.withheld
    note = NoteView(id=1, author="user:1", text="", written_at="2026-03-02T08:00:00+07:00")  # type: ignore[arg-type]
    assert fields_read(note) == []

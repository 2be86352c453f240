"""The published contract: the OpenAPI document names every route's error responses with the one
error shape (`ErrorBody`), and the answers to broken requests (too large, not JSON) have that shape."""

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from models import AuditEvent, Case, Database, Report
from models.enums import Role
from states.lifecycle.machine import TRIGGERS
from tests.conftest import Commune, staff_report

LIMIT = 256 * 1024
ERROR_REF = {"$ref": "#/components/schemas/ErrorBody"}


@pytest.fixture
def doc(client: TestClient) -> dict[str, Any]:
    r = client.get("/openapi.json")
    assert r.status_code == 200
    return dict(r.json())


def operations(doc: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if path != "/health":
                yield f"{method.upper()} {path}", op


def error_codes(op: dict[str, Any]) -> set[int]:
    return {int(c) for c in op["responses"] if c.isdigit() and int(c) >= 400}


def counts(db: Database) -> tuple[int, ...]:
    with db.read() as s:
        return tuple(s.execute(select(func.count()).select_from(m)).scalar_one()  # type: ignore[arg-type]
                     for m in (Case, Report, AuditEvent))


def assert_error_shape(r: Any, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body = dict(r.json())
    assert body["code"] == code and body["message"] and body["message_en"]
    assert set(body) <= {"code", "message", "message_en", "field", "rule", "errors",
                         "allowed_triggers", "current_version"}
    return body


# --- the document --------------------------------------------------------------------------


def test_every_route_but_health_documents_its_errors_with_the_error_body(doc: dict[str, Any]) -> None:
    ops = dict(operations(doc))
    assert len(ops) >= 20
    for name, op in ops.items():
        assert error_codes(op), f"{name} documents no error response"
        for code in error_codes(op):
            schema = op["responses"][str(code)]["content"]["application/json"]["schema"]
            assert schema == ERROR_REF, f"{name} {code} is documented as {schema}"


def test_no_route_promises_fastapis_default_validation_shape(doc: dict[str, Any]) -> None:
    assert "HTTPValidationError" not in json.dumps(doc)


def test_the_error_body_schema_names_code_messages_field_and_rule(doc: dict[str, Any]) -> None:
    schema = doc["components"]["schemas"]["ErrorBody"]
    assert set(schema["required"]) == {"code", "message", "message_en"}
    assert {"field", "rule", "errors"} <= set(schema["properties"])


def test_routes_behind_a_key_document_401_and_403(doc: dict[str, Any]) -> None:
    keyed = {name: op for name, op in operations(doc) if op.get("security")}
    assert "GET /cases" in keyed and "POST /places" in keyed
    for name, op in keyed.items():
        assert {401, 403} <= error_codes(op), name


def test_routes_that_take_input_document_422_and_bodies_document_413(doc: dict[str, Any]) -> None:
    for name, op in operations(doc):
        if op.get("parameters") or op.get("requestBody"):
            assert 422 in error_codes(op), name
        if op.get("requestBody"):
            assert 413 in error_codes(op), name


def test_every_trigger_route_documents_404_409_and_422(doc: dict[str, Any]) -> None:
    documented = {p.rsplit("/", 1)[1] for p in doc["paths"] if p.startswith("/cases/{code}/transitions/")}
    assert documented == set(TRIGGERS)
    for trigger in TRIGGERS:
        op = doc["paths"][f"/cases/{{code}}/transitions/{trigger}"]["post"]
        assert {404, 409, 422} <= error_codes(op), trigger
        assert op["operationId"] == f"trigger_{trigger}"


def test_intake_documents_its_replay_and_conflict(doc: dict[str, Any]) -> None:
    op = doc["paths"]["/reports"]["post"]
    assert {"200", "201", "409", "413"} <= set(op["responses"])


# --- bodies that are too large -------------------------------------------------------------


def sized(body: dict[str, Any], size: int) -> bytes:
    """`body` as JSON, its narrative padded so the whole is exactly `size` bytes."""
    base = len(json.dumps({**body, "narrative": ""}).encode())
    out = json.dumps({**body, "narrative": "x" * (size - base)}).encode()
    assert len(out) == size
    return out


def test_body_over_the_limit_is_413_with_the_error_shape_and_writes_nothing(
        client: TestClient, commune: Commune, db: Database) -> None:
    before = counts(db)
    r = client.post("/reports", content=sized(staff_report(), LIMIT + 1),
                    headers={**commune.headers(Role.INTAKE_OPERATOR), "content-type": "application/json"})
    assert_error_shape(r, 413, "body_too_large")
    assert counts(db) == before


def test_body_of_exactly_the_limit_passes_to_validation(client: TestClient, commune: Commune) -> None:
    r = client.post("/reports", content=sized(staff_report(), LIMIT),
                    headers={**commune.headers(Role.INTAKE_OPERATOR), "content-type": "application/json"})
    body = assert_error_shape(r, 422, "validation_error")
    assert (body["field"], body["rule"]) == ("narrative", "string_too_long")


def test_the_size_limit_holds_on_every_route(client: TestClient, commune: Commune) -> None:
    big = json.dumps({"code": "BIG", "name": "x" * LIMIT})
    r = client.post("/places", content=big, headers={**commune.headers(Role.ADMIN),
                                                      "content-type": "application/json"})
    assert_error_shape(r, 413, "body_too_large")
    r = client.post("/cases/NH-2026-000001/notes", content=json.dumps({"text": "x" * LIMIT}),
                    headers={**commune.headers(Role.HEAD), "content-type": "application/json"})
    assert_error_shape(r, 413, "body_too_large")


def test_a_chunked_body_over_the_limit_is_413(client: TestClient, commune: Commune) -> None:
    def chunks() -> Iterator[bytes]:
        yield sized(staff_report(), LIMIT + 64 * 1024)

    r = client.post("/reports", content=chunks(),
                    headers={**commune.headers(Role.INTAKE_OPERATOR), "content-type": "application/json"})
    assert "content-length" not in {k.lower() for k in r.request.headers}
    assert r.status_code == 413


# --- bodies that are not JSON --------------------------------------------------------------


MALFORMED = [
    b'{"channel": "phone", ',            # cut short
    b'{"channel": "phone"} trailing',     # garbage after the object
    b"{'channel': 'phone'}",              # not JSON quoting
    b'{"channel": "\xff\xfe"}',           # not UTF-8
    b"[" * 50_000,                        # nested past the parser's depth
]


@pytest.mark.parametrize("raw", MALFORMED, ids=["truncated", "trailing", "quotes", "not-utf8", "deep"])
def test_malformed_json_is_422_naming_the_body_not_500(client: TestClient, commune: Commune,
                                                       db: Database, raw: bytes) -> None:
    before = counts(db)
    for path, role in (("/reports", Role.INTAKE_OPERATOR), ("/places", Role.ADMIN),
                       ("/cases/NH-2026-000001/transitions/assess", Role.CASE_WORKER)):
        r = client.post(path, content=raw,
                        headers={**commune.headers(role), "content-type": "application/json"})
        body = assert_error_shape(r, 422, "validation_error")
        assert (body["field"], body["rule"]) == ("body", "json_invalid"), path
    assert counts(db) == before


@pytest.mark.parametrize("raw", [b'"a string"', b"[1, 2]", b"null", b"42"])
def test_json_that_is_not_an_object_is_422(client: TestClient, commune: Commune, raw: bytes) -> None:
    r = client.post("/reports", content=raw, headers={**commune.headers(Role.INTAKE_OPERATOR),
                                                       "content-type": "application/json"})
    assert assert_error_shape(r, 422, "validation_error")["field"] == "body"


def test_a_body_sent_as_plain_text_is_422(client: TestClient, commune: Commune) -> None:
    r = client.post("/reports", content=json.dumps(staff_report()),
                    headers={**commune.headers(Role.INTAKE_OPERATOR), "content-type": "text/plain"})
    assert_error_shape(r, 422, "validation_error")


def test_unknown_route_and_wrong_method_answer_with_the_error_shape(client: TestClient) -> None:
    assert_error_shape(client.get("/nothing-here"), 404, "http_404")
    assert_error_shape(client.delete("/reports"), 405, "http_405")
